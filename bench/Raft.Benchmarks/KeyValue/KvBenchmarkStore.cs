using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using Raft.KeyValue;

namespace Raft.Benchmarks.KeyValue;

/// <summary>
/// The store the key-value benchmarks run on: keys "key/0000123456" (key numbers 2i, so the odd numbers between
/// them are free for new keys) with 100-byte values, put in a shuffled (fixed-seed) order as a live store fills.
/// </summary>
internal static class KvBenchmarkStore
{
    public const int ValueBytes = 100;

    /// <summary>Where the ten digits of a key start in a put without time or session.</summary>
    public const int KeyDigitsOffset = KvCommandCodec.HeaderBytes + 4;

    public static string Key(long number) => "key/" + number.ToString("D10", CultureInfo.InvariantCulture);

    /// <summary>A store holding <paramref name="keys"/> keys and <paramref name="sessions"/> client sessions.</summary>
    public static KvStore Create(int keys, int sessions, out ulong appliedIndex)
    {
        var store = new KvStore(new KvStoreOptions { SessionsMax = Math.Max(1, sessions) });
        var value = new byte[ValueBytes];
        ulong index = 0;
        foreach (var i in Shuffled(keys, seed: 1))
        {
            store.Apply(++index, KvCommandCodec.EncodePut(Key(2L * i), value));
        }

        for (var i = 0; i < sessions; i++)
        {
            var command = KvCommandCodec.EncodePut(Key(0), value, null, new KvSession($"client-{i}", 1));
            KvCommandCodec.TryStampTime(command, 1_700_000_000_000);
            store.Apply(++index, command);
        }

        appliedIndex = index;
        return store;
    }

    /// <summary>0 to count - 1 in a fixed-seed random order.</summary>
    public static int[] Shuffled(int count, int seed)
    {
        var order = new int[count];
        for (var i = 0; i < count; i++)
        {
            order[i] = i;
        }

        new Random(seed).Shuffle(order);
        return order;
    }

    /// <summary>Writes a key number's ten digits into an encoded put of <see cref="Key"/>.</summary>
    public static void SetKeyNumber(byte[] command, long number)
    {
        if (!Utf8Formatter.TryFormat(number, command.AsSpan(KeyDigitsOffset, 10), out _, new StandardFormat('D', 10)))
        {
            throw new ArgumentOutOfRangeException(nameof(number), number, "more than ten digits");
        }
    }
}
