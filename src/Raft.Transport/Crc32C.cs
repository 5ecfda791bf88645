using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;

namespace Raft.Transport;

/// <summary>
/// CRC-32C (Castagnoli), seeded with all ones and inverted at the end, computed with the instruction behind
/// <see cref="BitOperations.Crc32C(uint, ulong)"/>. The same function the write-ahead log uses, so a frame
/// and a log record are checked the same way.
/// </summary>
internal static class Crc32C
{
    public const uint Seed = 0xFFFF_FFFF;

    /// <summary>Folds <paramref name="data"/> into a running (unfinished) CRC; call <see cref="Finish"/> once at the end.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        if (data.Length >= 4)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt32LittleEndian(data));
            data = data[4..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }

    /// <summary>
    /// Folds a (possibly multi-segment) sequence into a running CRC. The result equals folding the bytes as one
    /// span: CRC-32C is a byte-serial function, so splitting its input anywhere does not change it.
    /// </summary>
    public static uint Append(uint crc, in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment)
        {
            return Append(crc, data.FirstSpan);
        }

        foreach (var segment in data)
        {
            crc = Append(crc, segment.Span);
        }

        return crc;
    }

    public static uint Finish(uint crc) => ~crc;
}
