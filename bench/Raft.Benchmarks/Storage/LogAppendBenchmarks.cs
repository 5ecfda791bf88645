using BenchmarkDotNet.Attributes;
using Raft.Core;
using Raft.Storage;

namespace Raft.Benchmarks.Storage;

/// <summary>
/// One operation = append one batch to the file log, then (with <see cref="Fsync"/>) make it durable.
/// The log is compacted as it grows, as snapshots would, so the run measures the steady state and the
/// disk use stays bounded; compaction deletes a whole 64 MiB segment now and then. Setup fills the log
/// to its compaction threshold first, so the in-memory index has reached its steady size before timing.
/// </summary>
[MemoryDiagnoser]
public class LogAppendBenchmarks
{
    private const ulong RetainedEntries = 10_000;

    private Entry[] _batch = [];
    private string _directory = "";
    private FileLogStore? _log;

    [Params(1, 16, 256)]
    public int BatchSize { get; set; }

    [Params(100, 4096)]
    public int PayloadBytes { get; set; }

    [Params(false, true)]
    public bool Fsync { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "raft-bench-" + Guid.NewGuid().ToString("N"));
        _log = FileLogStore.Open(_directory);
        var payload = new byte[PayloadBytes];
        Random.Shared.NextBytes(payload);
        _batch = new Entry[BatchSize];
        for (var i = 0; i < _batch.Length; i++)
        {
            _batch[i] = new Entry(1, 0, EntryType.Command, payload);
        }

        while (_log.FirstIndex == 1)
        {
            AppendBatch(_log);
        }

        _log.Sync();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _log?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark]
    public ulong Append()
    {
        var log = _log!;
        AppendBatch(log);
        return Fsync ? log.Sync() : log.LastIndex;
    }

    private void AppendBatch(FileLogStore log)
    {
        var next = log.LastIndex + 1;
        for (var i = 0; i < _batch.Length; i++)
        {
            _batch[i] = _batch[i] with { Index = next + (ulong)i };
        }

        log.Append(_batch);
        if (log.LastIndex - log.FirstIndex > 2 * RetainedEntries)
        {
            log.CompactPrefix(log.LastIndex - RetainedEntries);
        }
    }
}
