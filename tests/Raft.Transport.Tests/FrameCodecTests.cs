using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Raft.Core;
using static Raft.Transport.Tests.CodecSupport;

namespace Raft.Transport.Tests;

public sealed class FrameCodecTests
{
    private static readonly Membership ThreeVoters = Membership.Create([1, 2, 3], [4]);

    public static TheoryData<string> MessageNames => [.. Samples().Keys];

    /// <summary>One message of every type, with every field that type carries set to something non-zero.</summary>
    private static Dictionary<string, Message> Samples() => new()
    {
        ["PreVote"] = new Message { Type = MessageType.PreVote, From = 1, To = 2, Term = 7, LogTerm = 6, Index = 99, Flags = MessageFlags.LeaderUnreachable },
        ["PreVoteResponse"] = new Message { Type = MessageType.PreVoteResponse, From = 2, To = 1, Term = 7, Reject = true },
        ["Vote"] = new Message { Type = MessageType.Vote, From = 1, To = 3, Term = 8, LogTerm = 6, Index = 99, Flags = MessageFlags.Transfer },
        ["VoteResponse"] = new Message { Type = MessageType.VoteResponse, From = 3, To = 1, Term = 8 },
        ["Append (empty)"] = new Message { Type = MessageType.Append, From = 1, To = 2, Term = 9, LogTerm = 8, Index = 120, Commit = 118 },
        ["Append (entries)"] = new Message
        {
            Type = MessageType.Append, From = 1, To = 2, Term = 9, LogTerm = 8, Index = 120, Commit = 118,
            Entries = new[]
            {
                new Entry(9, 121, EntryType.NoOp, default),
                new Entry(9, 122, EntryType.Command, Payload(100, 1)),
                new Entry(9, 123, EntryType.Membership, ThreeVoters.ToBytes()),
                new Entry(9, 124, EntryType.Command, Payload(5000, 2)),
            },
        },
        ["AppendResponse"] = new Message { Type = MessageType.AppendResponse, From = 2, To = 1, Term = 9, Index = 124 },
        ["AppendResponse (reject)"] = new Message { Type = MessageType.AppendResponse, From = 2, To = 1, Term = 9, Reject = true, Index = 120, RejectHint = 110, LogTerm = 5 },
        ["Heartbeat"] = new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 9, Commit = 124, Context = 4242 },
        ["HeartbeatResponse"] = new Message { Type = MessageType.HeartbeatResponse, From = 2, To = 1, Term = 9, Context = 4242, Index = 123 },
        ["TimeoutNow"] = new Message { Type = MessageType.TimeoutNow, From = 1, To = 2, Term = 9 },
        ["ReadIndex"] = new Message { Type = MessageType.ReadIndex, From = 2, To = 1, Term = 9, Context = 77 },
        ["ReadIndexResponse"] = new Message { Type = MessageType.ReadIndexResponse, From = 1, To = 2, Term = 9, Index = 124, Context = 77 },
        ["ReadIndexResponse (reject)"] = new Message { Type = MessageType.ReadIndexResponse, From = 1, To = 2, Term = 9, Reject = true, Context = 78 },
        ["SnapshotChunk"] = new Message
        {
            Type = MessageType.SnapshotChunk, From = 1, To = 3, Term = 9, Index = 500, LogTerm = 8,
            Offset = 196_608, TotalBytes = 1_000_003, Checksum = 0xC0FF_EE42, Data = Payload(70_000, 4),
        },
        ["SnapshotChunk (last byte)"] = new Message
        {
            Type = MessageType.SnapshotChunk, From = 1, To = 3, Term = 9, Index = 500, LogTerm = 8,
            Offset = 1_000_002, TotalBytes = 1_000_003, Checksum = 0x0BAD_F00D, Data = new byte[] { 0xAB },
        },
        ["SnapshotChunkResponse"] = new Message { Type = MessageType.SnapshotChunkResponse, From = 3, To = 1, Term = 9, Index = 500, LogTerm = 8, Offset = 266_608 },
        ["SnapshotChunkResponse (reject)"] = new Message { Type = MessageType.SnapshotChunkResponse, From = 3, To = 1, Term = 9, Index = 500, LogTerm = 8, Offset = 131_072, Reject = true },
    };

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void Every_message_type_round_trips(string name)
    {
        var sent = Samples()[name];
        var frame = Encode(sent);
        Assert.True(FrameCodec.TryGetFrameBytes(sent, FrameLimits.Default, out var predicted));
        Assert.Equal(predicted, frame.Length);

        AssertSame(sent, DecodeOne(frame));
    }

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void Every_message_type_round_trips_from_a_fragmented_buffer(string name)
    {
        var sent = Samples()[name];
        var frame = Encode(sent);
        foreach (var segmentBytes in new[] { 1, 3, 16, 17, 1000 })
        {
            var buffer = Fragment(frame, segmentBytes);
            Assert.True(FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out var received));
            Assert.True(buffer.IsEmpty);
            AssertSame(sent, received);
        }
    }

    [Fact]
    public void Frames_back_to_back_decode_one_at_a_time()
    {
        var samples = Samples().Values.ToArray();
        var stream = samples.SelectMany(m => Encode(m)).ToArray();
        var buffer = Fragment(stream, 7);
        foreach (var sent in samples)
        {
            Assert.True(FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out var received));
            AssertSame(sent, received);
        }

        Assert.True(buffer.IsEmpty);
        Assert.False(FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out _));
    }

    [Fact]
    public void Wire_sizes_are_pinned()
    {
        Assert.Equal(16, FrameCodec.HeaderBytes);
        Assert.Equal(48, FrameCodec.HeartbeatFrameBytes);
        Assert.Equal(48, Encode(Samples()["Heartbeat"]).Length);
        Assert.Equal(16 + 32, Encode(Samples()["Vote"]).Length);
        Assert.Equal(16 + 17, Encode(Samples()["VoteResponse"]).Length);
        Assert.Equal(16 + 41, Encode(Samples()["AppendResponse"]).Length);
        Assert.Equal(16 + 16, Encode(Samples()["TimeoutNow"]).Length);
        Assert.Equal(16 + 44, Encode(Samples()["Append (empty)"]).Length);

        // An Append of one 100-byte entry: header, fixed body, entry header, payload.
        var one = new Message { Type = MessageType.Append, From = 1, To = 2, Term = 1, Entries = new[] { new Entry(1, 1, EntryType.Command, new byte[100]) } };
        Assert.Equal(16 + 44 + 21 + 100, Encode(one).Length);

        Assert.Equal(56, FrameCodec.SnapshotChunkFixedBodyBytes);
        Assert.Equal(16 + 56 + 70_000, Encode(Samples()["SnapshotChunk"]).Length);
        Assert.Equal(16 + 56 + 1, Encode(Samples()["SnapshotChunk (last byte)"]).Length);
        Assert.Equal(16 + 41, Encode(Samples()["SnapshotChunkResponse"]).Length);
    }

    [Fact]
    public void A_heartbeat_has_this_exact_byte_layout()
    {
        var frame = Encode(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 3, Commit = 4, Context = 5 });
        Assert.Equal("RAFT"u8.ToArray(), frame[..4]);
        Assert.Equal(2, frame[4]); // version
        Assert.Equal((byte)MessageType.Heartbeat, frame[5]);
        Assert.Equal(0, frame[6]); // flags
        Assert.Equal(0, frame[7]);
        Assert.Equal(32u, BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(8)));
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(16)));
        Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(20)));
        Assert.Equal(3ul, BinaryPrimitives.ReadUInt64LittleEndian(frame.AsSpan(24)));
        Assert.Equal(4ul, BinaryPrimitives.ReadUInt64LittleEndian(frame.AsSpan(32)));
        Assert.Equal(5ul, BinaryPrimitives.ReadUInt64LittleEndian(frame.AsSpan(40)));
    }

    [Fact]
    public void A_snapshot_chunk_and_its_response_have_this_exact_byte_layout()
    {
        var chunk = Encode(new Message
        {
            Type = MessageType.SnapshotChunk, From = 1, To = 2, Term = 3, Index = 4, LogTerm = 5,
            Offset = 6, TotalBytes = 10, Checksum = 7, Data = new byte[] { 8, 9 },
        });
        Assert.Equal((byte)MessageType.SnapshotChunk, chunk[5]);
        Assert.Equal(58u, BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(8)));
        Assert.Equal(3ul, BinaryPrimitives.ReadUInt64LittleEndian(chunk.AsSpan(24)));
        Assert.Equal(4ul, BinaryPrimitives.ReadUInt64LittleEndian(chunk.AsSpan(32)));
        Assert.Equal(5ul, BinaryPrimitives.ReadUInt64LittleEndian(chunk.AsSpan(40)));
        Assert.Equal(6ul, BinaryPrimitives.ReadUInt64LittleEndian(chunk.AsSpan(48)));
        Assert.Equal(10ul, BinaryPrimitives.ReadUInt64LittleEndian(chunk.AsSpan(56)));
        Assert.Equal(7u, BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(64)));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(68)));
        Assert.Equal(new byte[] { 8, 9 }, chunk[72..]);

        var response = Encode(new Message { Type = MessageType.SnapshotChunkResponse, From = 2, To = 1, Term = 3, Index = 4, LogTerm = 5, Offset = 6, Reject = true });
        Assert.Equal((byte)MessageType.SnapshotChunkResponse, response[5]);
        Assert.Equal(41u, BinaryPrimitives.ReadUInt32LittleEndian(response.AsSpan(8)));
        Assert.Equal(4ul, BinaryPrimitives.ReadUInt64LittleEndian(response.AsSpan(32)));
        Assert.Equal(5ul, BinaryPrimitives.ReadUInt64LittleEndian(response.AsSpan(40)));
        Assert.Equal(6ul, BinaryPrimitives.ReadUInt64LittleEndian(response.AsSpan(48)));
        Assert.Equal(1, response[56]);
        Assert.Equal(57, response.Length);
    }

    [Theory]
    [InlineData("SnapshotChunk", 0)]
    [InlineData("SnapshotChunk", 4096)]
    [InlineData("SnapshotChunk (last byte)", 0)]
    [InlineData("SnapshotChunk (last byte)", 3)]
    public void Chunk_data_is_a_slice_of_the_one_copy_of_its_body(string name, int segmentBytes)
    {
        var sent = Samples()[name];
        var frame = Encode(sent);
        var buffer = segmentBytes == 0 ? new ReadOnlySequence<byte>(frame) : Fragment(frame, segmentBytes);
        Assert.True(FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out var received));

        // However small the chunk, its data lies in an array of exactly its body, after the fixed fields.
        Assert.True(MemoryMarshal.TryGetArray(received.Data, out var segment));
        Assert.Equal(FrameCodec.SnapshotChunkFixedBodyBytes, segment.Offset);
        Assert.Equal(frame.Length - FrameCodec.HeaderBytes, segment.Array!.Length);

        Array.Clear(frame);
        AssertSame(sent, received);
    }

    [Theory]
    [InlineData("zero length", "an empty snapshot chunk")]
    [InlineData("offset + length past the total", "past the end of its 266607-byte stream")]
    [InlineData("offset past the total", "past the end of its 1000003-byte stream")]
    [InlineData("offset + length wraps around", "past the end of its 1000003-byte stream")]
    [InlineData("length over the body", "70001 bytes in a 70000-byte remainder")]
    [InlineData("length under the body", "69999 bytes in a 70000-byte remainder")]
    [InlineData("trailing byte", "70000 bytes in a 70001-byte remainder")]
    [InlineData("truncated data", "70000 bytes in a 69999-byte remainder")]
    [InlineData("truncated fixed fields", "a SnapshotChunk body of 55 bytes")]
    public void A_malformed_snapshot_chunk_is_refused(string variant, string problem)
    {
        // 70 000 bytes at 196 608 of a 1 000 003-byte stream; each variant breaks one rule and reseals the frame.
        var frame = Encode(Samples()["SnapshotChunk"]);
        const int OffsetAt = FrameCodec.HeaderBytes + 32;
        const int TotalBytesAt = FrameCodec.HeaderBytes + 40;
        const int LengthAt = FrameCodec.HeaderBytes + 52;
        frame = variant switch
        {
            "zero length" => WithUInt32(frame[..(FrameCodec.HeaderBytes + 56)], LengthAt, 0),
            "offset + length past the total" => WithUInt64(frame, TotalBytesAt, 196_608 + 70_000 - 1),
            "offset past the total" => WithUInt64(frame, OffsetAt, 1_000_004),
            "offset + length wraps around" => WithUInt64(frame, OffsetAt, ulong.MaxValue - 9),
            "length over the body" => WithUInt32(frame, LengthAt, 70_001),
            "length under the body" => WithUInt32(frame, LengthAt, 69_999),
            "trailing byte" => [.. frame, 0],
            "truncated data" => frame[..^1],
            "truncated fixed fields" => frame[..(FrameCodec.HeaderBytes + 55)],
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };

        AssertRefused(Reseal(frame), problem);
    }

    [Fact]
    public void InstallSnapshot_never_crosses_the_wire()
    {
        // The driver streams snapshots as chunks; a whole snapshot in one frame is what version 1 sent.
        var install = new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 3, Snapshot = new SnapshotMetadata(8, 2, ThreeVoters) };
        Assert.Throws<ArgumentException>(() => Encode(install));

        var frame = Encode(Samples()["TimeoutNow"]);
        frame[5] = (byte)MessageType.InstallSnapshot;
        AssertRefused(Reseal(frame), "unknown frame type 9");
    }

    [Fact]
    public void A_frame_of_version_1_is_refused()
    {
        var frame = Encode(Samples()["Heartbeat"]);
        frame[4] = 1;
        AssertRefused(Reseal(frame), "version");
    }

    [Theory]
    [InlineData("reject byte 2", "a flag byte of 2")]
    [InlineData("trailing byte", "a SnapshotChunkResponse body of 42 bytes")]
    [InlineData("truncated", "a SnapshotChunkResponse body of 40 bytes")]
    public void A_malformed_snapshot_chunk_response_is_refused(string variant, string problem)
    {
        var frame = Encode(Samples()["SnapshotChunkResponse (reject)"]);
        frame = variant switch
        {
            "reject byte 2" => WithByte(frame, FrameCodec.HeaderBytes + 40, 2),
            "trailing byte" => [.. frame, 0],
            "truncated" => frame[..^1],
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };

        AssertRefused(Reseal(frame), problem);
        if (variant != "reject byte 2")
        {
            // A fixed-size type of the wrong size is refused from its header, before its body is awaited.
            AssertRefused(frame[..FrameCodec.HeaderBytes], problem);
        }
    }

    [Fact]
    public void A_chunk_the_decoder_would_refuse_is_not_encoded()
    {
        var chunk = Samples()["SnapshotChunk"];
        Message[] broken =
        [
            chunk with { Data = ReadOnlyMemory<byte>.Empty },
            chunk with { TotalBytes = chunk.Offset + (ulong)chunk.Data.Length - 1 },
            chunk with { Offset = ulong.MaxValue - 9 },
        ];
        foreach (var message in broken)
        {
            Assert.Throws<ArgumentException>(() => FrameCodec.TryGetFrameBytes(message, FrameLimits.Default, out _));
            Assert.Throws<ArgumentException>(() => Encode(message));
        }
    }

    [Fact]
    public void A_chunk_fills_a_frame_up_to_the_limit_and_no_further()
    {
        var limits = new FrameLimits(FrameBytesMax: 4096, EntriesPerFrameMax: 16);
        var fits = new Message { Type = MessageType.SnapshotChunk, From = 1, To = 2, Term = 1, Index = 5, LogTerm = 1, TotalBytes = 10_000, Data = new byte[4096 - 16 - 56] };
        Assert.True(FrameCodec.TryGetFrameBytes(fits, limits, out var frameBytes));
        Assert.Equal(4096, frameBytes);
        var buffer = new ReadOnlySequence<byte>(Encode(fits, limits));
        Assert.True(FrameCodec.TryReadMessage(ref buffer, limits, out var received));
        Assert.Equal(fits.Data.Length, received.Data.Length);

        var over = fits with { Data = new byte[fits.Data.Length + 1] };
        Assert.False(FrameCodec.TryGetFrameBytes(over, limits, out _));
        AssertRefused(Encode(over)[..FrameCodec.HeaderBytes], "limit", limits);
    }

    [Fact]
    public void Entry_payloads_are_slices_of_one_array_the_message_owns()
    {
        var sent = Samples()["Append (entries)"];
        var frame = Encode(sent);
        var received = DecodeOne(frame);

        byte[]? owner = null;
        foreach (var entry in received.Entries.Span)
        {
            if (entry.Data.IsEmpty)
            {
                continue;
            }

            Assert.True(MemoryMarshal.TryGetArray(entry.Data, out var segment));
            owner ??= segment.Array;
            Assert.Same(owner, segment.Array);
        }

        // Overwriting the receive buffer (as a pipe reuses its memory) does not touch the decoded entries.
        Array.Clear(frame);
        AssertSame(sent, received);
    }

    [Fact]
    public void A_frame_is_not_read_until_it_is_complete()
    {
        foreach (var sent in Samples().Values)
        {
            var frame = Encode(sent);
            for (var length = 0; length < frame.Length; length++)
            {
                var buffer = new ReadOnlySequence<byte>(frame, 0, length);
                Assert.False(FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out _));
                Assert.Equal(length, buffer.Length);
            }
        }
    }

    [Fact]
    public void An_oversized_frame_is_refused_from_its_header()
    {
        var limits = new FrameLimits(FrameBytesMax: 4096, EntriesPerFrameMax: 16);
        var big = new Message { Type = MessageType.Append, From = 1, To = 2, Term = 1, Entries = new[] { new Entry(1, 1, EntryType.Command, new byte[5000]) } };
        Assert.False(FrameCodec.TryGetFrameBytes(big, limits, out _));

        // Only the header has arrived, and that is enough to refuse it.
        var header = Encode(big)[..FrameCodec.HeaderBytes];
        var buffer = new ReadOnlySequence<byte>(header);
        var error = Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadMessage(ref buffer, limits, out _));
        Assert.Contains("limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_entries_are_refused()
    {
        var entries = Enumerable.Range(1, 20).Select(i => new Entry(1, (ulong)i, EntryType.NoOp, default)).ToArray();
        var message = new Message { Type = MessageType.Append, From = 1, To = 2, Term = 1, Entries = entries };
        var strict = new FrameLimits(FrameLimits.DefaultFrameBytesMax, EntriesPerFrameMax: 16);
        Assert.False(FrameCodec.TryGetFrameBytes(message, strict, out _));

        var buffer = new ReadOnlySequence<byte>(Encode(message));
        Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadMessage(ref buffer, strict, out _));
    }

    [Theory]
    [InlineData(0, "bad magic")]
    [InlineData(4, "version")]
    [InlineData(5, "type")]
    [InlineData(6, "flags")]
    [InlineData(7, "reserved")]
    public void A_bad_header_byte_is_named(int offset, string problem)
    {
        var frame = Encode(Samples()["Heartbeat"]);
        frame[offset] = 0x7F;
        var buffer = new ReadOnlySequence<byte>(frame);
        var error = Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out _));
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_damaged_body_fails_the_crc()
    {
        var frame = Encode(Samples()["Heartbeat"]);
        frame[^1] ^= 0x01;
        var buffer = new ReadOnlySequence<byte>(frame);
        var error = Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out _));
        Assert.Contains("CRC", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_handshake_round_trips_and_is_refused_where_a_message_belongs()
    {
        using var writer = new PooledBufferWriter(64);
        FrameCodec.WriteHello(writer, 7, "prod-east"u8);
        var bytes = writer.WrittenSpan.ToArray();

        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameCodec.TryReadHello(ref buffer, out var nodeId, out var clusterId, out var nonce));
        Assert.Equal(7, nodeId);
        Assert.Equal("prod-east", clusterId);
        Assert.Null(nonce);
        Assert.True(buffer.IsEmpty);

        buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out _));
        buffer = new ReadOnlySequence<byte>(Encode(Samples()["Heartbeat"]));
        Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadHello(ref buffer, out _, out _, out _));
    }

    [Fact]
    public void A_hello_with_a_nonce_and_a_proof_round_trip_in_one_buffer()
    {
        var sentNonce = Enumerable.Range(1, FrameCodec.NonceBytes).Select(i => (byte)i).ToArray();
        var sentProof = Enumerable.Range(100, FrameCodec.ProofBytes).Select(i => (byte)i).ToArray();
        using var writer = new PooledBufferWriter(64);
        Assert.Equal(FrameCodec.HeaderBytes + 5 + 4 + FrameCodec.NonceBytes, FrameCodec.WriteHello(writer, 3, "east"u8, sentNonce));
        Assert.Equal(FrameCodec.HeaderBytes + FrameCodec.ProofBytes, FrameCodec.WriteProof(writer, sentProof));

        var buffer = new ReadOnlySequence<byte>(writer.WrittenSpan.ToArray());
        Assert.True(FrameCodec.TryReadHello(ref buffer, out var nodeId, out var clusterId, out var nonce));
        Assert.Equal((3, "east"), (nodeId, clusterId));
        Assert.Equal(sentNonce, nonce);
        var proof = new byte[FrameCodec.ProofBytes];
        Assert.True(FrameCodec.TryReadProof(ref buffer, proof));
        Assert.Equal(sentProof, proof);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void Handshake_frames_are_refused_when_malformed_or_out_of_place()
    {
        using var writer = new PooledBufferWriter(64);
        FrameCodec.WriteProof(writer, new byte[FrameCodec.ProofBytes]);
        var proofFrame = writer.WrittenSpan.ToArray();

        // A proof where a hello or a message belongs, and a hello where a proof belongs.
        var buffer = new ReadOnlySequence<byte>(proofFrame);
        Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadHello(ref buffer, out _, out _, out _));
        Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out _));
        writer.Reset();
        FrameCodec.WriteHello(writer, 1, "a"u8);
        buffer = new ReadOnlySequence<byte>(writer.WrittenSpan.ToArray());
        Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadProof(ref buffer, new byte[FrameCodec.ProofBytes]));

        // A hello whose nonce flag is set without a nonce (a body too short for its length byte: the theory below).
        var flagged = writer.WrittenSpan.ToArray();
        flagged[6] = FrameCodec.HelloNonceFlag;
        buffer = new ReadOnlySequence<byte>(Reseal(flagged));
        Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadHello(ref buffer, out _, out _, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("07")]
    [InlineData("070000")]
    [InlineData("07000000")]
    [InlineData("0700000000")]
    public void A_handshake_body_too_short_for_its_length_byte_is_a_frame_error(string bodyHex)
    {
        // Found by fuzzing (seed 14002, case 132): a 3-byte body with a valid CRC was indexed past its end.
        var buffer = new ReadOnlySequence<byte>(FrameWithValidCrc(FrameCodec.HelloType, flags: 0, Convert.FromHexString(bodyHex)));
        var error = Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadHello(ref buffer, out _, out _, out _));
        Assert.Contains("malformed handshake", error.Message, StringComparison.Ordinal);
    }

    private static void AssertSame(in Message expected, in Message actual)
    {
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(expected.Flags, actual.Flags);
        Assert.Equal(expected.Reject, actual.Reject);
        Assert.Equal(expected.From, actual.From);
        Assert.Equal(expected.To, actual.To);
        Assert.Equal(expected.Term, actual.Term);
        Assert.Equal(expected.LogTerm, actual.LogTerm);
        Assert.Equal(expected.Index, actual.Index);
        Assert.Equal(expected.Commit, actual.Commit);
        Assert.Equal(expected.RejectHint, actual.RejectHint);
        Assert.Equal(expected.Context, actual.Context);
        Assert.Equal(expected.Offset, actual.Offset);
        Assert.Equal(expected.TotalBytes, actual.TotalBytes);
        Assert.Equal(expected.Checksum, actual.Checksum);
        Assert.True(expected.Data.Span.SequenceEqual(actual.Data.Span));
        Assert.Equal(expected.Entries.Length, actual.Entries.Length);
        for (var i = 0; i < expected.Entries.Length; i++)
        {
            var e = expected.Entries.Span[i];
            var a = actual.Entries.Span[i];
            Assert.Equal(e.Term, a.Term);
            Assert.Equal(e.Index, a.Index);
            Assert.Equal(e.Type, a.Type);
            Assert.True(e.Data.Span.SequenceEqual(a.Data.Span));
        }

        Assert.Null(actual.Snapshot);
    }

    private static void AssertRefused(byte[] bytes, string problem, FrameLimits? limits = null)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        var error = Assert.Throws<FrameFormatException>(() => FrameCodec.TryReadMessage(ref buffer, limits ?? FrameLimits.Default, out _));
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    private static byte[] WithByte(byte[] frame, int at, byte value)
    {
        frame[at] = value;
        return frame;
    }

    private static byte[] WithUInt32(byte[] frame, int at, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(at), value);
        return frame;
    }

    private static byte[] WithUInt64(byte[] frame, int at, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(at), value);
        return frame;
    }
}
