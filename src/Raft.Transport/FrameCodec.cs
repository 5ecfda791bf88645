using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Raft.Core;

namespace Raft.Transport;

/// <summary>
/// The wire format between peers: one frame per Raft message, plus a handshake frame. Everything is little-endian.
/// </summary>
/// <remarks>
/// <code>
/// Frame header, 16 bytes:
///
///  0        4    5    6    7    8                 12                16
///  +--------+----+----+----+----+-----------------+-----------------+-----------------------+
///  | magic  |ver |type|flag|zero| body length     | CRC32C          | body                  |
///  | u32    | u8 | u8 | u8 | u8 | u32             | u32             | `body length` bytes   |
///  +--------+----+----+----+----+-----------------+-----------------+-----------------------+
///  magic = "RAFT" (0x54464152 as u32); ver = 2; type = MessageType (1..14 but 9), 0x80 (hello) or 0x81 (proof);
///  flag = MessageFlags (hello: 0x01 = a nonce follows); CRC32C covers header bytes [0, 12) and then the whole body.
///
/// Message body: a common prefix, then the fields of its type, in this order:
///
///  0        4        8                 16
///  +--------+--------+-----------------+------------------------------
///  | from   | to     | term            | type-specific fields
///  | i32    | i32    | u64             |
///  +--------+--------+-----------------+------------------------------
///
///  PreVote, Vote              log term u64, index u64                                   body 32
///  PreVoteResponse,
///  VoteResponse               reject u8                                                 body 17
///  Append                     log term u64, index u64, commit u64, count u32, entries   body 44 + entries
///    each entry               term u64, index u64, type u8, length u32, data            21 + length
///  AppendResponse             reject u8, index u64, reject hint u64, log term u64       body 41
///  Heartbeat                  commit u64, context u64                                   body 32
///  HeartbeatResponse          context u64, index u64 (the follower's last log index)    body 32
///  TimeoutNow                 nothing                                                   body 16
///  ReadIndex                  context u64                                               body 24
///  ReadIndexResponse          reject u8, index u64, context u64                         body 33
///  SnapshotChunk              index u64, term u64 (the snapshot's), offset u64,
///                             total bytes u64, checksum u32, length u32, data           body 56 + length
///  SnapshotChunkResponse      index u64, term u64 (the snapshot's), offset u64,
///                             reject u8                                                 body 41
///
/// Hello (the handshake, first frame each way on a connection, inside TLS when TLS is on):
///  node id i32, cluster id length u8 (1..255), cluster id UTF-8,
///  and with flag 0x01 (the sender proves a cluster secret): nonce, 32 random bytes
/// Proof (only with a cluster secret; the acceptor's follows its hello, the dialler's answers it):
///  HMAC-SHA256 of the cluster secret over the handshake transcript, 32 bytes (see TcpPeerTransport.Handshake.cs)
/// </code>
/// InstallSnapshot (9) never crosses the wire: a leader's node driver streams the snapshot as SnapshotChunks and the
/// follower's steps it into its core once it arrived whole; version 1 sent it as one frame, capped by FrameBytesMax.
/// A Heartbeat is therefore 48 bytes on the wire. Reject bytes are 0 or 1; entry types and flags must be ones
/// this version knows; entries must follow the Append's index one by one; a snapshot chunk carries at least one
/// byte and ends within its stream (offset + length &lt;= total bytes). Anything else is a
/// <see cref="FrameFormatException"/>: a peer speaking another version has to bump the version byte. A chunk's
/// checksum (CRC32C of its data) is carried, not checked: the node driver checks it against the bytes it writes.
/// <para>
/// Decoding never trusts a length before checking it against what is left, and never looks past a frame's end.
/// A decoded message owns its bytes: an Append's body is copied once into a new array that its entries' payloads
/// (and a snapshot chunk's data) slice, so the core can keep them in its log, and the node driver a chunk until it is
/// written, after the receive buffer is reused.
/// Messages without payloads are parsed in place (or from a stack copy when split across segments) and allocate nothing.
/// </para>
/// </remarks>
internal static class FrameCodec
{
    public const uint Magic = 0x5446_4152;
    public const byte Version = 2;
    public const byte HelloType = 0x80;
    public const byte ProofType = 0x81;
    public const byte HelloNonceFlag = 0x01;
    public const int NonceBytes = 32;
    public const int ProofBytes = 32;
    public const int HeaderBytes = 16;
    public const int CommonBodyBytes = 16;
    public const int EntryHeaderBytes = 21;
    public const int AppendFixedBodyBytes = CommonBodyBytes + 28;
    public const int SnapshotChunkFixedBodyBytes = CommonBodyBytes + 40;
    public const int HeartbeatFrameBytes = HeaderBytes + CommonBodyBytes + 16;
    public const int ClusterIdBytesMax = 255;
    public const int HelloBodyBytesMax = 5 + ClusterIdBytesMax + NonceBytes;

    private const int VersionOffset = 4;
    private const int TypeOffset = 5;
    private const int FlagsOffset = 6;
    private const int ReservedOffset = 7;
    private const int LengthOffset = 8;
    private const int CrcOffset = 12;

    // Bodies up to this size (every type but Append with entries and SnapshotChunk) are parsed
    // from the stack. A SnapshotChunk always carries data, so even a small one is copied to an array it keeps.
    private const int StackBodyBytesMax = 64;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private const MessageFlags KnownFlags = MessageFlags.Transfer | MessageFlags.LeaderUnreachable;

    /// <summary>
    /// The size of <paramref name="message"/>'s frame, or false when it exceeds <paramref name="limits"/> (more
    /// entries or bytes than a peer accepts); such a message cannot be sent.
    /// </summary>
    public static bool TryGetFrameBytes(in Message message, in FrameLimits limits, out int frameBytes)
    {
        frameBytes = 0;
        long body = message.Type switch
        {
            MessageType.PreVote or MessageType.Vote => CommonBodyBytes + 16,
            MessageType.PreVoteResponse or MessageType.VoteResponse => CommonBodyBytes + 1,
            MessageType.Append => AppendBodyBytes(message.Entries.Span, limits),
            MessageType.AppendResponse or MessageType.SnapshotChunkResponse => CommonBodyBytes + 25,
            MessageType.Heartbeat or MessageType.HeartbeatResponse => CommonBodyBytes + 16,
            MessageType.ReadIndex => CommonBodyBytes + 8,
            MessageType.TimeoutNow => CommonBodyBytes,
            MessageType.ReadIndexResponse => CommonBodyBytes + 17,
            MessageType.SnapshotChunk => SnapshotChunkBodyBytes(message),
            _ => ThrowUnknownType(message.Type),
        };
        if (body < 0 || body > limits.FrameBytesMax - HeaderBytes)
        {
            return false;
        }

        frameBytes = HeaderBytes + (int)body;
        return true;
    }

    /// <summary>
    /// Writes <paramref name="message"/> as one frame and returns its size. The caller has checked
    /// <see cref="TryGetFrameBytes"/>; a message over the limits is a bug here. Allocates nothing beyond what
    /// <paramref name="writer"/> needs to grow.
    /// </summary>
    public static int Write(IBufferWriter<byte> writer, in Message message, in FrameLimits limits)
    {
        if (!TryGetFrameBytes(message, limits, out var frameBytes))
        {
            throw new ArgumentException($"{message.Type} exceeds the frame limits", nameof(message));
        }

        var frame = writer.GetSpan(frameBytes)[..frameBytes];
        var body = frame[HeaderBytes..];
        BinaryPrimitives.WriteInt32LittleEndian(body, message.From);
        BinaryPrimitives.WriteInt32LittleEndian(body[4..], message.To);
        BinaryPrimitives.WriteUInt64LittleEndian(body[8..], message.Term);
        var fields = body[CommonBodyBytes..];
        switch (message.Type)
        {
            case MessageType.PreVote or MessageType.Vote:
                BinaryPrimitives.WriteUInt64LittleEndian(fields, message.LogTerm);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[8..], message.Index);
                break;
            case MessageType.PreVoteResponse or MessageType.VoteResponse:
                fields[0] = message.Reject ? (byte)1 : (byte)0;
                break;
            case MessageType.Append:
                BinaryPrimitives.WriteUInt64LittleEndian(fields, message.LogTerm);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[8..], message.Index);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[16..], message.Commit);
                WriteEntries(fields[24..], message.Entries.Span);
                break;
            case MessageType.AppendResponse:
                fields[0] = message.Reject ? (byte)1 : (byte)0;
                BinaryPrimitives.WriteUInt64LittleEndian(fields[1..], message.Index);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[9..], message.RejectHint);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[17..], message.LogTerm);
                break;
            case MessageType.Heartbeat:
                BinaryPrimitives.WriteUInt64LittleEndian(fields, message.Commit);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[8..], message.Context);
                break;
            case MessageType.HeartbeatResponse:
                BinaryPrimitives.WriteUInt64LittleEndian(fields, message.Context);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[8..], message.Index);
                break;
            case MessageType.ReadIndex:
                BinaryPrimitives.WriteUInt64LittleEndian(fields, message.Context);
                break;
            case MessageType.TimeoutNow:
                break;
            case MessageType.ReadIndexResponse:
                fields[0] = message.Reject ? (byte)1 : (byte)0;
                BinaryPrimitives.WriteUInt64LittleEndian(fields[1..], message.Index);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[9..], message.Context);
                break;
            case MessageType.SnapshotChunk:
                BinaryPrimitives.WriteUInt64LittleEndian(fields, message.Index);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[8..], message.LogTerm);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[16..], message.Offset);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[24..], message.TotalBytes);
                BinaryPrimitives.WriteUInt32LittleEndian(fields[32..], message.Checksum);
                BinaryPrimitives.WriteUInt32LittleEndian(fields[36..], (uint)message.Data.Length);
                message.Data.Span.CopyTo(fields[40..]);
                break;
            case MessageType.SnapshotChunkResponse:
                BinaryPrimitives.WriteUInt64LittleEndian(fields, message.Index);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[8..], message.LogTerm);
                BinaryPrimitives.WriteUInt64LittleEndian(fields[16..], message.Offset);
                fields[24] = message.Reject ? (byte)1 : (byte)0;
                break;
        }

        WriteHeader(frame, (byte)message.Type, (byte)message.Flags, body);
        writer.Advance(frameBytes);
        return frameBytes;
    }

    /// <summary>
    /// Writes the handshake frame naming this node and its cluster, with <paramref name="nonce"/> (empty, or
    /// <see cref="NonceBytes"/> bytes) when this node proves a cluster secret.
    /// </summary>
    public static int WriteHello(IBufferWriter<byte> writer, int nodeId, ReadOnlySpan<byte> clusterIdUtf8, ReadOnlySpan<byte> nonce = default)
    {
        if (clusterIdUtf8.IsEmpty || clusterIdUtf8.Length > ClusterIdBytesMax)
        {
            throw new ArgumentException($"a cluster id is 1..{ClusterIdBytesMax} bytes of UTF-8", nameof(clusterIdUtf8));
        }

        if (!nonce.IsEmpty && nonce.Length != NonceBytes)
        {
            throw new ArgumentException($"a nonce is {NonceBytes} bytes", nameof(nonce));
        }

        var frameBytes = HeaderBytes + 5 + clusterIdUtf8.Length + nonce.Length;
        var frame = writer.GetSpan(frameBytes)[..frameBytes];
        var body = frame[HeaderBytes..];
        BinaryPrimitives.WriteInt32LittleEndian(body, nodeId);
        body[4] = (byte)clusterIdUtf8.Length;
        clusterIdUtf8.CopyTo(body[5..]);
        nonce.CopyTo(body[(5 + clusterIdUtf8.Length)..]);
        WriteHeader(frame, HelloType, nonce.IsEmpty ? (byte)0 : HelloNonceFlag, body);
        writer.Advance(frameBytes);
        return frameBytes;
    }

    /// <summary>Writes a proof frame carrying <paramref name="proof"/> (<see cref="ProofBytes"/> bytes).</summary>
    public static int WriteProof(IBufferWriter<byte> writer, ReadOnlySpan<byte> proof)
    {
        if (proof.Length != ProofBytes)
        {
            throw new ArgumentException($"a proof is {ProofBytes} bytes", nameof(proof));
        }

        const int frameBytes = HeaderBytes + ProofBytes;
        var frame = writer.GetSpan(frameBytes)[..frameBytes];
        proof.CopyTo(frame[HeaderBytes..]);
        WriteHeader(frame, ProofType, 0, frame[HeaderBytes..]);
        writer.Advance(frameBytes);
        return frameBytes;
    }

    /// <summary>
    /// Reads one message frame from the front of <paramref name="buffer"/> and slices it off. False when the
    /// buffer does not yet hold a whole frame (nothing is consumed); <see cref="FrameFormatException"/> when the
    /// bytes cannot be a valid frame, which ends the connection they came from.
    /// </summary>
    public static bool TryReadMessage(ref ReadOnlySequence<byte> buffer, in FrameLimits limits, out Message message)
    {
        message = default;
        if (!TryReadHeader(buffer, limits.FrameBytesMax, out var header))
        {
            return false;
        }

        if (header.Type is HelloType or ProofType)
        {
            ThrowFormat("a handshake frame after the handshake");
        }

        var frameBytes = HeaderBytes + header.BodyBytes;
        if (buffer.Length < frameBytes)
        {
            return false;
        }

        var body = buffer.Slice(HeaderBytes, header.BodyBytes);
        if (header.BodyBytes <= StackBodyBytesMax && header.Type != (byte)MessageType.SnapshotChunk)
        {
            // No payload to keep: parse in place when the body is contiguous, else from a stack copy.
            Span<byte> scratch = stackalloc byte[StackBodyBytesMax];
            scoped ReadOnlySpan<byte> span;
            if (body.IsSingleSegment)
            {
                span = body.FirstSpan;
            }
            else
            {
                body.CopyTo(scratch);
                span = scratch[..header.BodyBytes];
            }

            CheckCrc(header, span);
            message = ParseBody(header, span, owner: null, limits);
        }
        else
        {
            // The one copy of a payload-carrying body: entries and snapshot or chunk data slice this array, which
            // the message (and later the core's log or the node driver) owns. The CRC is checked on the copy,
            // which is what is kept.
            var owner = GC.AllocateUninitializedArray<byte>(header.BodyBytes);
            body.CopyTo(owner);
            CheckCrc(header, owner);
            message = ParseBody(header, owner, owner, limits);
        }

        buffer = buffer.Slice(frameBytes);
        return true;
    }

    /// <summary>
    /// Reads the handshake frame; same contract as <see cref="TryReadMessage"/>. <paramref name="nonce"/> is the
    /// sender's nonce when it proves a cluster secret, else null.
    /// </summary>
    public static bool TryReadHello(ref ReadOnlySequence<byte> buffer, out int nodeId, out string clusterId, out byte[]? nonce)
    {
        nodeId = 0;
        clusterId = string.Empty;
        nonce = null;
        if (!TryReadHeader(buffer, HeaderBytes + HelloBodyBytesMax, out var header))
        {
            return false;
        }

        if (header.Type != HelloType)
        {
            ThrowFormat($"expected a handshake, got a {DescribeType(header.Type)} frame");
        }

        var frameBytes = HeaderBytes + header.BodyBytes;
        if (buffer.Length < frameBytes)
        {
            return false;
        }

        var bodySequence = buffer.Slice(HeaderBytes, header.BodyBytes);
        CheckCrc(header, bodySequence);
        Span<byte> body = stackalloc byte[HelloBodyBytesMax];
        body = body[..header.BodyBytes];
        bodySequence.CopyTo(body);
        // The header allows a hello no flag but the nonce's. The length byte is read only once the body is known to
        // hold it: a peer picks the body's size.
        var nonceBytes = header.Flags == HelloNonceFlag ? NonceBytes : 0;
        if (body.Length < 5 || body[4] == 0 || body.Length != 5 + body[4] + nonceBytes)
        {
            ThrowFormat("a malformed handshake");
        }

        int length = body[4];
        nodeId = BinaryPrimitives.ReadInt32LittleEndian(body);
        try
        {
            clusterId = StrictUtf8.GetString(body.Slice(5, length));
        }
        catch (DecoderFallbackException)
        {
            ThrowFormat("a handshake whose cluster id is not UTF-8");
        }

        if (nonceBytes > 0)
        {
            nonce = body.Slice(5 + length, nonceBytes).ToArray();
        }

        buffer = buffer.Slice(frameBytes);
        return true;
    }

    /// <summary>Reads a proof frame into <paramref name="proof"/> (<see cref="ProofBytes"/> bytes); same contract as <see cref="TryReadMessage"/>.</summary>
    public static bool TryReadProof(ref ReadOnlySequence<byte> buffer, Span<byte> proof)
    {
        if (!TryReadHeader(buffer, HeaderBytes + ProofBytes, out var header))
        {
            return false;
        }

        if (header.Type != ProofType)
        {
            ThrowFormat($"expected a proof, got a {DescribeType(header.Type)} frame");
        }

        if (header.BodyBytes != ProofBytes)
        {
            ThrowFormat("a malformed proof");
        }

        var frameBytes = HeaderBytes + ProofBytes;
        if (buffer.Length < frameBytes)
        {
            return false;
        }

        var body = buffer.Slice(HeaderBytes, ProofBytes);
        CheckCrc(header, body);
        body.CopyTo(proof);
        buffer = buffer.Slice(frameBytes);
        return true;
    }

    private static string DescribeType(byte type) => type switch
    {
        HelloType => "hello",
        ProofType => "proof",
        _ => ((MessageType)type).ToString(),
    };

    private static long AppendBodyBytes(ReadOnlySpan<Entry> entries, in FrameLimits limits)
    {
        if (entries.Length > limits.EntriesPerFrameMax)
        {
            return -1;
        }

        long bytes = AppendFixedBodyBytes + ((long)EntryHeaderBytes * entries.Length);
        foreach (ref readonly var entry in entries)
        {
            bytes += entry.Data.Length;
        }

        return bytes;
    }

    // A chunk the decoder would refuse is a bug in the sender, not a message too large to send.
    private static long SnapshotChunkBodyBytes(in Message message)
    {
        var length = (ulong)message.Data.Length;
        if (length == 0 || message.Offset > message.TotalBytes || length > message.TotalBytes - message.Offset)
        {
            throw new ArgumentException(
                $"a snapshot chunk of {length} bytes at {message.Offset} of a {message.TotalBytes}-byte stream", nameof(message));
        }

        return SnapshotChunkFixedBodyBytes + message.Data.Length;
    }

    private static void WriteEntries(Span<byte> destination, ReadOnlySpan<Entry> entries)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)entries.Length);
        var position = 4;
        foreach (ref readonly var entry in entries)
        {
            var slot = destination[position..];
            BinaryPrimitives.WriteUInt64LittleEndian(slot, entry.Term);
            BinaryPrimitives.WriteUInt64LittleEndian(slot[8..], entry.Index);
            slot[16] = (byte)entry.Type;
            BinaryPrimitives.WriteUInt32LittleEndian(slot[17..], (uint)entry.Data.Length);
            entry.Data.Span.CopyTo(slot[EntryHeaderBytes..]);
            position += EntryHeaderBytes + entry.Data.Length;
        }
    }

    private static void WriteHeader(Span<byte> frame, byte type, byte flags, ReadOnlySpan<byte> body)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(frame, Magic);
        frame[VersionOffset] = Version;
        frame[TypeOffset] = type;
        frame[FlagsOffset] = flags;
        frame[ReservedOffset] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(frame[LengthOffset..], (uint)body.Length);
        var crc = Crc32C.Append(Crc32C.Seed, frame[..CrcOffset]);
        crc = Crc32C.Finish(Crc32C.Append(crc, body));
        BinaryPrimitives.WriteUInt32LittleEndian(frame[CrcOffset..], crc);
    }

    // Validates everything the header alone can tell, so a bad length is refused before any body is awaited.
    private static bool TryReadHeader(in ReadOnlySequence<byte> buffer, int frameBytesMax, out FrameHeader header)
    {
        header = default;
        if (buffer.Length < HeaderBytes)
        {
            return false;
        }

        Span<byte> scratch = stackalloc byte[HeaderBytes];
        scoped ReadOnlySpan<byte> bytes;
        if (buffer.FirstSpan.Length >= HeaderBytes)
        {
            bytes = buffer.FirstSpan[..HeaderBytes];
        }
        else
        {
            buffer.Slice(0, HeaderBytes).CopyTo(scratch);
            bytes = scratch;
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic)
        {
            ThrowFormat("bad magic: not a Raft peer frame");
        }

        if (bytes[VersionOffset] != Version)
        {
            ThrowFormat($"unsupported frame version {bytes[VersionOffset]} (this node speaks {Version})");
        }

        if (bytes[ReservedOffset] != 0)
        {
            ThrowFormat("a reserved header byte is not zero");
        }

        var type = bytes[TypeOffset];
        var flags = (MessageFlags)bytes[FlagsOffset];
        var knownFlags = type switch
        {
            HelloType => (MessageFlags)HelloNonceFlag,
            ProofType => MessageFlags.None,
            _ => KnownFlags,
        };
        if ((flags & ~knownFlags) != 0)
        {
            ThrowFormat($"unknown message flags 0x{bytes[FlagsOffset]:x2}");
        }

        var bodyBytes = BinaryPrimitives.ReadUInt32LittleEndian(bytes[LengthOffset..]);
        if (bodyBytes > (uint)(frameBytesMax - HeaderBytes))
        {
            ThrowFormat($"a frame of {HeaderBytes + (long)bodyBytes} bytes is over the {frameBytesMax}-byte limit");
        }

        if (type is not (HelloType or ProofType))
        {
            CheckBodyLength((MessageType)type, (int)bodyBytes);
        }

        header = new FrameHeader(
            type,
            bytes[FlagsOffset],
            (int)bodyBytes,
            BinaryPrimitives.ReadUInt32LittleEndian(bytes[CrcOffset..]),
            Crc32C.Append(Crc32C.Seed, bytes[..CrcOffset]));
        return true;
    }

    private static void CheckBodyLength(MessageType type, int bodyBytes)
    {
        var (fixedBytes, exact) = type switch
        {
            MessageType.PreVote or MessageType.Vote or MessageType.Heartbeat or MessageType.HeartbeatResponse => (CommonBodyBytes + 16, true),
            MessageType.PreVoteResponse or MessageType.VoteResponse => (CommonBodyBytes + 1, true),
            MessageType.Append => (AppendFixedBodyBytes, false),
            MessageType.AppendResponse or MessageType.SnapshotChunkResponse => (CommonBodyBytes + 25, true),
            MessageType.ReadIndex => (CommonBodyBytes + 8, true),
            MessageType.TimeoutNow => (CommonBodyBytes, true),
            MessageType.ReadIndexResponse => (CommonBodyBytes + 17, true),
            MessageType.SnapshotChunk => (SnapshotChunkFixedBodyBytes, false),
            _ => (ThrowFormat<int>($"unknown frame type {(byte)type}"), true),
        };
        if (exact ? bodyBytes != fixedBytes : bodyBytes < fixedBytes)
        {
            ThrowFormat($"a {type} body of {bodyBytes} bytes");
        }
    }

    private static void CheckCrc(in FrameHeader header, ReadOnlySpan<byte> body)
    {
        if (Crc32C.Finish(Crc32C.Append(header.HeaderCrc, body)) != header.Crc)
        {
            ThrowFormat("CRC32C mismatch");
        }
    }

    private static void CheckCrc(in FrameHeader header, in ReadOnlySequence<byte> body)
    {
        if (Crc32C.Finish(Crc32C.Append(header.HeaderCrc, body)) != header.Crc)
        {
            ThrowFormat("CRC32C mismatch");
        }
    }

    // owner is the array body lives in when payloads must outlive the call; null for stack-parsed bodies,
    // which by their size (at most StackBodyBytesMax) carry no payload bytes.
    private static Message ParseBody(in FrameHeader header, ReadOnlySpan<byte> body, byte[]? owner, in FrameLimits limits)
    {
        var message = new Message
        {
            Type = (MessageType)header.Type,
            Flags = (MessageFlags)header.Flags,
            From = BinaryPrimitives.ReadInt32LittleEndian(body),
            To = BinaryPrimitives.ReadInt32LittleEndian(body[4..]),
            Term = BinaryPrimitives.ReadUInt64LittleEndian(body[8..]),
        };
        var fields = body[CommonBodyBytes..];
        switch (message.Type)
        {
            case MessageType.PreVote or MessageType.Vote:
                message.LogTerm = BinaryPrimitives.ReadUInt64LittleEndian(fields);
                message.Index = BinaryPrimitives.ReadUInt64LittleEndian(fields[8..]);
                break;
            case MessageType.PreVoteResponse or MessageType.VoteResponse:
                message.Reject = ReadBool(fields[0]);
                break;
            case MessageType.Append:
                message.LogTerm = BinaryPrimitives.ReadUInt64LittleEndian(fields);
                message.Index = BinaryPrimitives.ReadUInt64LittleEndian(fields[8..]);
                message.Commit = BinaryPrimitives.ReadUInt64LittleEndian(fields[16..]);
                message.Entries = ParseEntries(body, AppendFixedBodyBytes - 4, owner, message.Index, limits);
                break;
            case MessageType.AppendResponse:
                message.Reject = ReadBool(fields[0]);
                message.Index = BinaryPrimitives.ReadUInt64LittleEndian(fields[1..]);
                message.RejectHint = BinaryPrimitives.ReadUInt64LittleEndian(fields[9..]);
                message.LogTerm = BinaryPrimitives.ReadUInt64LittleEndian(fields[17..]);
                break;
            case MessageType.Heartbeat:
                message.Commit = BinaryPrimitives.ReadUInt64LittleEndian(fields);
                message.Context = BinaryPrimitives.ReadUInt64LittleEndian(fields[8..]);
                break;
            case MessageType.HeartbeatResponse:
                message.Context = BinaryPrimitives.ReadUInt64LittleEndian(fields);
                message.Index = BinaryPrimitives.ReadUInt64LittleEndian(fields[8..]);
                break;
            case MessageType.ReadIndex:
                message.Context = BinaryPrimitives.ReadUInt64LittleEndian(fields);
                break;
            case MessageType.TimeoutNow:
                break;
            case MessageType.ReadIndexResponse:
                message.Reject = ReadBool(fields[0]);
                message.Index = BinaryPrimitives.ReadUInt64LittleEndian(fields[1..]);
                message.Context = BinaryPrimitives.ReadUInt64LittleEndian(fields[9..]);
                break;
            case MessageType.SnapshotChunk:
                message.Index = BinaryPrimitives.ReadUInt64LittleEndian(fields);
                message.LogTerm = BinaryPrimitives.ReadUInt64LittleEndian(fields[8..]);
                message.Offset = BinaryPrimitives.ReadUInt64LittleEndian(fields[16..]);
                message.TotalBytes = BinaryPrimitives.ReadUInt64LittleEndian(fields[24..]);
                message.Checksum = BinaryPrimitives.ReadUInt32LittleEndian(fields[32..]);
                message.Data = ParseChunkData(body, owner, message.Offset, message.TotalBytes);
                break;
            case MessageType.SnapshotChunkResponse:
                message.Index = BinaryPrimitives.ReadUInt64LittleEndian(fields);
                message.LogTerm = BinaryPrimitives.ReadUInt64LittleEndian(fields[8..]);
                message.Offset = BinaryPrimitives.ReadUInt64LittleEndian(fields[16..]);
                message.Reject = ReadBool(fields[24]);
                break;
        }

        return message;
    }

    private static Entry[] ParseEntries(ReadOnlySpan<byte> body, int position, byte[]? owner, ulong previousIndex, in FrameLimits limits)
    {
        var count = BinaryPrimitives.ReadUInt32LittleEndian(body[position..]);
        position += 4;
        if (count > (uint)limits.EntriesPerFrameMax)
        {
            ThrowFormat($"an Append of {count} entries is over the {limits.EntriesPerFrameMax}-entry limit");
        }

        if ((long)count * EntryHeaderBytes > body.Length - position)
        {
            ThrowFormat($"an Append of {count} entries in a {body.Length}-byte body");
        }

        if (count == 0)
        {
            if (position != body.Length)
            {
                ThrowFormat("bytes after the last entry");
            }

            return [];
        }

        var entries = new Entry[count];
        for (var i = 0; i < entries.Length; i++)
        {
            if (body.Length - position < EntryHeaderBytes)
            {
                ThrowFormat("an entry header past the end of its frame");
            }

            var slot = body[position..];
            var term = BinaryPrimitives.ReadUInt64LittleEndian(slot);
            var index = BinaryPrimitives.ReadUInt64LittleEndian(slot[8..]);
            var type = slot[16];
            var length = BinaryPrimitives.ReadUInt32LittleEndian(slot[17..]);
            position += EntryHeaderBytes;
            if (type > (byte)EntryType.Membership)
            {
                ThrowFormat($"unknown entry type {type}");
            }

            if (index != previousIndex + 1 + (ulong)i)
            {
                ThrowFormat($"entry {i} has index {index}, not {previousIndex + 1 + (ulong)i}");
            }

            if (length > (uint)(body.Length - position))
            {
                ThrowFormat($"an entry of {length} bytes past the end of its frame");
            }

            entries[i] = new Entry(term, index, (EntryType)type, Slice(body, owner, position, (int)length));
            position += (int)length;
        }

        if (position != body.Length)
        {
            ThrowFormat("bytes after the last entry");
        }

        return entries;
    }

    private static ReadOnlyMemory<byte> ParseChunkData(ReadOnlySpan<byte> body, byte[]? owner, ulong offset, ulong totalBytes)
    {
        var length = BinaryPrimitives.ReadUInt32LittleEndian(body[(SnapshotChunkFixedBodyBytes - 4)..]);
        if (length == 0)
        {
            ThrowFormat("an empty snapshot chunk");
        }

        if (length != (uint)(body.Length - SnapshotChunkFixedBodyBytes))
        {
            ThrowFormat($"snapshot chunk data of {length} bytes in a {body.Length - SnapshotChunkFixedBodyBytes}-byte remainder");
        }

        // Written so that no sum can wrap: offset may be anything a peer sends.
        if (offset > totalBytes || length > totalBytes - offset)
        {
            ThrowFormat($"a snapshot chunk of {length} bytes at {offset} past the end of its {totalBytes}-byte stream");
        }

        return Slice(body, owner, SnapshotChunkFixedBodyBytes, (int)length);
    }

    private static ReadOnlyMemory<byte> Slice(ReadOnlySpan<byte> body, byte[]? owner, int start, int length) =>
        length == 0 ? ReadOnlyMemory<byte>.Empty
        : owner is not null ? owner.AsMemory(start, length)
        : body.Slice(start, length).ToArray();

    private static bool ReadBool(byte value) => value switch
    {
        0 => false,
        1 => true,
        _ => ThrowFormat<bool>($"a flag byte of {value}"),
    };

    private static long ThrowUnknownType(MessageType type) =>
        throw new ArgumentException($"unknown message type {(byte)type}", nameof(type));

    [DoesNotReturn]
    private static void ThrowFormat(string problem) => throw new FrameFormatException(problem);

    [DoesNotReturn]
    private static T ThrowFormat<T>(string problem) => throw new FrameFormatException(problem);

    private readonly record struct FrameHeader(byte Type, byte Flags, int BodyBytes, uint Crc, uint HeaderCrc);
}
