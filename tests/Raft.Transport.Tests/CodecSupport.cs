using System.Buffers;
using Raft.Core;

namespace Raft.Transport.Tests;

internal static class CodecSupport
{
    public static byte[] Encode(in Message message, FrameLimits? limits = null)
    {
        using var writer = new PooledBufferWriter(256);
        FrameCodec.Write(writer, message, limits ?? FrameLimits.Default);
        return writer.WrittenSpan.ToArray();
    }

    public static Message DecodeOne(byte[] frame)
    {
        var buffer = new ReadOnlySequence<byte>(frame);
        Assert.True(FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out var message));
        Assert.True(buffer.IsEmpty);
        return message;
    }

    /// <summary>The same bytes as a sequence of many small segments, as a socket may deliver them.</summary>
    public static ReadOnlySequence<byte> Fragment(byte[] bytes, int segmentBytes)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        Segment? first = null;
        Segment? last = null;
        for (var offset = 0; offset < bytes.Length; offset += segmentBytes)
        {
            var chunk = bytes.AsMemory(offset, Math.Min(segmentBytes, bytes.Length - offset));
            last = last is null ? (first = new Segment(chunk, 0)) : last.Append(chunk);
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    public static byte[] Payload(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
