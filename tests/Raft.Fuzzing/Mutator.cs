using System.Buffers.Binary;

namespace Raft.Fuzzing;

/// <summary>The ways a <see cref="Mutator"/> damages a sample; a case's description names the ones it applied.</summary>
public enum Mutation
{
    BitFlip,
    ByteSet,
    BoundaryInteger,
    FieldEdit,
    Truncate,
    Insert,
    Delete,
    Duplicate,
    Splice,
    Concatenate,
}

/// <summary>
/// Damages valid encodings the way broken peers, torn disks and hostile clients do: flipped bits, changed bytes,
/// truncation at every length class, insertions and deletions, lengths and counts set to boundary integers, and
/// splices of two encodings. Deterministic: the same <see cref="Random"/> state gives the same bytes.
/// </summary>
public static class Mutator
{
    private static readonly byte[] InterestingBytes = [0x00, 0x01, 0x02, 0x7F, 0x80, 0x81, 0xFE, 0xFF, (byte)'"', (byte)'{', (byte)'}', (byte)'\\'];

    /// <summary>
    /// One case's input: mostly <paramref name="sample"/> with one to four mutations stacked, now and then the sample
    /// unchanged (so the decoder's success path and its round trip are checked too). <paramref name="another"/> makes
    /// a second sample to splice with; <paramref name="reseal"/>, when the format has one, rewrites checksums (and the
    /// lengths they cover) in half the mutated cases, so that damage reaches the checks behind them.
    /// </summary>
    public static byte[] Mutate(FuzzSample sample, Random random, Func<FuzzSample> another, Func<byte[], byte[]>? reseal, List<Mutation> applied)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(another);
        ArgumentNullException.ThrowIfNull(applied);
        if (random.Next(16) == 0)
        {
            return (byte[])sample.Bytes.Clone();
        }

        var bytes = new List<byte>(sample.Bytes);
        var fields = sample.Fields;
        var count = 1 + (random.Next(8) switch { < 4 => 0, < 6 => 1, 6 => 2, _ => 3 });
        for (var i = 0; i < count; i++)
        {
            var mutation = (Mutation)random.Next(Enum.GetValues<Mutation>().Length);
            applied.Add(mutation);
            Apply(mutation, bytes, fields, random, another);
        }

        var result = bytes.ToArray();
        return reseal is not null && random.Next(2) == 0 ? reseal(result) : result;
    }

    private static void Apply(Mutation mutation, List<byte> bytes, List<FuzzField> fields, Random random, Func<FuzzSample> another)
    {
        switch (mutation)
        {
            case Mutation.BitFlip when bytes.Count > 0:
                for (var flips = 1 + random.Next(4); flips > 0; flips--)
                {
                    var bit = random.Next(bytes.Count * 8);
                    bytes[bit / 8] ^= (byte)(1 << (bit % 8));
                }

                break;
            case Mutation.ByteSet when bytes.Count > 0:
                bytes[random.Next(bytes.Count)] = random.Next(2) == 0 ? InterestingBytes[random.Next(InterestingBytes.Length)] : (byte)random.Next(256);
                break;
            case Mutation.BoundaryInteger when bytes.Count > 0:
                var width = 1 << random.Next(4);
                WriteInteger(bytes, random.Next(Math.Max(1, bytes.Count - width + 1)), width, Boundary(random, width, bytes.Count));
                break;
            case Mutation.FieldEdit when fields.Count > 0:
                var field = fields[random.Next(fields.Count)];
                if (field.Offset + field.Width <= bytes.Count)
                {
                    var current = ReadInteger(bytes, field.Offset, field.Width);
                    var value = random.Next(3) == 0 ? current + (ulong)random.Next(-2, 3) : Boundary(random, field.Width, bytes.Count);
                    WriteInteger(bytes, field.Offset, field.Width, value);
                }

                break;
            case Mutation.Truncate:
                Truncate(bytes, random);
                break;
            case Mutation.Insert:
                var at = random.Next(bytes.Count + 1);
                var inserted = new byte[1 + random.Next(random.Next(2) == 0 ? 4 : 64)];
                random.NextBytes(inserted);
                bytes.InsertRange(at, inserted);
                break;
            case Mutation.Delete when bytes.Count > 0:
                var start = random.Next(bytes.Count);
                bytes.RemoveRange(start, 1 + random.Next(Math.Min(bytes.Count - start, random.Next(2) == 0 ? 4 : 64)));
                break;
            case Mutation.Duplicate when bytes.Count > 0:
                var from = random.Next(bytes.Count);
                var run = bytes.GetRange(from, 1 + random.Next(Math.Min(bytes.Count - from, 64)));
                bytes.InsertRange(random.Next(bytes.Count + 1), run);
                break;
            case Mutation.Splice:
                var other = another().Bytes;
                var keep = random.Next(bytes.Count + 1);
                bytes.RemoveRange(keep, bytes.Count - keep);
                bytes.AddRange(other.AsSpan(random.Next(other.Length + 1)));
                break;
            case Mutation.Concatenate:
                bytes.AddRange(another().Bytes);
                break;
            default:
                // The mutation needs bytes the input no longer has: flip what there is instead.
                if (bytes.Count > 0)
                {
                    bytes[random.Next(bytes.Count)] ^= 0xFF;
                }

                break;
        }
    }

    // Cuts at a length drawn from every class: nothing, one byte, inside a short header, one byte short, halfway, anywhere.
    private static void Truncate(List<byte> bytes, Random random)
    {
        var length = bytes.Count == 0 ? 0 : TruncatedLength(random, bytes.Count);
        bytes.RemoveRange(length, bytes.Count - length);
    }

    private static int TruncatedLength(Random random, int length) => random.Next(6) switch
    {
        0 => 0,
        1 => Math.Min(1, length),
        2 => random.Next(Math.Min(length, 40) + 1),
        3 => Math.Max(0, length - 1),
        4 => length / 2,
        _ => random.Next(length + 1),
    };

    /// <summary>An integer of <paramref name="width"/> bytes that decoders get wrong: 0, 1, all ones, the signed limits, the input's length and its neighbours.</summary>
    public static ulong Boundary(Random random, int width, int inputLength)
    {
        ArgumentNullException.ThrowIfNull(random);
        var bits = 8 * width;
        var all = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        var value = random.Next(12) switch
        {
            0 => 0UL,
            1 => 1UL,
            2 => all,
            3 => all - 1,
            4 => all >> 1,
            5 => (all >> 1) + 1,
            6 => (ulong)inputLength,
            7 => (ulong)inputLength + 1,
            8 => (ulong)Math.Max(0, inputLength - 1),
            9 => 1UL << random.Next(bits),
            10 => (ulong)random.Next(256),
            _ => (ulong)random.NextInt64() & all,
        };
        return value & all;
    }

    private static ulong ReadInteger(List<byte> bytes, int offset, int width)
    {
        Span<byte> scratch = stackalloc byte[8];
        scratch.Clear();
        for (var i = 0; i < width; i++)
        {
            scratch[i] = bytes[offset + i];
        }

        return BinaryPrimitives.ReadUInt64LittleEndian(scratch);
    }

    private static void WriteInteger(List<byte> bytes, int offset, int width, ulong value)
    {
        Span<byte> scratch = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(scratch, value);
        for (var i = 0; i < width && offset + i < bytes.Count; i++)
        {
            bytes[offset + i] = scratch[i];
        }
    }
}
