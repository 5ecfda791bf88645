using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Raft.KeyValue;

namespace Raft.Benchmarks.KeyValue;

/// <summary>
/// One operation = the lock-acquisition hot path on a replica: decode an acquire command, check the holder and
/// the client session, apply it (the holder acquiring again renews its lease), and encode the answer as the JSON
/// the API sends. The store holds 10,000 other locks and sessions, so lookups run against realistic tables.
/// </summary>
[MemoryDiagnoser]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet owns the lifetime; the writer holds no unmanaged state.")]
public class LockAcquireBenchmarks
{
    private const int OtherLocks = 10_000;

    private readonly ArrayBufferWriter<byte> _answer = new(256);
    private KvStore _store = null!;
    private byte[] _command = [];
    private int _sequenceOffset;
    private ulong _index;
    private ulong _sequence;
    private long _timeMs;
    private Utf8JsonWriter _json = null!;

    /// <summary>With a client session (X-Client-Id / X-Client-Seq), as the .NET client sends every write.</summary>
    [Params(false, true)]
    public bool Session { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _store = new KvStore();
        _timeMs = 1_700_000_000_000;
        for (var i = 0; i < OtherLocks; i++)
        {
            Apply(KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, $"lock-{i}", $"owner-{i}", 60_000, new KvSession($"client-{i}", 1)));
        }

        var session = Session ? new KvSession("client-bench", 1) : default;
        _command = KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "jobs/nightly-report", "worker-42", 30_000, session);
        _sequenceOffset = Session ? KvCommandCodec.HeaderBytes + 8 + "jobs/nightly-report".Length + 1 + "client-bench".Length : -1;
        _sequence = 1;
        Apply(_command);
        _json = new Utf8JsonWriter(_answer);
    }

    [Benchmark]
    public int Acquire()
    {
        if (_sequenceOffset >= 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_command.AsSpan(_sequenceOffset), ++_sequence);
        }

        KvCommandCodec.TryStampTime(_command, ++_timeMs);
        var result = _store.Apply(++_index, _command);
        _answer.ResetWrittenCount();
        _json.Reset(_answer);
        LockAnswer.Write(_json, "jobs/nightly-report", "worker-42", result);
        return _answer.WrittenCount;
    }

    private void Apply(byte[] command)
    {
        KvCommandCodec.TryStampTime(command, _timeMs);
        _store.Apply(++_index, command);
    }
}

/// <summary>The lock API's JSON answer, written without allocating: <c>{name, owner, fencingToken, expiresAtMs}</c>.</summary>
internal static class LockAnswer
{
    public static void Write(Utf8JsonWriter json, string name, string owner, in KvApplyResult result)
    {
        json.WriteStartObject();
        json.WriteString("name"u8, name);
        json.WriteString("owner"u8, owner);
        json.WriteNumber("fencingToken"u8, result.FencingToken);
        json.WriteNumber("expiresAtMs"u8, result.ExpiresAtMs);
        json.WriteEndObject();
        json.Flush();
    }
}
