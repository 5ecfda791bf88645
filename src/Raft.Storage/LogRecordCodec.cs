using System.Buffers.Binary;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// Byte layout of segment files. Everything is little-endian.
/// </summary>
/// <remarks>
/// <code>
/// Segment header, 24 bytes, at offset 0 of every segment file:
///
///  0        4        6        8                  16       20       24
///  +--------+--------+--------+------------------+--------+--------+
///  | magic  |version | zero   | first index      | CRC32C | zero   |
///  | u32    | u16    | u16    | u64              | u32    | u32    |
///  +--------+--------+--------+------------------+--------+--------+
///  magic = "RWAL" (0x4C415752 as u32); CRC32C covers bytes [0, 16).
///
/// Record, 29-byte header + payload, back to back after the segment header:
///
///  0        4        8                  16                 24   25       29
///  +--------+--------+------------------+------------------+----+--------+-------------------+
///  | length | CRC32C | term             | index            |type| zero   | payload           |
///  | u32    | u32    | u64              | u64              | u8 | u32    | `length` bytes    |
///  +--------+--------+------------------+------------------+----+--------+-------------------+
///  CRC32C covers every byte of the record except itself: [0, 4) then [8, 29 + length).
/// </code>
/// The reserved bytes are written as zero and not checked on reading: logs written before they were cleared hold
/// whatever the reused write buffer held there (covered by the CRC like the rest).
/// The CRC also covers the length, so a flipped length is caught even when the bytes it points at happen to
/// form a plausible record. Records are not aligned: a log write is one contiguous run of records.
/// </remarks>
internal static class LogRecordCodec
{
    public const uint SegmentMagic = 0x4C41_5752;
    public const ushort SegmentVersion = 1;
    public const int SegmentHeaderBytes = 24;
    public const int RecordHeaderBytes = 29;

    private const int LengthOffset = 0;
    private const int CrcOffset = 4;
    private const int TermOffset = 8;
    private const int IndexOffset = 16;
    private const int TypeOffset = 24;
    private const int ReservedOffset = 25;

    public static void WriteSegmentHeader(Span<byte> destination, ulong firstIndex)
    {
        destination = destination[..SegmentHeaderBytes];
        destination.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(destination, SegmentMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], SegmentVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], firstIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], Crc32C.Compute(destination[..16]));
    }

    /// <summary>Parses a segment header; null when it is not a valid version-1 header.</summary>
    public static string? TryReadSegmentHeader(ReadOnlySpan<byte> source, out ulong firstIndex)
    {
        firstIndex = 0;
        if (source.Length < SegmentHeaderBytes)
        {
            return $"segment header is {source.Length} bytes, expected {SegmentHeaderBytes}";
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(source) != SegmentMagic)
        {
            return "segment header has the wrong magic number (not a log segment)";
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(source[16..]) != Crc32C.Compute(source[..16]))
        {
            return "segment header fails its CRC";
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(source[20..]) != 0)
        {
            return "segment header has non-zero reserved bytes";
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(source[4..]);
        if (version != SegmentVersion)
        {
            return $"segment format version {version} is not supported (this build reads version {SegmentVersion})";
        }

        firstIndex = BinaryPrimitives.ReadUInt64LittleEndian(source[8..]);
        return null;
    }

    public static int RecordBytes(int payloadBytes) => RecordHeaderBytes + payloadBytes;

    /// <summary>Encodes one record; <paramref name="destination"/> must hold <see cref="RecordBytes"/>.</summary>
    public static int WriteRecord(Span<byte> destination, in Entry entry)
    {
        var payload = entry.Data.Span;
        var size = RecordBytes(payload.Length);
        var record = destination[..size];
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)payload.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(record[TermOffset..], entry.Term);
        BinaryPrimitives.WriteUInt64LittleEndian(record[IndexOffset..], entry.Index);
        record[TypeOffset] = (byte)entry.Type;
        record[ReservedOffset..RecordHeaderBytes].Clear();
        payload.CopyTo(record[RecordHeaderBytes..]);
        BinaryPrimitives.WriteUInt32LittleEndian(record[CrcOffset..], ComputeCrc(record));
        return size;
    }

    /// <summary>What <see cref="TryReadRecord"/> found at an offset.</summary>
    public enum ReadStatus
    {
        /// <summary>A complete record whose CRC matches.</summary>
        Valid,

        /// <summary>Fewer bytes remain than the header or the declared length needs.</summary>
        Incomplete,

        /// <summary>The declared length is above the configured maximum.</summary>
        TooLong,

        /// <summary>All bytes are present but the CRC does not match, or the type is unknown.</summary>
        BadChecksum,
    }

    /// <summary>
    /// Validates the record at the start of <paramref name="source"/>. On <see cref="ReadStatus.Valid"/>,
    /// <paramref name="recordBytes"/> is its size and the header fields are decoded.
    /// </summary>
    /// <summary>The declared payload length of a record header, before any validation.</summary>
    public static uint PeekLength(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt32LittleEndian(header);

    public static ReadStatus TryReadRecord(
        ReadOnlySpan<byte> source, int entryBytesMax, out int recordBytes, out ulong term, out ulong index, out EntryType type)
    {
        recordBytes = 0;
        term = 0;
        index = 0;
        type = default;
        if (source.Length < RecordHeaderBytes)
        {
            return ReadStatus.Incomplete;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(source);
        if (length > (uint)entryBytesMax)
        {
            return ReadStatus.TooLong;
        }

        var size = RecordBytes((int)length);
        if (source.Length < size)
        {
            return ReadStatus.Incomplete;
        }

        var record = source[..size];
        if (BinaryPrimitives.ReadUInt32LittleEndian(record[CrcOffset..]) != ComputeCrc(record) || record[TypeOffset] > (byte)EntryType.Membership)
        {
            return ReadStatus.BadChecksum;
        }

        recordBytes = size;
        term = BinaryPrimitives.ReadUInt64LittleEndian(record[TermOffset..]);
        index = BinaryPrimitives.ReadUInt64LittleEndian(record[IndexOffset..]);
        type = (EntryType)record[TypeOffset];
        return ReadStatus.Valid;
    }

    /// <summary>The raw index field of a record header, before any validation (used to look for valid records past damage).</summary>
    public static ulong PeekIndex(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt64LittleEndian(header[IndexOffset..]);

    private static uint ComputeCrc(ReadOnlySpan<byte> record)
    {
        var crc = Crc32C.Append(Crc32C.Seed, record[..CrcOffset]);
        return Crc32C.Finish(Crc32C.Append(crc, record[TermOffset..]));
    }
}
