using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using BenchmarkDotNet.Attributes;
using Raft.Core;
using Raft.Transport;

namespace Raft.Benchmarks.Transport;

/// <summary>One operation = encode or decode one 48-byte Heartbeat frame, the most frequent message between peers.</summary>
[MemoryDiagnoser]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet owns the lifetime: [GlobalCleanup] disposes the writer.")]
public class HeartbeatCodecBenchmarks
{
    private readonly FrameLimits _limits = FrameLimits.Default;
    private Message _heartbeat;
    private PooledBufferWriter _writer = null!;
    private byte[] _frame = [];

    [GlobalSetup]
    public void Setup()
    {
        _heartbeat = new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 12, Commit = 40_000, Context = 77 };
        _writer = new PooledBufferWriter(4096);
        FrameCodec.Write(_writer, _heartbeat, _limits);
        _frame = _writer.WrittenSpan.ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _writer.Dispose();

    [Benchmark]
    public int Encode()
    {
        _writer.Reset();
        return FrameCodec.Write(_writer, _heartbeat, _limits);
    }

    [Benchmark]
    public Message Decode()
    {
        var buffer = new ReadOnlySequence<byte>(_frame);
        FrameCodec.TryReadMessage(ref buffer, _limits, out var message);
        return message;
    }
}
