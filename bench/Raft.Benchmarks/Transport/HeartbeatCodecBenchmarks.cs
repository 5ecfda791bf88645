using BenchmarkDotNet.Attributes;
using Raft.Core;

namespace Raft.Benchmarks.Transport;

/// <summary>One operation = encode or decode one 48-byte Heartbeat frame, the most frequent message between peers.</summary>
[MemoryDiagnoser]
public class HeartbeatCodecBenchmarks : FrameCodecBenchmarks
{
    protected override Message CreateMessage() =>
        new() { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 12, Commit = 40_000, Context = 77 };
}
