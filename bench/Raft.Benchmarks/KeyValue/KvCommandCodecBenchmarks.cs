using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using BenchmarkDotNet.Attributes;
using MessagePack;
using Raft.KeyValue;

namespace Raft.Benchmarks.KeyValue;

/// <summary>
/// One operation = encode one key-value command into the array that becomes its log entry's payload, or decode it
/// into its fields (spans over the payload, nothing copied), with <see cref="KvCommandCodec"/> and with MessagePack
/// 2.5's <see cref="MessagePackWriter"/> (into a reused <see cref="ArrayBufferWriter{T}"/>, then copied out to the
/// payload array) and <see cref="MessagePackReader"/>. The MessagePack form is one array of the same fields:
/// <c>[type, flags, time, key, client id, sequence, lease, ttl ms, owner]</c> for a lock acquire,
/// <c>[type, flags, time, key, client id, sequence, lease, value bin]</c> for a put; the time is written as a fixed
/// int64 so the leader can stamp it in place, as it does in ours. Both carry a client session. Setup checks that
/// both decode to the fields encoded.
/// </summary>
[MemoryDiagnoser]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet owns the lifetime; the writer holds no unmanaged state.")]
public class KvCommandCodecBenchmarks
{
    private const string Key = "jobs/nightly-report";
    private const string Owner = "worker-42";
    private const long TtlMs = 30_000;
    private static readonly KvSession Session = new("client-bench", 41);

    private readonly ArrayBufferWriter<byte> _packWriter = new(512);
    private readonly byte[] _value = new byte[100];
    private byte[] _command = [];
    private byte[] _packed = [];

    /// <summary>A lock acquire, or a put of a 100-byte value.</summary>
    [Params(KvCommandType.LockAcquire, KvCommandType.Put)]
    public KvCommandType Command { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        new Random(42).NextBytes(_value);
        _command = Encode();
        _packed = MessagePackEncode();
        KvCommandCodec.TryStampTime(_command, 1_700_000_000_000);
        StampPackedTime(_packed, 1_700_000_000_000);
        Check(KvCommandCodec.TryDecode(_command, out var ours) ? Fields.Of(ours) : default, "KvCommandCodec");
        Check(ReadPacked(_packed), "MessagePack");
    }

    [Benchmark]
    public byte[] Encode() => Command == KvCommandType.LockAcquire
        ? KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, Key, Owner, TtlMs, Session)
        : KvCommandCodec.EncodePut(Key, _value, null, Session);

    [Benchmark]
    public long Decode() => KvCommandCodec.TryDecode(_command, out var command) ? command.Key.Length + command.TtlMs + command.Value.Length : -1;

    [Benchmark]
    public byte[] MessagePackEncode()
    {
        _packWriter.ResetWrittenCount();
        var writer = new MessagePackWriter(_packWriter);
        var isLock = Command == KvCommandType.LockAcquire;
        writer.WriteArrayHeader(isLock ? 9 : 8);
        writer.Write((byte)Command);
        writer.Write((byte)(KvCommandFlags.Timed | KvCommandFlags.Session));
        writer.WriteInt64(0);
        writer.Write(Key);
        writer.Write(Session.ClientId);
        writer.Write(Session.Sequence);
        writer.Write(0UL);
        if (isLock)
        {
            writer.Write(TtlMs);
            writer.Write(Owner);
        }
        else
        {
            writer.Write(_value);
        }

        writer.Flush();
        return _packWriter.WrittenSpan.ToArray();
    }

    [Benchmark]
    public long MessagePackDecode()
    {
        var fields = ReadPacked(_packed);
        return fields.Key.Length + fields.TtlMs + fields.Value.Length;
    }

    // The time is the third element: after the one-byte array header, type and flags as positive fixints, and the int64 marker.
    private static void StampPackedTime(byte[] packed, long timeMs) =>
        BinaryPrimitives.WriteInt64BigEndian(packed.AsSpan(4), timeMs);

    private static Fields ReadPacked(byte[] packed)
    {
        var reader = new MessagePackReader(packed);
        var count = reader.ReadArrayHeader();
        var fields = new Fields
        {
            Type = (KvCommandType)reader.ReadByte(), Flags = (KvCommandFlags)reader.ReadByte(), TimeMs = reader.ReadInt64(),
            Key = ReadUtf8(ref reader), ClientId = ReadUtf8(ref reader), Sequence = reader.ReadUInt64(), LeaseId = reader.ReadUInt64(),
        };
        if (fields.Type == KvCommandType.LockAcquire && count == 9)
        {
            fields.TtlMs = reader.ReadInt64();
            fields.Owner = ReadUtf8(ref reader);
        }
        else if (fields.Type == KvCommandType.Put && count == 8)
        {
            fields.Value = reader.ReadBytes() is { IsSingleSegment: true } value ? value.First : throw new MessagePackSerializationException("expected bin");
        }
        else
        {
            throw new MessagePackSerializationException($"{fields.Type} with {count} fields is not a command this codec reads");
        }

        return fields;
    }

    private static ReadOnlyMemory<byte> ReadUtf8(ref MessagePackReader reader) =>
        reader.ReadStringSequence() is { IsSingleSegment: true } text ? text.First : throw new MessagePackSerializationException("expected str");

    private void Check(Fields actual, string codec)
    {
        var isLock = Command == KvCommandType.LockAcquire;
        var same = actual.Type == Command && actual.TimeMs == 1_700_000_000_000 && actual.Key.Span.SequenceEqual(Encoding.UTF8.GetBytes(Key))
            && actual.ClientId.Span.SequenceEqual(Encoding.UTF8.GetBytes(Session.ClientId!)) && actual.Sequence == Session.Sequence
            && actual.LeaseId == 0 && actual.TtlMs == (isLock ? TtlMs : 0)
            && actual.Owner.Span.SequenceEqual(isLock ? Encoding.UTF8.GetBytes(Owner) : [])
            && actual.Value.Span.SequenceEqual(isLock ? [] : _value);
        if (!same)
        {
            throw new InvalidOperationException($"{codec} did not decode the {Command} it encoded");
        }
    }

    // The decoded fields, as slices of the payload (a KvCommand is a ref struct and cannot be kept).
    private struct Fields
    {
        public KvCommandType Type;
        public KvCommandFlags Flags;
        public long TimeMs;
        public ReadOnlyMemory<byte> Key;
        public ReadOnlyMemory<byte> ClientId;
        public ulong Sequence;
        public ulong LeaseId;
        public long TtlMs;
        public ReadOnlyMemory<byte> Owner;
        public ReadOnlyMemory<byte> Value;

        public static Fields Of(in KvCommand command) => new()
        {
            Type = command.Type, Flags = command.Flags, TimeMs = command.TimeMs, Key = command.Key.ToArray(), ClientId = command.ClientId.ToArray(),
            Sequence = command.Sequence, LeaseId = command.LeaseId, TtlMs = command.TtlMs, Owner = command.Owner.ToArray(), Value = command.Value.ToArray(),
        };
    }
}
