using BenchmarkDotNet.Attributes;
using Raft.Core;
using Raft.KeyValue;

namespace Raft.Benchmarks.KeyValue;

/// <summary>
/// Capturing an image of a store of 1,000,000 keys on the node's thread: <see cref="Capture"/> alone (the tree is
/// frozen in O(1); sessions are copied), and <see cref="CaptureThenPut"/>, a capture followed by a put over an
/// existing key, whose write copies the leaf and branches on its path: what the first write to a part of the tree
/// after each capture costs.
/// </summary>
[MemoryDiagnoser]
public class KvCaptureImageBenchmarks
{
    private const int Keys = 1_000_000;

    private KvStore _store = null!;
    private byte[] _command = [];
    private ulong _index;

    /// <summary>Client sessions the store remembers (10,000 is the default SessionsMax).</summary>
    [Params(0, 10_000)]
    public int Sessions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _store = KvBenchmarkStore.Create(Keys, Sessions, out _index);
        _command = KvCommandCodec.EncodePut(KvBenchmarkStore.Key(2L * 4_242), new byte[KvBenchmarkStore.ValueBytes]);
    }

    [Benchmark]
    public ulong Capture()
    {
        using var image = _store.CaptureImage();
        return image.Index;
    }

    [Benchmark]
    public ulong CaptureThenPut()
    {
        using var image = _store.CaptureImage();
        return _store.Apply(++_index, _command).Version - image.Index;
    }
}

/// <summary>
/// Moving an image of a store of 1,000,000 keys with 100-byte values (about 136 MB): <see cref="Stream"/> reads a
/// captured image's stream to its end in 64 KiB reads, as a snapshot writer or sender would; <see cref="Load"/>
/// reads those bytes back into a new image, as a node receiving a snapshot would. MB/s = image bytes / time.
/// </summary>
[MemoryDiagnoser]
public class KvImageStreamBenchmarks
{
    private const int Keys = 1_000_000;

    private readonly byte[] _buffer = new byte[64 * 1024];
    private KvStore _store = null!;
    private IStateMachineImage _image = null!;
    private byte[] _bytes = [];

    [GlobalSetup]
    public void Setup()
    {
        _store = KvBenchmarkStore.Create(Keys, 0, out _);
        _image = _store.CaptureImage();
        _bytes = _store.CreateSnapshot();
        Console.WriteLine($"// image of {Keys:N0} keys: {_bytes.Length:N0} bytes");
    }

    [GlobalCleanup]
    public void Cleanup() => _image.Dispose();

    [Benchmark]
    public long Stream()
    {
        using var stream = _image.OpenRead();
        long total = 0;
        for (var read = stream.Read(_buffer); read > 0; read = stream.Read(_buffer))
        {
            total += read;
        }

        return total;
    }

    [Benchmark]
    public ulong Load()
    {
        using var image = _store.LoadImage(new MemoryStream(_bytes, writable: false));
        return image.Index;
    }
}
