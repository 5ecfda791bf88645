using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using BenchmarkDotNet.Attributes;
using Raft.Core;
using Raft.Transport;

namespace Raft.Benchmarks.Transport;

/// <summary>
/// The two codec operations every message type is measured by: encode <see cref="CreateMessage"/> into a pooled
/// writer that has grown to hold it (as a peer's send queue has), and decode its frame from one contiguous buffer;
/// and the same two with MessagePack (<see cref="MessagePackFrames"/>) into a reused <see cref="ArrayBufferWriter{T}"/>,
/// so both codecs sit in one table; the Checked pair adds the CRC32C our frames carry (over MessagePack's bytes,
/// computed on encode and verified on decode), so the checksum's share of the difference shows. Setup checks that
/// both codecs decode to the message encoded.
/// </summary>
[MemoryDiagnoser]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet owns the lifetime: [GlobalCleanup] disposes the writer.")]
public abstract class FrameCodecBenchmarks
{
    private readonly FrameLimits _limits = FrameLimits.Default;
    private Message _message;
    private PooledBufferWriter _writer = null!;
    private byte[] _frame = [];
    private readonly ArrayBufferWriter<byte> _packWriter = new(4096);
    private byte[] _packed = [];
    private uint _packedCrc;

    [GlobalSetup]
    public void Setup()
    {
        _message = CreateMessage();
        _writer = new PooledBufferWriter(4096);
        FrameCodec.Write(_writer, _message, _limits);
        _frame = _writer.WrittenSpan.ToArray();
        MessagePackFrames.Write(_packWriter, _message);
        _packed = _packWriter.WrittenSpan.ToArray();
        _packedCrc = Crc32C.Compute(_packed);
        CheckSame(_message, Decode(), "FrameCodec");
        CheckSame(_message, MessagePackDecode(), "MessagePack");
        CheckSame(_message, MessagePackDecodeChecked(), "MessagePack");
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

    [Benchmark]
    public int MessagePackEncode()
    {
        _packWriter.ResetWrittenCount();
        MessagePackFrames.Write(_packWriter, _message);
        return _packWriter.WrittenCount;
    }

    [Benchmark]
    public Message MessagePackDecode() => MessagePackFrames.Read(new ReadOnlySequence<byte>(_packed));

    [Benchmark]
    public uint MessagePackEncodeChecked()
    {
        MessagePackEncode();
        return Crc32C.Compute(_packWriter.WrittenSpan);
    }

    [Benchmark]
    public Message MessagePackDecodeChecked() => Crc32C.Compute(_packed) == _packedCrc
        ? MessagePackDecode()
        : throw new InvalidOperationException("checksum mismatch");

    /// <summary>The message measured; called once, after BenchmarkDotNet has set the parameters.</summary>
    protected abstract Message CreateMessage();

    private static void CheckSame(in Message expected, in Message actual, string codec)
    {
        var same = expected.Type == actual.Type && expected.Flags == actual.Flags && expected.From == actual.From && expected.To == actual.To
            && expected.Term == actual.Term && expected.LogTerm == actual.LogTerm && expected.Index == actual.Index
            && expected.Commit == actual.Commit && expected.Context == actual.Context && expected.Offset == actual.Offset
            && expected.TotalBytes == actual.TotalBytes && expected.Checksum == actual.Checksum
            && expected.Data.Span.SequenceEqual(actual.Data.Span) && expected.Entries.Length == actual.Entries.Length;
        for (var i = 0; same && i < expected.Entries.Length; i++)
        {
            var (e, a) = (expected.Entries.Span[i], actual.Entries.Span[i]);
            same = e.Term == a.Term && e.Index == a.Index && e.Type == a.Type && e.Data.Span.SequenceEqual(a.Data.Span);
        }

        if (!same)
        {
            throw new InvalidOperationException($"{codec} decoded {actual}, not the {expected} it was given");
        }
    }
}
