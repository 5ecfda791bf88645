using System.Buffers.Binary;
using System.Numerics;

namespace Raft.Storage;

/// <summary>
/// CRC-32C (Castagnoli) over spans, using the hardware instruction behind <see cref="BitOperations.Crc32C(uint, ulong)"/>.
/// </summary>
/// <remarks>
/// Standard form: seeded with all ones and inverted at the end. Unlike a zero-seeded CRC, a run of zero
/// bytes does not checksum to zero, so a zero-filled region (what a file system can expose after a
/// power loss) never passes as a valid record whose stored CRC is also zero.
/// </remarks>
internal static class Crc32C
{
    public const uint Seed = 0xFFFF_FFFF;

    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(Seed, data));

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

    public static uint Finish(uint crc) => ~crc;
}
