using BenchmarkDotNet.Attributes;
using Raft.KeyValue;

namespace Raft.Benchmarks.KeyValue;

/// <summary>
/// One operation = apply a put of a key the store does not hold, at a random place among 1,000,000 keys: decode,
/// descend, insert into a leaf (splitting it when full), allocate the key's string and the value's copy. Each
/// iteration puts the same 100,000 new keys in the same order into a store built afresh before it (untimed), the
/// same way each time, so every iteration meets the same tree and splits its leaves as a growing store does.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(NewKeys)]
public class KvPutNewKeyBenchmarks
{
    private const int Keys = 1_000_000;
    private const int NewKeys = 100_000;

    private KvStore _store = null!;
    private long[] _newKeys = [];
    private byte[] _put = [];
    private ulong _index;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _newKeys = Array.ConvertAll(KvBenchmarkStore.Shuffled(Keys, seed: 3)[..NewKeys], i => (2L * i) + 1);
        _put = KvCommandCodec.EncodePut(KvBenchmarkStore.Key(0), new byte[KvBenchmarkStore.ValueBytes]);
    }

    [IterationSetup]
    public void BuildTheStore()
    {
        _store = null!;
        _store = KvBenchmarkStore.Create(Keys, 0, out _index);
        _next = 0;
    }

    [Benchmark]
    public ulong PutNewKey()
    {
        KvBenchmarkStore.SetKeyNumber(_put, _newKeys[_next++]);
        return _store.Apply(++_index, _put).CreateIndex;
    }
}
