using BenchmarkDotNet.Attributes;
using Raft.Core;

namespace Raft.Benchmarks.Transport;

/// <summary>
/// One operation = encode or decode one Append of <see cref="EntryCount"/> entries of 100 B. Decoding copies the
/// body once into an array the entries slice and allocates the entry array: the core keeps received entries in
/// its log, so they cannot live in reused receive buffers. Encoding allocates nothing.
/// </summary>
[MemoryDiagnoser]
public class AppendCodecBenchmarks : FrameCodecBenchmarks
{
    private const int PayloadBytes = 100;

    [Params(1, 16, 256)]
    public int EntryCount { get; set; }

    protected override Message CreateMessage()
    {
        var payload = new byte[PayloadBytes];
        new Random(42).NextBytes(payload);
        var entries = new Entry[EntryCount];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = new Entry(12, 1001 + (ulong)i, EntryType.Command, payload);
        }

        return new Message { Type = MessageType.Append, From = 1, To = 2, Term = 12, Index = 1000, LogTerm = 12, Commit = 999, Entries = entries };
    }
}
