using System.Buffers;
using Raft.Core;

namespace Raft.Transport.Tests;

/// <summary>The hot paths the benchmarks measure allocate nothing (checked here so neither rots).</summary>
public sealed class AllocationTests
{
    private static readonly Message Heartbeat = new() { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 3, Commit = 4, Context = 5 };

    private static readonly Message ChunkResponse = new()
    {
        Type = MessageType.SnapshotChunkResponse, From = 2, To = 1, Term = 3, Index = 40, LogTerm = 2, Offset = 5,
    };

    [Theory]
    [InlineData(MessageType.Heartbeat)]
    [InlineData(MessageType.SnapshotChunkResponse)]
    public void Decoding_a_message_without_payload_allocates_nothing(MessageType type)
    {
        // Each sample carries 5 in one field (a heartbeat's context, a response's offset) and 0 in the other.
        var frame = CodecSupport.Encode(type == MessageType.Heartbeat ? Heartbeat : ChunkResponse);
        var limits = FrameLimits.Default;
        ulong sum = 0;
        for (var i = 0; i < 100; i++)
        {
            sum += DecodeSample(frame, limits);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            sum += DecodeSample(frame, limits);
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
        AssertEncodingAllocatesNothing(message, Heartbeat);
    }

    [Fact]
    public void Encoding_a_snapshot_chunk_and_its_response_allocates_nothing_once_the_writer_has_grown()
    {
        var chunk = new Message
        {
            Type = MessageType.SnapshotChunk, From = 1, To = 2, Term = 3, Index = 40, LogTerm = 2,
            Offset = 0, TotalBytes = 4 << 20, Checksum = 0x1234_5678, Data = new byte[1 << 20],
        };
        AssertEncodingAllocatesNothing(chunk, ChunkResponse);
    }

    // Encodes the messages into one writer, reset between rounds, and checks that rounds after the first few allocate nothing.
    private static void AssertEncodingAllocatesNothing(params Message[] messages)
    {
        using var writer = new PooledBufferWriter(64 * 1024);
        var limits = FrameLimits.Default;
        for (var i = 0; i < 100; i++)
        {
            writer.Reset();
            foreach (var message in messages)
            {
                FrameCodec.Write(writer, message, limits);
            }
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        long total = 0;
        for (var i = 0; i < 1000; i++)
        {
            writer.Reset();
            foreach (var message in messages)
            {
                total += FrameCodec.Write(writer, message, limits);
            }
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(total > 0);
    }

    private static ulong DecodeSample(byte[] frame, in FrameLimits limits)
    {
        var buffer = new ReadOnlySequence<byte>(frame);
        return FrameCodec.TryReadMessage(ref buffer, limits, out var message) ? message.Context + message.Offset : 0;
    }
}
