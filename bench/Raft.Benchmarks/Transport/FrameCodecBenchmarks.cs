using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using BenchmarkDotNet.Attributes;
using Raft.Core;
using Raft.Transport;

namespace Raft.Benchmarks.Transport;

/// <summary>
/// The two codec operations every message type is measured by: encode <see cref="CreateMessage"/> into a pooled
/// writer that has grown to hold it (as a peer's send queue has), and decode its frame from one contiguous buffer.
/// </summary>
[MemoryDiagnoser]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet owns the lifetime: [GlobalCleanup] disposes the writer.")]
public abstract class FrameCodecBenchmarks
{
    private readonly FrameLimits _limits = FrameLimits.Default;
    private Message _message;
    private PooledBufferWriter _writer = null!;
    private byte[] _frame = [];

    [GlobalSetup]
    public void Setup()
    {
        _message = CreateMessage();
        _writer = new PooledBufferWriter(4096);
        FrameCodec.Write(_writer, _message, _limits);
        _frame = _writer.WrittenSpan.ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _writer.Dispose();

    [Benchmark]
    public int Encode()
    {
        _writer.Reset();
        return FrameCodec.Write(_writer, _message, _limits);
    }

    [Benchmark]
    public Message Decode()
    {
        var buffer = new ReadOnlySequence<byte>(_frame);
        FrameCodec.TryReadMessage(ref buffer, _limits, out var message);
        return message;
    }

    /// <summary>The message measured; called once, after BenchmarkDotNet has set the parameters.</summary>
    protected abstract Message CreateMessage();
}
