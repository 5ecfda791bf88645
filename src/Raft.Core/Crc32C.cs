using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Raft.Core;

/// <summary>
/// CRC-32C (Castagnoli), seeded with all ones and inverted at the end, computed with the instruction behind
/// <see cref="BitOperations.Crc32C(uint, ulong)"/>. One function for log records, hard state, snapshots and
/// peer frames, so they are all checked the same way.
/// </summary>
/// <remarks>
/// Unlike a zero-seeded CRC, a run of zero bytes does not checksum to zero, so a zero-filled region (what a
/// file system can expose after a power loss) never passes as a valid record whose stored CRC is also zero.
/// </remarks>
public static class Crc32C
{
    public const uint Seed = 0xFFFF_FFFF;

    /// <summary>The finished CRC of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(Seed, data));

    /// <summary>Folds <paramref name="data"/> into a running (unfinished) CRC; call <see cref="Finish"/> once at the end.</summary>
    /// <remarks>
    /// Compiled optimized from its first call: a snapshot of a GiB is checked in a few thousand calls of a MiB each,
    /// too few for tiered compilation to replace the unoptimized loop before most of the bytes went through it.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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

    /// <summary>Turns a running CRC into the stored value.</summary>
    public static uint Finish(uint crc) => ~crc;
}
