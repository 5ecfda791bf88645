using System.Buffers;
using Raft.Core;

namespace Raft.Transport.Tests;

/// <summary>The hot paths the benchmarks measure allocate nothing (checked here so neither rots).</summary>
public sealed class AllocationTests
{
    [Fact]
    public void Decoding_a_heartbeat_allocates_nothing()
    {
        var frame = CodecSupport.Encode(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 3, Commit = 4, Context = 5 });
        var limits = FrameLimits.Default;
        ulong sum = 0;
        for (var i = 0; i < 100; i++)
        {
            sum += DecodeContext(frame, limits);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            sum += DecodeContext(frame, limits);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(1100ul * 5, sum);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(256)]
    public void Encoding_an_append_allocates_nothing_in_steady_state(int entryCount)
    {
        var entries = Enumerable.Range(1, entryCount).Select(i => new Entry(2, (ulong)(10 + i), EntryType.Command, new byte[100])).ToArray();
        var message = new Message { Type = MessageType.Append, From = 1, To = 2, Term = 2, Index = 10, LogTerm = 2, Commit = 9, Entries = entries };
        var heartbeat = new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 3, Commit = 4, Context = 5 };
        using var writer = new PooledBufferWriter(64 * 1024);
        var limits = FrameLimits.Default;
        for (var i = 0; i < 100; i++)
        {
            writer.Reset();
            FrameCodec.Write(writer, message, limits);
            FrameCodec.Write(writer, heartbeat, limits);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var total = 0;
        for (var i = 0; i < 1000; i++)
        {
            writer.Reset();
            total += FrameCodec.Write(writer, message, limits);
            total += FrameCodec.Write(writer, heartbeat, limits);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(total > 0);
    }

    private static ulong DecodeContext(byte[] frame, in FrameLimits limits)
    {
        var buffer = new ReadOnlySequence<byte>(frame);
        return FrameCodec.TryReadMessage(ref buffer, limits, out var message) ? message.Context : 0;
    }
}
