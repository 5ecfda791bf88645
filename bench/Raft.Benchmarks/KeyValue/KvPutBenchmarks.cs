using BenchmarkDotNet.Attributes;
using Raft.KeyValue;

namespace Raft.Benchmarks.KeyValue;

/// <summary>
/// One operation = apply a put over an existing key (decode, look the key up in the tree, copy the 100-byte value),
/// or read one key, in a store of 1,000,000 keys. Keys are taken in a fixed random order, so each operation walks a
/// different path of the tree. No image is captured: nodes are written in place.
/// </summary>
[MemoryDiagnoser]
public class KvPutBenchmarks
{
    private const int Keys = 1_000_000;

    private KvStore _store = null!;
    private int[] _order = [];
    private string[] _keys = [];
    private byte[] _command = [];
    private ulong _index;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _store = KvBenchmarkStore.Create(Keys, 0, out _index);
        _order = KvBenchmarkStore.Shuffled(Keys, seed: 2);
        _keys = Array.ConvertAll(_order, i => KvBenchmarkStore.Key(2L * i));
        _command = KvCommandCodec.EncodePut(KvBenchmarkStore.Key(0), new byte[KvBenchmarkStore.ValueBytes]);
    }

    [Benchmark]
    public ulong PutExistingKey()
    {
        KvBenchmarkStore.SetKeyNumber(_command, 2L * _order[Next()]);
        return _store.Apply(++_index, _command).CreateIndex;
    }

    [Benchmark]
    public ulong Get() => _store.TryGet(_keys[Next()], out var value) ? value.Version : 0;

    private int Next() => _next = _next + 1 == Keys ? 0 : _next + 1;
}
