using System.Buffers;
using System.Buffers.Binary;
using Raft.Core;
using static Raft.Transport.Tests.CodecSupport;

namespace Raft.Transport.Tests;

/// <summary>Hostile input: whatever arrives, the decoder either waits for more, or throws <see cref="FrameFormatException"/>.</summary>
public sealed class FrameCodecPropertyTests
{
    private const int Seed = 20_260_122;

    [Fact]
    public void Random_bytes_never_crash_the_decoder_and_never_yield_a_message()
    {
        var random = new Random(Seed);
        for (var trial = 0; trial < 20_000; trial++)
        {
            var bytes = new byte[random.Next(0, 256)];
            random.NextBytes(bytes);

            // Half the trials start with a valid magic and version so the checks behind them are reached too.
            if (trial % 2 == 0 && bytes.Length >= 5)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, FrameCodec.Magic);
                bytes[4] = FrameCodec.Version;
            }

            Assert.False(TryDecode(bytes, random.Next(1, 40), out _), $"trial {trial} (seed {Seed}) decoded random bytes");
        }
    }

    [Fact]
    public void Random_bodies_under_a_valid_header_and_crc_only_ever_fail_as_frame_errors()
    {
        // The CRC is right, so these reach the body parser: it must bound-check every length it reads.
        var random = new Random(Seed + 1);
        for (var trial = 0; trial < 20_000; trial++)
        {
            var type = (byte)random.Next(1, 15);
            var body = new byte[random.Next(0, 200)];
            random.NextBytes(body);
            if (body.Length >= 48 && random.Next(2) == 0)
            {
                // Plausible entry counts and lengths, so parsing gets past the first check more often.
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(40), (uint)random.Next(0, 4));
            }

            if (type == (byte)MessageType.SnapshotChunk && body.Length >= FrameCodec.SnapshotChunkFixedBodyBytes && random.Next(2) == 0)
            {
                // A chunk length that matches the body, and a small offset and total that may or may not hold it.
                BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(32), (ulong)random.Next(0, 100));
                BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(40), (ulong)random.Next(0, 300));
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(52), (uint)(body.Length - FrameCodec.SnapshotChunkFixedBodyBytes));
            }

            var frame = FrameWithValidCrc(type, flags: 0, body);
            TryDecode(frame, random.Next(1, 40), out _);
        }
    }

    [Fact]
    public void Every_truncation_and_every_single_bit_flip_of_valid_frames_yields_no_message()
    {
        var random = new Random(Seed + 2);
        Message[] messages =
        [
            new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 3, Commit = 4, Context = 5 },
            new Message { Type = MessageType.AppendResponse, From = 2, To = 1, Term = 3, Reject = true, Index = 9, RejectHint = 4, LogTerm = 2 },
            new Message
            {
                Type = MessageType.Append, From = 1, To = 2, Term = 3, Index = 10, LogTerm = 2, Commit = 9,
                Entries = new[] { new Entry(3, 11, EntryType.Command, Payload(40, 5)), new Entry(3, 12, EntryType.NoOp, default) },
            },
            new Message
            {
                Type = MessageType.SnapshotChunk, From = 1, To = 2, Term = 3, Index = 8, LogTerm = 2,
                Offset = 60, TotalBytes = 100, Checksum = 0xA5A5_5A5A, Data = Payload(30, 7),
            },
            new Message { Type = MessageType.SnapshotChunkResponse, From = 2, To = 1, Term = 3, Index = 8, LogTerm = 2, Offset = 90, Reject = true },
        ];

        foreach (var message in messages)
        {
            var frame = Encode(message);
            Assert.True(TryDecode(frame, random.Next(1, 20), out _), $"the undamaged {message.Type} frame must decode");
            for (var length = 0; length < frame.Length; length++)
            {
                Assert.False(TryDecode(frame[..length], random.Next(1, 20), out _));
            }

            for (var bit = 0; bit < frame.Length * 8; bit++)
            {
                var damaged = (byte[])frame.Clone();
                damaged[bit / 8] ^= (byte)(1 << (bit % 8));
                Assert.False(TryDecode(damaged, random.Next(1, 20), out _), $"{message.Type}: flipping bit {bit} went unnoticed");
            }
        }
    }

    // True only when a whole message was decoded; a FrameFormatException counts as "no message".
    private static bool TryDecode(byte[] bytes, int segmentBytes, out Message message)
    {
        var buffer = Fragment(bytes, segmentBytes);
        try
        {
            return FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out message);
        }
        catch (FrameFormatException)
        {
            message = default;
            return false;
        }
    }
}
