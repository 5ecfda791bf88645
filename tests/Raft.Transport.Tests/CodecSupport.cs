using System.Buffers;
using System.Buffers.Binary;
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

    /// <summary>A frame around <paramref name="body"/> with a valid header and CRC, so the body parser is reached.</summary>
    public static byte[] FrameWithValidCrc(byte type, byte flags, byte[] body)
    {
        var frame = new byte[FrameCodec.HeaderBytes + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, FrameCodec.Magic);
        frame[4] = FrameCodec.Version;
        frame[5] = type;
        frame[6] = flags;
        body.CopyTo(frame.AsSpan(FrameCodec.HeaderBytes));
        return Reseal(frame);
    }

    /// <summary>
    /// Rewrites the body length and CRC of an edited frame to match what it now holds, so that only the checks
    /// behind them can refuse it.
    /// </summary>
    public static byte[] Reseal(byte[] frame)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), (uint)(frame.Length - FrameCodec.HeaderBytes));
        var crc = Crc32C.Append(Crc32C.Seed, frame.AsSpan(0, 12));
        crc = Crc32C.Finish(Crc32C.Append(crc, frame.AsSpan(FrameCodec.HeaderBytes)));
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(12), crc);
        return frame;
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
