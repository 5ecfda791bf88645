using System.Globalization;
using Raft.KeyValue;

namespace Raft.Benchmarks.KeyValue;

/// <summary>
/// Managed bytes per key of a <see cref="KvStore"/> holding 1,000,000 keys ("key/0000123456") with 100-byte
/// values: <see cref="GC.GetTotalMemory(bool)"/> after a full collection, before and after loading. Loaded twice:
/// by applying puts in a shuffled (fixed-seed) order, as a live store fills, and by restoring a snapshot of it, as
/// a node that installs one does. The per-key figure includes the key string (56 bytes) and the value array
/// (128 bytes), which every structure must hold; the rest is the structure's own overhead.
/// </summary>
internal static class KvMemoryFootprint
{
    private const int Keys = 1_000_000;
    private const int ValueBytes = KvBenchmarkStore.ValueBytes;
    private const long KeyStringBytes = 56;
    private const long ValueArrayBytes = 128;

    public static void Run(TextWriter output)
    {
        var order = KvBenchmarkStore.Shuffled(Keys, seed: 1);
        var value = new byte[ValueBytes];

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var applied = new KvStore();
        ulong index = 0;
        foreach (var i in order)
        {
            applied.Apply(++index, KvCommandCodec.EncodePut(KvBenchmarkStore.Key(i), value));
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        Report(output, "applied in shuffled order", after - before);

        var snapshot = applied.CreateSnapshot();
        applied = null;
        before = GC.GetTotalMemory(forceFullCollection: true);
        var restored = new KvStore();
        restored.RestoreSnapshot(snapshot);
        after = GC.GetTotalMemory(forceFullCollection: true);
        Report(output, "restored from a snapshot", after - before);
        GC.KeepAlive(snapshot);
        GC.KeepAlive(restored);
    }

    private static void Report(TextWriter output, string how, long bytes)
    {
        var perKey = (double)bytes / Keys;
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{Keys:N0} keys, {ValueBytes}-byte values, {how}: {bytes / (1024.0 * 1024.0):F1} MiB, {perKey:F1} bytes per key ({perKey - KeyStringBytes - ValueArrayBytes:F1} beyond the key string and the value array)"));
    }
}
