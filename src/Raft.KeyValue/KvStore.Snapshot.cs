using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Raft.KeyValue;

public sealed partial class KvStore
{
    // Snapshot layout, little-endian (format 2; format 1 is format 2 without clock, locks and sessions):
    //
    //  0        4         8               16              24 (format 2 only)
    //  +--------+---------+---------------+---------------+---------------+
    //  | magic  | format  | applied index | key count     | clock ms i64  |   header
    //  | "RKVS" | u32 = 2 | u64           | u64           |               |
    //  +--------+---------+---------------+---------------+---------------+
    //  keys, in ordinal key order:
    //    K u16 | key (K, UTF-8) | V u32 | value (V) | version u64 | create index u64
    //  lock count u32, then locks in ordinal name order:
    //    N u16 | name (N) | O u8 | owner (O) | fencing token u64 | expires at ms i64
    //  session count u32, then sessions from least to most recently used:
    //    C u8 | client id (C) | sequence u64 | last used ms i64 | result
    //  result:
    //    status u8 | index u64 | version u64 | create index u64 | token u64 | expires at ms i64 | H u8 | holder (H)
    private const uint SnapshotMagic = 0x53564B52; // "RKVS"
    private const uint SnapshotFormat = 2;

    /// <summary>The whole state as snapshot bytes, taken at <see cref="AppliedIndex"/>.</summary>
    public byte[] CreateSnapshot()
    {
        var writer = new ArrayBufferWriter<byte>(4096);
        WriteU32(writer, SnapshotMagic);
        WriteU32(writer, SnapshotFormat);
        WriteU64(writer, AppliedIndex);
        WriteU64(writer, (ulong)_keys.Count);
        WriteU64(writer, (ulong)ClockMs);
        foreach (var key in _keys)
        {
            var value = _values[key];
            WriteText(writer, key, 2);
            WriteU32(writer, (uint)value.Value.Length);
            writer.Write(value.Value);
            WriteU64(writer, value.Version);
            WriteU64(writer, value.CreateIndex);
        }

        var names = new string[_locks.Count];
        _locks.Keys.CopyTo(names, 0);
        Array.Sort(names, StringComparer.Ordinal);
        WriteU32(writer, (uint)names.Length);
        foreach (var name in names)
        {
            var slot = _locks[name];
            WriteText(writer, name, 2);
            WriteText(writer, slot.Owner, 1);
            WriteU64(writer, slot.FencingToken);
            WriteU64(writer, (ulong)slot.ExpiresAtMs);
        }

        WriteU32(writer, (uint)_sessionOrder.Count);
        foreach (var session in _sessionOrder)
        {
            WriteText(writer, session.ClientId, 1);
            WriteU64(writer, session.Sequence);
            WriteU64(writer, (ulong)session.LastUsedMs);
            var r = session.Result;
            writer.Write([(byte)r.Status]);
            WriteU64(writer, r.Index);
            WriteU64(writer, r.Version);
            WriteU64(writer, r.CreateIndex);
            WriteU64(writer, r.FencingToken);
            WriteU64(writer, (ulong)r.ExpiresAtMs);
            WriteText(writer, r.Holder ?? string.Empty, 1);
        }

        return writer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Replaces the whole state with a snapshot's. Checks every length before slicing; on malformed data throws
    /// <see cref="InvalidDataException"/> and leaves the current state untouched.
    /// </summary>
    public void RestoreSnapshot(ReadOnlySpan<byte> image)
    {
        if (image.Length == 0)
        {
            // The empty image of a cluster's initial (index 0) snapshot.
            _values.Clear();
            _keys.Clear();
            _locks.Clear();
            _sessions.Clear();
            _sessionOrder.Clear();
            AppliedIndex = 0;
            ClockMs = 0;
            return;
        }

        var reader = new SnapshotReader(image);
        if (reader.U32() != SnapshotMagic)
        {
            ThrowMalformed("bad header");
        }

        var format = reader.U32();
        if (format is not (1 or SnapshotFormat))
        {
            ThrowMalformed($"unknown format {format}");
        }

        var applied = reader.U64();
        var count = reader.U64();
        var clock = format == 1 ? 0L : (long)reader.U64();
        var values = new Dictionary<string, KvValue>(StringComparer.Ordinal);
        for (ulong i = 0; i < count; i++)
        {
            var key = reader.Text(2);
            var valueBytes = reader.U32();
            var value = reader.Bytes(valueBytes).ToArray();
            var version = reader.U64();
            var created = reader.U64();
            if (key.Length == 0 || version == 0 || created == 0 || created > version || version > applied || !values.TryAdd(key, new KvValue(value, version, created)))
            {
                ThrowMalformed($"inconsistent key '{key}'");
            }
        }

        var locks = new Dictionary<string, LockSlot>(StringComparer.Ordinal);
        var sessions = new List<Session>();
        if (format == SnapshotFormat)
        {
            var lockCount = reader.U32();
            for (uint i = 0; i < lockCount; i++)
            {
                var name = reader.Text(2);
                var owner = reader.Text(1);
                var token = reader.U64();
                var expires = (long)reader.U64();
                if (name.Length == 0 || owner.Length == 0 || token == 0 || token > applied
                    || !locks.TryAdd(name, new LockSlot(owner, StrictUtf8.GetBytes(owner), token, expires)))
                {
                    ThrowMalformed($"inconsistent lock '{name}'");
                }
            }

            var sessionCount = reader.U32();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            long lastUsed = long.MinValue;
            for (uint i = 0; i < sessionCount; i++)
            {
                var session = new Session(reader.Text(1)) { Sequence = reader.U64(), LastUsedMs = (long)reader.U64() };
                var status = (KvApplyStatus)reader.U8();
                var result = new KvApplyResult(status, reader.U64(), reader.U64(), reader.U64())
                {
                    FencingToken = reader.U64(),
                    ExpiresAtMs = (long)reader.U64(),
                };
                var holder = reader.Text(1);
                session.Result = holder.Length == 0 ? result : result with { Holder = holder };
                if (session.ClientId.Length == 0 || session.Sequence == 0 || status > KvApplyStatus.StaleSequence
                    || result.Index > applied || session.LastUsedMs < lastUsed || !seen.Add(session.ClientId))
                {
                    ThrowMalformed($"inconsistent session '{session.ClientId}'");
                }

                lastUsed = session.LastUsedMs;
                sessions.Add(session);
            }
        }

        if (!reader.AtEnd)
        {
            ThrowMalformed("trailing bytes");
        }

        _values.Clear();
        _keys.Clear();
        foreach (var (key, value) in values)
        {
            _values.Add(key, value);
            _keys.Add(key);
        }

        _locks.Clear();
        foreach (var (name, slot) in locks)
        {
            _locks.Add(name, slot);
        }

        _sessions.Clear();
        _sessionOrder.Clear();
        foreach (var session in sessions)
        {
            session.Node = _sessionOrder.AddLast(session);
            _sessions.Add(session.ClientId, session);
        }

        AppliedIndex = applied;
        ClockMs = clock;
    }

    private static void WriteU32(ArrayBufferWriter<byte> writer, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }

    private static void WriteU64(ArrayBufferWriter<byte> writer, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(writer.GetSpan(8), value);
        writer.Advance(8);
    }

    // A length prefix of lengthBytes (1 or 2) and the text as UTF-8; the text was checked against that bound when it came in.
    private static void WriteText(ArrayBufferWriter<byte> writer, string text, int lengthBytes)
    {
        var bytes = StrictUtf8.GetByteCount(text);
        if (bytes >= 1 << (8 * lengthBytes))
        {
            throw new InvalidOperationException($"'{text}' has {bytes} bytes, more than its {lengthBytes}-byte length prefix can say");
        }

        var span = writer.GetSpan(lengthBytes + bytes);
        if (lengthBytes == 1)
        {
            span[0] = (byte)bytes;
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)bytes);
        }

        StrictUtf8.GetBytes(text, span[lengthBytes..]);
        writer.Advance(lengthBytes + bytes);
    }

    private static void ThrowMalformed(string what) => throw new InvalidDataException($"malformed key-value snapshot: {what}");

    /// <summary>Reads a snapshot front to back; every read checks the length left first.</summary>
    private ref struct SnapshotReader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public readonly bool AtEnd => _rest.IsEmpty;

        public byte U8() => Bytes(1)[0];

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4));

        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8));

        public ReadOnlySpan<byte> Bytes(ulong count)
        {
            if ((ulong)_rest.Length < count)
            {
                ThrowMalformed("truncated");
            }

            var taken = _rest[..(int)count];
            _rest = _rest[(int)count..];
            return taken;
        }

        public string Text(int lengthBytes)
        {
            var length = lengthBytes == 1 ? U8() : BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2));
            try
            {
                return StrictUtf8.GetString(Bytes(length));
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException("key-value snapshot holds text that is not UTF-8", e);
            }
        }
    }
}
