using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using Raft.Core;

namespace Raft.Storage;

/// <summary>A snapshot stream's checked header: its metadata, its size, and the CRC folded over it so far.</summary>
/// <param name="Bytes">Header size, header CRC included: where the body starts.</param>
/// <param name="RunningCrc">The unfinished CRC32C over the whole header, which the body's bytes continue.</param>
internal sealed record SnapshotHeader(SnapshotMetadata Metadata, int Bytes, uint RunningCrc);

/// <summary>
/// The snapshot stream: one format for a snapshot file, the bytes a leader streams to a follower, and a backup.
/// </summary>
/// <remarks>
/// <code>
/// Snapshot stream, little-endian (M = membership bytes, B = body bytes):
///
/// header, 32 + M bytes
///  0       4       6       8                16               24      28          28+M
///  +-------+-------+-------+----------------+----------------+-------+-----------+--------+
///  | magic |version| zero  | index          | term           |   M   | membership| CRC32C |
///  | u32   | u16   | u16   | u64            | u64            | u32   | M bytes   | u32    |
///  +-------+-------+-------+----------------+----------------+-------+-----------+--------+
///  magic "RSNP" (0x504E5352 as u32); version 2; membership as Membership.Encode writes it;
///  CRC32C over [0, 28 + M), so the metadata can be trusted before the body is read.
///
/// body, B bytes at 32 + M: the state machine's image, opaque here; B is not known until the body ends.
///
/// trailer, 16 bytes at 32 + M + B (the stream's last 16 bytes)
///  0                16       20       24
///  +----------------+--------+--------+
///  | B              | CRC32C | end    |
///  | u64            | u32    | u32    |
///  +----------------+--------+--------+
///  CRC32C over [0, 32 + M + B): header and body; end magic "RSNE" (0x454E5352 as u32).
/// </code>
/// The stream does not announce its length: whatever carries it (a file's size, the total a leader's chunks
/// announce, the end of a download) says where it ends, and the trailer is its last 16 bytes. Header and body
/// lengths are checked against that end, the CRC as the body is read through.
/// </remarks>
internal static class SnapshotFormat
{
    public const int FixedHeaderBytes = 28;
    public const int HeaderCrcBytes = sizeof(uint);
    public const int TrailerBytes = 16;
    public const ushort Version = 2;

    /// <summary>
    /// The largest membership a header may carry: <see cref="Membership.MembersMax"/> members, each with the longest
    /// addresses (a cluster's membership carries its members' addresses).
    /// </summary>
    public const int MembershipBytesMax = Membership.EncodedBytesMax;

    /// <summary>The largest header: enough of a stream's prefix to parse any header.</summary>
    public const int HeaderBytesMax = FixedHeaderBytes + MembershipBytesMax + HeaderCrcBytes;

    private const uint Magic = 0x504E_5352;
    private const uint EndMagic = 0x454E_5352;
    private const int MembershipLengthOffset = 24;
    private const int TrailerCrcOffset = 8;
    private const int TrailerEndMagicOffset = 12;

    /// <summary>What "the source" is called in errors about bytes that live in memory.</summary>
    public const string MemorySource = "(memory)";

    public static byte[] EncodeHeader(SnapshotMetadata metadata)
    {
        SnapshotContract.CheckMetadata(metadata);
        var membershipBytes = metadata.Membership.EncodedBytes;
        var header = new byte[FixedHeaderBytes + membershipBytes + HeaderCrcBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), metadata.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(16), metadata.Term);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(MembershipLengthOffset), (uint)membershipBytes);
        var crcOffset = FixedHeaderBytes + metadata.Membership.Encode(header.AsSpan(FixedHeaderBytes));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(crcOffset), Crc32C.Compute(header.AsSpan(0, crcOffset)));
        return header;
    }

    /// <summary>Writes the trailer for a body of <paramref name="bodyBytes"/> after which the running CRC is <paramref name="runningCrc"/>.</summary>
    public static void EncodeTrailer(Span<byte> trailer, long bodyBytes, uint runningCrc)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, (ulong)bodyBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[TrailerCrcOffset..], Crc32C.Finish(runningCrc));
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[TrailerEndMagicOffset..], EndMagic);
    }

    /// <summary>
    /// How many bytes the header starting <paramref name="prefix"/> takes: <see cref="FixedHeaderBytes"/> until the
    /// membership length has arrived, then the whole header. Call only on a prefix <see cref="TryReadHeader"/> accepted.
    /// </summary>
    public static int HeaderBytesFor(ReadOnlySpan<byte> prefix) =>
        prefix.Length < FixedHeaderBytes
            ? FixedHeaderBytes
            : FixedHeaderBytes + (int)BinaryPrimitives.ReadUInt32LittleEndian(prefix[MembershipLengthOffset..]) + HeaderCrcBytes;

    /// <summary>
    /// Parses the header at the start of <paramref name="prefix"/> (a stream's first bytes, possibly more). Null while
    /// the prefix is too short to hold the whole header, after checking what it does hold, so a stream that is not a
    /// snapshot is refused from its first bytes.
    /// </summary>
    /// <exception cref="SnapshotCorruptedException">The header is damaged, of another format, or of another version.</exception>
    public static SnapshotHeader? TryReadHeader(ReadOnlySpan<byte> prefix, string source)
    {
        if (prefix.Length >= sizeof(uint) && BinaryPrimitives.ReadUInt32LittleEndian(prefix) != Magic)
        {
            ThrowCorrupted(source, 0, "wrong magic number (not a snapshot stream)");
        }

        if (prefix.Length >= 8)
        {
            var version = BinaryPrimitives.ReadUInt16LittleEndian(prefix[4..]);
            if (version != Version)
            {
                ThrowCorrupted(source, 4, $"snapshot format version {version} is not supported (this build reads version {Version})");
            }

            if (BinaryPrimitives.ReadUInt16LittleEndian(prefix[6..]) != 0)
            {
                ThrowCorrupted(source, 6, "snapshot header has non-zero reserved bytes");
            }
        }

        if (prefix.Length < FixedHeaderBytes)
        {
            return null;
        }

        var membershipBytes = BinaryPrimitives.ReadUInt32LittleEndian(prefix[MembershipLengthOffset..]);
        if (membershipBytes > MembershipBytesMax)
        {
            ThrowCorrupted(source, MembershipLengthOffset, $"membership length {membershipBytes} exceeds the largest membership, {MembershipBytesMax} bytes");
        }

        var crcOffset = FixedHeaderBytes + (int)membershipBytes;
        var headerBytes = crcOffset + HeaderCrcBytes;
        if (prefix.Length < headerBytes)
        {
            return null;
        }

        var runningCrc = Crc32C.Append(Crc32C.Seed, prefix[..crcOffset]);
        if (BinaryPrimitives.ReadUInt32LittleEndian(prefix[crcOffset..]) != Crc32C.Finish(runningCrc))
        {
            ThrowCorrupted(source, crcOffset, "snapshot header fails its CRC");
        }

        if (!Membership.TryDecode(prefix.Slice(FixedHeaderBytes, (int)membershipBytes), out var membership, out var consumed)
            || consumed != membershipBytes)
        {
            ThrowCorrupted(source, FixedHeaderBytes, "membership does not decode");
        }

        var index = BinaryPrimitives.ReadUInt64LittleEndian(prefix[8..]);
        var term = BinaryPrimitives.ReadUInt64LittleEndian(prefix[16..]);
        if (index == 0 || term == 0)
        {
            ThrowCorrupted(source, 8, $"snapshot at index {index}, term {term}: both must be positive");
        }

        runningCrc = Crc32C.Append(runningCrc, prefix.Slice(crcOffset, HeaderCrcBytes));
        return new SnapshotHeader(new SnapshotMetadata(index, term, membership), headerBytes, runningCrc);
    }

    /// <summary>
    /// Checks that <paramref name="trailer"/>, found at <paramref name="trailerOffset"/>, ends a stream whose body is
    /// <paramref name="bodyBytes"/> long; with <paramref name="runningCrc"/>, also the CRC of everything before it.
    /// </summary>
    /// <exception cref="SnapshotCorruptedException">The trailer does not match.</exception>
    public static void CheckTrailer(ReadOnlySpan<byte> trailer, long trailerOffset, long bodyBytes, uint? runningCrc, string source)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(trailer[TrailerEndMagicOffset..]) != EndMagic)
        {
            ThrowCorrupted(source, trailerOffset + TrailerEndMagicOffset,
                "the stream does not end with a snapshot trailer (it was cut short, or bytes follow it)");
        }

        var recordedBodyBytes = BinaryPrimitives.ReadUInt64LittleEndian(trailer);
        if (recordedBodyBytes != (ulong)bodyBytes)
        {
            ThrowCorrupted(source, trailerOffset, $"the trailer says the body is {recordedBodyBytes} bytes, but it is {bodyBytes}");
        }

        if (runningCrc is { } crc && BinaryPrimitives.ReadUInt32LittleEndian(trailer[TrailerCrcOffset..]) != Crc32C.Finish(crc))
        {
            ThrowCorrupted(source, trailerOffset + TrailerCrcOffset, "snapshot fails its CRC");
        }
    }

    [DoesNotReturn]
    public static void ThrowCorrupted(string source, long offset, string problem) =>
        throw new SnapshotCorruptedException(source, offset, problem);
}
