using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Raft.Core;
using Raft.Fuzzing;
using Xunit.Abstractions;
using static Raft.Transport.Tests.CodecSupport;

namespace Raft.Transport.Tests;

/// <summary>
/// Fuzzing the peer frame decoder from valid frames of every type: a frame either decodes to a message that
/// re-encodes to the very same bytes, or waits for more, or is refused with <see cref="FrameFormatException"/>; the
/// same answer whether the bytes arrive in one piece or in many. Replay and longer campaigns: see Raft.Fuzzing's Fuzz.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class FrameCodecFuzzTests(ITestOutputHelper output)
{
    internal const int CiCases = 40_000;

    // Small enough that boundary lengths and counts cross them, large enough for every sample.
    internal static readonly FrameLimits Limits = new(FrameBytesMax: 16 * 1024, EntriesPerFrameMax: 16);

    private static readonly MessageType[] WireTypes = [.. Enum.GetValues<MessageType>().Where(type => type != MessageType.InstallSnapshot)];

    [Fact]
    public void Message_frames_decode_to_what_re_encodes_to_them_or_are_refused_as_frame_errors()
    {
        var report = Fuzz.Run(new FuzzTarget
        {
            Name = "peer frame decoder",
            Generate = random => MessageSample(random, from: random.Next(-2, 8), to: random.Next(-2, 8)),
            Reseal = ResealFirstFrame,
            Check = CheckMessages,
        }, seed: 14_001, CiCases);
        output.WriteLine(report.ToString());
    }

    [Fact]
    public void Handshake_frames_decode_to_what_re_encodes_to_them_or_are_refused_as_frame_errors()
    {
        var report = Fuzz.Run(new FuzzTarget
        {
            Name = "peer handshake decoder",
            Generate = random => HelloSample(random, random.Next(-1, 10), clusterId: null),
            Reseal = ResealFirstFrame,
            Check = CheckHello,
        }, seed: 14_002, CiCases / 4);
        output.WriteLine(report.ToString());
    }

    /// <summary>A valid frame of a random type and fields, with the positions of its lengths and counts.</summary>
    internal static FuzzSample MessageSample(Random random, int from, int to)
    {
        var type = WireTypes[random.Next(WireTypes.Length)];
        var message = new Message
        {
            Type = type,
            Flags = (MessageFlags)random.Next(4),
            From = from,
            To = to,
            Term = Number(random),
            LogTerm = Number(random),
            Index = Number(random) % (ulong.MaxValue - 64),
            Commit = Number(random),
            Reject = random.Next(2) == 0,
            RejectHint = Number(random),
            Context = Number(random),
        };
        if (type == MessageType.Append)
        {
            var entries = new Entry[random.Next(Limits.EntriesPerFrameMax / 2)];
            for (var i = 0; i < entries.Length; i++)
            {
                entries[i] = new Entry(Number(random), message.Index + 1 + (ulong)i, (EntryType)random.Next(3), Bytes(random, random.Next(0, 200)));
            }

            message.Entries = entries;
        }
        else if (type == MessageType.SnapshotChunk)
        {
            var data = Bytes(random, random.Next(1, 300));
            message.TotalBytes = (ulong)data.Length + (ulong)random.Next(0, 1000);
            message.Offset = (ulong)random.NextInt64((long)(message.TotalBytes - (ulong)data.Length) + 1);
            message.Checksum = (uint)random.NextInt64(uint.MaxValue);
            message.Data = data;
        }

        var sample = new FuzzSample(Encode(message, Limits)).Field(8, 4);
        var body = FrameCodec.HeaderBytes;
        if (type == MessageType.Append)
        {
            sample.Field(body + FrameCodec.AppendFixedBodyBytes - 4, 4);
            var entry = body + FrameCodec.AppendFixedBodyBytes;
            foreach (var e in message.Entries.Span)
            {
                sample.Field(entry + 8, 8).Field(entry + 17, 4);
                entry += FrameCodec.EntryHeaderBytes + e.Data.Length;
            }
        }
        else if (type == MessageType.SnapshotChunk)
        {
            sample.Field(body + 32, 8).Field(body + 40, 8).Field(body + 52, 4);
        }

        return sample;
    }

    /// <summary>A valid handshake of <paramref name="nodeId"/>, in <paramref name="clusterId"/> or in a random cluster (then with a nonce half the time).</summary>
    internal static FuzzSample HelloSample(Random random, int nodeId, string? clusterId)
    {
        var text = new StringBuilder(clusterId);
        for (var length = clusterId is null ? random.Next(1, 40) : 0; length > 0; length--)
        {
            text.Append(random.Next(4) == 0 ? (char)random.Next(0x80, 0x3000) : (char)random.Next('a', 'z' + 1));
        }

        var utf8 = Encoding.UTF8.GetBytes(text.ToString());
        using var writer = new PooledBufferWriter(512);
        // Half the random-cluster samples carry the nonce of a node that proves a cluster secret.
        var nonce = clusterId is null && random.Next(2) == 0 ? new byte[FrameCodec.NonceBytes] : [];
        random.NextBytes(nonce);
        FrameCodec.WriteHello(writer, nodeId, utf8.AsSpan(0, Math.Min(utf8.Length, FrameCodec.ClusterIdBytesMax)), nonce);
        return new FuzzSample(writer.WrittenSpan.ToArray()).Field(8, 4).Field(FrameCodec.HeaderBytes + 4, 1);
    }

    /// <summary>
    /// Makes the first frame's CRC (and a body length that runs past the input) match what the input holds, so that
    /// the checks behind the CRC see the damage.
    /// </summary>
    internal static byte[] ResealFirstFrame(byte[] input)
    {
        if (input.Length < FrameCodec.HeaderBytes)
        {
            return input;
        }

        var available = (uint)(input.Length - FrameCodec.HeaderBytes);
        var declared = BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(8));
        if (declared > available)
        {
            declared = available;
            BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(8), declared);
        }

        var crc = Crc32C.Append(Crc32C.Seed, input.AsSpan(0, 12));
        crc = Crc32C.Finish(Crc32C.Append(crc, input.AsSpan(FrameCodec.HeaderBytes, (int)declared)));
        BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(12), crc);
        return input;
    }

    /// <summary>
    /// Decodes every frame in <paramref name="input"/>, contiguous and in fragments, and checks both agree and that
    /// every message decoded re-encodes to its frame.
    /// </summary>
    internal static Verdict CheckMessages(byte[] input)
    {
        var whole = DecodeAll(new ReadOnlySequence<byte>(input), input);
        var fragments = DecodeAll(Fragment(input, 1 + (int)(Crc32C.Compute(input) % 23)), input);
        if (whole.Messages != fragments.Messages || whole.Error != fragments.Error)
        {
            throw new InvalidOperationException(
                $"contiguous: {whole.Messages} messages, error '{whole.Error}'; in fragments: {fragments.Messages} messages, error '{fragments.Error}'");
        }

        return whole.Error is null && whole.Messages > 0 ? Verdict.Accepted : Verdict.Refused;
    }

    private static (int Messages, string? Error) DecodeAll(ReadOnlySequence<byte> buffer, byte[] input)
    {
        var messages = 0;
        var position = 0;
        try
        {
            while (FrameCodec.TryReadMessage(ref buffer, Limits, out var message))
            {
                var end = input.Length - (int)buffer.Length;
                var frame = input.AsSpan(position, end - position);
                position = end;
                if (!frame.SequenceEqual(Encode(message, Limits)))
                {
                    throw new InvalidOperationException($"message {messages} ({message.Type}) re-encodes to other bytes than its frame");
                }

                messages++;
            }

            return (messages, null);
        }
        catch (FrameFormatException e)
        {
            return (messages, e.Message);
        }
    }

    private static Verdict CheckHello(byte[] input)
    {
        var buffer = new ReadOnlySequence<byte>(input);
        int nodeId;
        string clusterId;
        byte[]? nonce;
        try
        {
            if (!FrameCodec.TryReadHello(ref buffer, out nodeId, out clusterId, out nonce))
            {
                return Verdict.Refused;
            }
        }
        catch (FrameFormatException)
        {
            return Verdict.Refused;
        }

        using var writer = new PooledBufferWriter(512);
        var written = FrameCodec.WriteHello(writer, nodeId, Encoding.UTF8.GetBytes(clusterId), nonce);
        if (!input.AsSpan(0, written).SequenceEqual(writer.WrittenSpan) || buffer.Length != input.Length - written)
        {
            throw new InvalidOperationException("the handshake re-encodes to other bytes than its frame");
        }

        return Verdict.Accepted;
    }

    private static ulong Number(Random random) => random.Next(4) switch
    {
        0 => (ulong)random.Next(0, 3),
        1 => ulong.MaxValue - (ulong)random.Next(0, 3),
        _ => (ulong)random.NextInt64(1, 1_000_000),
    };

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
