using System.Diagnostics.CodeAnalysis;
using BenchmarkDotNet.Attributes;
using Raft.Core;
using Raft.Storage;

namespace Raft.Benchmarks.Storage;

/// <summary>
/// One operation = read a range of <see cref="Count"/> entries (what a leader does to fill an AppendEntries),
/// from the file log (positional read from the page cache + CRC check) and from the in-memory log.
/// </summary>
[MemoryDiagnoser]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet owns the lifetime: [GlobalCleanup] disposes the logs.")]
public class LogReadBenchmarks
{
    private const int EntryCount = 10_000;

    private string _directory = "";
    private FileLogStore? _file;
    private MemoryLogStore? _memory;
    private ulong _next;

    [Params(16, 256)]
    public int Count { get; set; }

    [Params(100, 4096)]
    public int PayloadBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "raft-bench-" + Guid.NewGuid().ToString("N"));
        _file = FileLogStore.Open(_directory);
        _memory = new MemoryLogStore();
        var payload = new byte[PayloadBytes];
        Random.Shared.NextBytes(payload);
        var entries = new Entry[EntryCount];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = new Entry(1, (ulong)i + 1, EntryType.Command, payload);
        }

        _file.Append(entries);
        _file.Sync();
        _memory.Append(entries);
        _next = 1;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _file?.Dispose();
        _memory?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true)]
    public int ReadFile() => Read(_file!);

    [Benchmark]
    public int ReadMemory() => Read(_memory!);

    private int Read(ILogStore log)
    {
        // Walk the log so that successive reads touch different records, wrapping at the end.
        var first = _next;
        if (first + (ulong)Count - 1 > EntryCount)
        {
            first = 1;
        }

        _next = first + (ulong)Count;
        using var read = log.Read(first, first + (ulong)Count - 1, long.MaxValue);
        return read.Count;
    }
}
