namespace Raft.FailoverBench.Harness;

/// <summary>
/// The values the scale mode writes: a function of the key and the write's sequence number, of any length, so a
/// value can be checked when read back without keeping what was written. Printable ASCII (one byte per char in UTF-8)
/// drawn from a seeded generator, so neither store gets to compress it.
/// </summary>
internal static class ScaleValues
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    public static string Value(string key, long seq, int bytes)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var state = Fnv1a(key) ^ ((ulong)seq * 0x9E37_79B9_7F4A_7C15UL);
        return string.Create(bytes, state == 0 ? 1 : state, static (chars, seed) =>
        {
            var s = seed;
            var i = 0;
            while (i < chars.Length)
            {
                // xorshift64*: ten 6-bit letters from each step.
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                var bits = s * 0x2545_F491_4F6C_DD1DUL;
                for (var k = 0; k < 10 && i < chars.Length; k++, i++)
                {
                    chars[i] = Alphabet[(int)(bits & 63)];
                    bits >>= 6;
                }
            }
        });
    }

    /// <summary>How many values of <paramref name="valueBytes"/> make <paramref name="dataMib"/> MiB, the last one counted whole.</summary>
    public static long KeysFor(int dataMib, int valueBytes) => (((long)dataMib << 20) + valueBytes - 1) / valueBytes;

    /// <summary>Bytes per second as MiB/s; null without a positive duration.</summary>
    public static double? MibPerSecond(long bytes, double seconds) => seconds > 0 ? bytes / (double)(1 << 20) / seconds : null;

    private static ulong Fnv1a(string text)
    {
        var hash = 14_695_981_039_346_656_037UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1_099_511_628_211UL;
        }

        return hash;
    }
}
