using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using BenchmarkDotNet.Attributes;
using Raft.Core;
using Raft.Transport;

namespace Raft.Benchmarks.Transport;

/// <summary>
/// One operation = encode or decode one Append of <see cref="EntryCount"/> entries of 100 B. Decoding copies the
/// body once into an array the entries slice and allocates the entry array: the core keeps received entries in
/// its log, so they cannot live in reused receive buffers. Encoding allocates nothing.
/// </summary>
[MemoryDiagnoser]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet owns the lifetime: [GlobalCleanup] disposes the writer.")]
public class AppendCodecBenchmarks
{
    private const int PayloadBytes = 100;

    private readonly FrameLimits _limits = FrameLimits.Default;
    private Message _append;
    private PooledBufferWriter _writer = null!;
    private byte[] _frame = [];

    [Params(1, 16, 256)]
    public int EntryCount { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var payload = new byte[PayloadBytes];
        new Random(42).NextBytes(payload);
        var entries = new Entry[EntryCount];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = new Entry(12, 1001 + (ulong)i, EntryType.Command, payload);
        }

        _append = new Message { Type = MessageType.Append, From = 1, To = 2, Term = 12, Index = 1000, LogTerm = 12, Commit = 999, Entries = entries };
        _writer = new PooledBufferWriter(64 * 1024);
        FrameCodec.Write(_writer, _append, _limits);
        _frame = _writer.WrittenSpan.ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _writer.Dispose();

    [Benchmark]
    public int Encode()
    {
        _writer.Reset();
        return FrameCodec.Write(_writer, _append, _limits);
    }

    [Benchmark]
    public Message Decode()
    {
        var buffer = new ReadOnlySequence<byte>(_frame);
        FrameCodec.TryReadMessage(ref buffer, _limits, out var message);
        return message;
    }
}
