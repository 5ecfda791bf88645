using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Raft.Core;

namespace Raft.KeyValue;

public sealed partial class KvStore
{
    // Image layout, little-endian (format 4, written from cluster version 3; format 3 is format 4 without the leases
    // and every [format 4] field, written at cluster version 2; format 2 is format 3 without the cluster version and
    // the sessions' transactions, written at cluster version 1; format 1 is format 2 without clock, locks and sessions).
    // Written by KvImage's stream, read by Load below.
    //
    //  0        4         8               16              24              32
    //  +--------+---------+---------------+---------------+---------------+
    //  | magic  | format  | applied index | key count     | clock ms i64  |   header, then (format 3 on)
    //  | "RKVS" | u32 = 4 | u64           | u64           |               |   cluster version u32
    //  +--------+---------+---------------+---------------+---------------+
    //  [format 4] lease count u32, then leases in ascending id order:
    //    id u64 | ttl ms i64 | expires at ms i64
    //  keys, in ordinal key order:
    //    K u16 | key (K, UTF-8) | V u32 | value (V) | version u64 | create index u64 | [format 4] lease id u64 (0: none)
    //  lock count u32, then locks in ordinal name order:
    //    N u16 | name (N) | O u8 | owner (O) | fencing token u64 | expires at ms i64 | [format 4] lease id u64
    //  session count u32, then sessions from least to most recently used:
    //    C u8 | client id (C) | sequence u64 | last used ms i64 | result
    //  result:
    //    status u8 | index u64 | version u64 | create index u64 | token u64 | expires at ms i64 | H u8 | holder (H)
    //    | transaction (format 3 on; drawn in KvImage.Stream.cs) | [format 4] lease u64 | ttl ms i64
    //
    // The keys and locks bound to a lease are not listed with it: each names its lease, and a load gathers them.
    // The image ends with its last session: nothing says how long it is, so a reader must parse it to its end.
    internal const uint SnapshotMagic = 0x53564B52; // "RKVS"
    internal const uint SnapshotFormat = 4;
    internal const int SnapshotHeaderBytes = 32;

    /// <summary>
    /// Freezes the state at <see cref="AppliedIndex"/> into a <see cref="KvImage"/>, on the thread that owns the store.
    /// The key tree is frozen, not copied, in O(1) (each part of it is copied on the store's first write to it
    /// afterwards); locks, sessions and leases (with the names bound to them) are copied, in time that grows with them.
    /// </summary>
    public IStateMachineImage CaptureImage()
    {
        var locks = new KvImage.LockEntry[_locks.Count];
        var next = 0;
        foreach (var (name, slot) in _locks)
        {
            locks[next++] = new KvImage.LockEntry(name, slot);
        }

        var sessions = new KvImage.SessionEntry[_sessionOrder.Count];
        next = 0;
        foreach (var session in _sessionOrder)
        {
            sessions[next++] = new KvImage.SessionEntry(session.ClientId, session.Sequence, session.LastUsedMs, session.Result);
        }

        var leases = new KvImage.LeaseEntry[_leases.Count];
        next = 0;
        foreach (var lease in _leases.Values)
        {
            leases[next++] = new KvImage.LeaseEntry(lease.Id, lease.TtlMs, lease.ExpiresAtMs, [.. lease.Keys], [.. lease.Locks]);
        }

        Array.Sort(leases, static (a, b) => a.Id.CompareTo(b.Id));
        return new KvImage(AppliedIndex, ClockMs, ClusterVersion, _keys.Freeze(), locks, sessions, leases);
    }

    /// <summary>
    /// Reads an image that <see cref="KvImage.OpenRead"/> produced from <paramref name="source"/>, with synchronous
    /// reads of exactly the image's bytes (never past its end: what follows is the caller's), into a new
    /// <see cref="KvImage"/> for <see cref="InstallImage"/>. Any thread: it touches nothing of this store. Every length
    /// is checked before it is read and every invariant after (keys and lock names in strictly ascending order,
    /// versions and tokens no later than the applied index, sessions in last-use order, each client once); a damaged
    /// image throws <see cref="InvalidDataException"/>.
    /// </summary>
    [SuppressMessage("Performance", "CA1822", Justification = "The node driver calls it through the state machine it holds.")]
    public IStateMachineImage LoadImage(Stream source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var reader = new ImageReader(source);
        return Load(ref reader);
    }

    /// <summary>
    /// Replaces this store's state with an image's (from <see cref="LoadImage"/>, or <see cref="CaptureImage"/> of any
    /// store), on the thread that owns the store. The image's key tree is adopted, not copied: O(locks + sessions).
    /// The image stays as it was and may go on being read. Throws <see cref="ArgumentException"/> for an image that is
    /// not a <see cref="KvImage"/>.
    /// </summary>
    public void InstallImage(IStateMachineImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image is not KvImage kv)
        {
            throw new ArgumentException($"a {image.GetType().Name} is not a key-value image", nameof(image));
        }

        var keys = kv.Keys;
        _keys.Adopt(keys);
        _locks.Clear();
        foreach (var entry in kv.Locks)
        {
            _locks.Add(entry.Name, entry.Slot);
        }

        _sessions.Clear();
        _sessionOrder.Clear();
        foreach (var entry in kv.Sessions)
        {
            var session = new Session(entry.ClientId) { Sequence = entry.Sequence, LastUsedMs = entry.LastUsedMs, Result = entry.Result };
            session.Node = _sessionOrder.AddLast(session);
            _sessions.Add(session.ClientId, session);
        }

        _leases.Clear();
        _leaseEnds.Clear();
        foreach (var entry in kv.Leases)
        {
            var lease = new Lease(entry.Id, entry.TtlMs, entry.ExpiresAtMs);
            lease.Keys.UnionWith(entry.Keys);
            lease.Locks.UnionWith(entry.Locks);
            _leases.Add(entry.Id, lease);
            _leaseEnds.Add((entry.ExpiresAtMs, entry.Id));
        }

        AppliedIndex = kv.Index;
        ClockMs = kv.ClockMs;
        ClusterVersion = kv.ClusterVersion;
        _options.Restored?.Invoke(kv.Index);
    }

    /// <summary>The whole state as snapshot bytes, taken at <see cref="AppliedIndex"/>: an image's bytes, in one array.</summary>
    public byte[] CreateSnapshot()
    {
        using var image = CaptureImage();
        using var stream = image.OpenRead();
        using var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        return bytes.ToArray();
    }

    /// <summary>
    /// Replaces the whole state with a snapshot's (empty: the initial state of a cluster's index 0 snapshot). Checks
    /// what <see cref="LoadImage"/> checks, and that nothing follows the image; on malformed data throws
    /// <see cref="InvalidDataException"/> and leaves the current state untouched.
    /// </summary>
    public void RestoreSnapshot(ReadOnlySpan<byte> image)
    {
        if (image.IsEmpty)
        {
            using var initial = new KvImage(0, 0, KvClusterVersion.Initial, new KvTree.Builder(0).Build(), [], [], []);
            InstallImage(initial);
            return;
        }

        var reader = new ImageReader(image);
        using var loaded = Load(ref reader);
        if (!reader.AtEnd)
        {
            ThrowMalformed("trailing bytes");
        }

        InstallImage(loaded);
    }

    private static KvImage Load(ref ImageReader reader)
    {
        if (reader.U32() != SnapshotMagic)
        {
            ThrowMalformed("bad header");
        }

        var format = reader.U32();
        if (format is < 1 or > SnapshotFormat)
        {
            ThrowMalformed($"unknown format {format}");
        }

        var applied = reader.U64();
        var count = reader.U64();
        var clock = format == 1 ? 0L : (long)reader.U64();
        var clusterVersion = format >= 3 ? reader.U32() : KvClusterVersion.Initial;
        var withLeases = format >= 4;

        // Each format is written at the versions that choose it, and only at those.
        if ((format == 3 && clusterVersion != KvClusterVersion.Transactions) || (withLeases && clusterVersion < KvClusterVersion.Leases) || clusterVersion > int.MaxValue)
        {
            ThrowMalformed($"cluster version {clusterVersion} in format {format}");
        }

        if (clusterVersion > KvClusterVersion.Supported)
        {
            ThrowMalformed($"cluster version {clusterVersion}, above the {KvClusterVersion.Supported} this server supports (a newer server wrote it, or it is damaged)");
        }
        if (count > int.MaxValue)
        {
            ThrowMalformed($"{count} keys");
        }

        var leases = new Dictionary<ulong, (KvImage.LeaseEntry Entry, List<string> Keys, List<string> Locks)>();
        var leaseOrder = new List<ulong>();
        if (withLeases)
        {
            var leaseCount = reader.U32();
            for (uint i = 0; i < leaseCount; i++)
            {
                var id = reader.U64();
                var ttl = (long)reader.U64();
                var expires = (long)reader.U64();
                if (id == 0 || id > applied || ttl <= 0 || (leaseOrder.Count > 0 && leaseOrder[^1] >= id))
                {
                    ThrowMalformed($"inconsistent lease {id}");
                }

                leaseOrder.Add(id);
                leases.Add(id, (new KvImage.LeaseEntry(id, ttl, expires, [], []), [], []));
            }
        }

        var keys = new KvTree.Builder((int)count);
        for (var i = 0; i < (int)count; i++)
        {
            var keyBytes = reader.U16();
            var head = reader.Take(keyBytes + 4);
            var key = ImageReader.Decode(head[..keyBytes]);
            var valueBytes = BinaryPrimitives.ReadUInt32LittleEndian(head[keyBytes..]);
            if (valueBytes > Array.MaxLength)
            {
                ThrowMalformed($"a value of {valueBytes} bytes");
            }

            var value = reader.TakeArray((int)valueBytes);
            var version = reader.U64();
            var created = reader.U64();
            var lease = withLeases ? reader.U64() : 0;
            if (key.Length == 0 || version == 0 || created == 0 || created > version || version > applied
                || (lease != 0 && !leases.ContainsKey(lease))
                || !keys.TryAdd(key, new KvValue(value, version, created, lease)))
            {
                ThrowMalformed($"inconsistent key '{key}'");
            }

            if (lease != 0)
            {
                leases[lease].Keys.Add(key);
            }
        }

        var locks = new List<KvImage.LockEntry>();
        var sessions = new List<KvImage.SessionEntry>();
        if (format >= 2)
        {
            var lockCount = reader.U32();
            for (uint i = 0; i < lockCount; i++)
            {
                var name = reader.Text(2);
                var owner = reader.Text(1);
                var token = reader.U64();
                var expires = (long)reader.U64();
                var lease = withLeases ? reader.U64() : 0;
                if (name.Length == 0 || owner.Length == 0 || token == 0 || token > applied
                    || (locks.Count > 0 && string.CompareOrdinal(locks[^1].Name, name) >= 0)
                    || (lease != 0 && !leases.ContainsKey(lease)))
                {
                    ThrowMalformed($"inconsistent lock '{name}'");
                }

                if (lease != 0)
                {
                    leases[lease].Locks.Add(name);
                }

                locks.Add(new KvImage.LockEntry(name, new LockSlot(owner, StrictUtf8.GetBytes(owner), token, expires) { Lease = lease }));
            }

            var sessionCount = reader.U32();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var lastUsed = long.MinValue;
            for (uint i = 0; i < sessionCount; i++)
            {
                var clientId = reader.Text(1);
                var sequence = reader.U64();
                var lastUsedMs = (long)reader.U64();
                var status = (KvApplyStatus)reader.U8();
                var result = new KvApplyResult(status, reader.U64(), reader.U64(), reader.U64())
                {
                    FencingToken = reader.U64(),
                    ExpiresAtMs = (long)reader.U64(),
                };
                var holder = reader.Text(1);
                if (format >= 3 && ReadTxn(ref reader) is { } txn)
                {
                    result = result with { Txn = txn };
                }

                if (withLeases)
                {
                    result = result with { Lease = reader.U64(), TtlMs = (long)reader.U64() };
                }

                if (clientId.Length == 0 || sequence == 0 || status > KvApplyStatus.TooManyLeases
                    || result.Index > applied || lastUsedMs < lastUsed || !seen.Add(clientId))
                {
                    ThrowMalformed($"inconsistent session '{clientId}'");
                }

                lastUsed = lastUsedMs;
                sessions.Add(new KvImage.SessionEntry(clientId, sequence, lastUsedMs, holder.Length == 0 ? result : result with { Holder = holder }));
            }
        }

        var leaseEntries = leaseOrder.Select(id => leases[id] is var (entry, boundKeys, boundLocks) ? entry with { Keys = [.. boundKeys], Locks = [.. boundLocks] } : default).ToArray();
        return new KvImage(applied, clock, (int)clusterVersion, keys.Build(), [.. locks], [.. sessions], leaseEntries);
    }

    private static KvTxnResult? ReadTxn(ref ImageReader reader)
    {
        switch (reader.U8())
        {
            case 0:
                return null;
            case 1:
                break;
            default:
                ThrowMalformed("a session's transaction marker");
                break;
        }

        var succeeded = reader.U8() switch
        {
            0 => false,
            1 => true,
            _ => throw new InvalidDataException("malformed key-value snapshot: a transaction's branch"),
        };
        var results = new KvTxnOpResult[reader.U16()];
        for (var i = 0; i < results.Length; i++)
        {
            var kind = (KvTxnOpKind)reader.U8();
            var found = reader.U8();
            var version = reader.U64();
            var created = reader.U64();
            var deleted = reader.U64();
            var valueBytes = reader.U32();
            if (!Enum.IsDefined(kind) || found > 1 || valueBytes > Array.MaxLength || (valueBytes > 0 && !(kind == KvTxnOpKind.Get && found == 1)))
            {
                ThrowMalformed("a session's transaction result");
            }

            var value = kind == KvTxnOpKind.Get && found == 1 ? reader.TakeArray((int)valueBytes) : null;
            results[i] = new KvTxnOpResult(kind, found == 1, version, created, deleted, value);
        }

        return new KvTxnResult(succeeded, results);
    }

    [DoesNotReturn]
    private static void ThrowMalformed(string what) => throw new InvalidDataException($"malformed key-value snapshot: {what}");

    /// <summary>
    /// Reads an image front to back, from a span or from a stream, checking the length left (or what the stream
    /// yields) before every field. From a stream it reads exactly the bytes of the fields it is asked for, never ahead.
    /// </summary>
    private ref struct ImageReader
    {
        // A value read from a stream grows in steps from this size, so a damaged length makes it allocate at most
        // about twice what the stream actually holds before the stream runs out.
        private const int ValueChunkBytes = 1 << 20;

        private readonly Stream? _stream;
        private ReadOnlySpan<byte> _rest;
        private byte[] _scratch;

        public ImageReader(ReadOnlySpan<byte> image)
        {
            _rest = image;
            _scratch = [];
        }

        public ImageReader(Stream stream)
        {
            _stream = stream;
            _scratch = new byte[256];
        }

        /// <summary>For an image read from a span, whether all of it has been read.</summary>
        public readonly bool AtEnd => _rest.IsEmpty;

        public byte U8() => Take(1)[0];

        public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

        /// <summary>The next bytes; from a stream they are valid only until the next read.</summary>
        public ReadOnlySpan<byte> Take(int count)
        {
            if (_stream is null)
            {
                if (_rest.Length < count)
                {
                    ThrowMalformed("truncated");
                }

                var taken = _rest[..count];
                _rest = _rest[count..];
                return taken;
            }

            if (_scratch.Length < count)
            {
                _scratch = new byte[Math.Max(count, 2 * _scratch.Length)];
            }

            var span = _scratch.AsSpan(0, count);
            Fill(span);
            return span;
        }

        /// <summary>The next bytes in an array of their own.</summary>
        public byte[] TakeArray(int count)
        {
            if (_stream is null)
            {
                return Take(count).ToArray();
            }

            // Filled at once, so not zeroed first: at a GiB of values, zeroing was a fifth of a load's time.
            var array = GC.AllocateUninitializedArray<byte>(Math.Min(count, ValueChunkBytes));
            Fill(array);
            while (array.Length < count)
            {
                var filled = array.Length;
                Array.Resize(ref array, (int)Math.Min(count, 2L * filled));
                Fill(array.AsSpan(filled));
            }

            return array;
        }

        /// <summary>A length prefix of <paramref name="lengthBytes"/> (1 or 2) and that many bytes of UTF-8.</summary>
        public string Text(int lengthBytes) => Decode(Take(lengthBytes == 1 ? U8() : U16()));

        public static string Decode(ReadOnlySpan<byte> utf8)
        {
            try
            {
                return StrictUtf8.GetString(utf8);
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException("key-value snapshot holds text that is not UTF-8", e);
            }
        }

        private readonly void Fill(Span<byte> buffer)
        {
            if (_stream!.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) < buffer.Length)
            {
                ThrowMalformed("truncated");
            }
        }
    }
}
