using BenchmarkDotNet.Attributes;
using Raft.Core;

namespace Raft.Benchmarks.Transport;

/// <summary>
/// One operation = encode or decode one SnapshotChunk of 1 MiB, the unit a snapshot streams in. Decoding copies
/// the body once into an array the chunk's data slices (the node driver keeps it until it is written), so it
/// allocates that array and nothing else; encoding copies the data into the peer's buffer and allocates nothing.
/// </summary>
[MemoryDiagnoser]
public class SnapshotChunkCodecBenchmarks : FrameCodecBenchmarks
{
    private const int ChunkBytes = 1024 * 1024;

    protected override Message CreateMessage()
    {
        var data = new byte[ChunkBytes];
        new Random(42).NextBytes(data);
        return new Message
        {
            Type = MessageType.SnapshotChunk, From = 1, To = 2, Term = 12, Index = 40_000, LogTerm = 11,
            Offset = 3 * (ulong)ChunkBytes, TotalBytes = 64 * (ulong)ChunkBytes, Checksum = Crc32C.Compute(data), Data = data,
        };
    }
}
