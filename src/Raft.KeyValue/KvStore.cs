using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;
using Raft.Core;

namespace Raft.KeyValue;

/// <summary>A stored value with its versions. <see cref="Value"/> is never written after it is stored.</summary>
/// <param name="Value">The value's bytes.</param>
/// <param name="Version">The log index of the key's last write.</param>
/// <param name="CreateIndex">The log index that created the key (after its last delete, if any).</param>
/// <param name="Lease">The lease the key is bound to (deleted when it ends); 0 for none.</param>
public readonly record struct KvValue(byte[] Value, ulong Version, ulong CreateIndex, ulong Lease = 0);

/// <summary>One key of a listing.</summary>
public readonly record struct KvListItem(string Key, KvValue Value);

/// <summary>How a command turned out; identical on every replica because it depends only on the log.</summary>
public enum KvApplyStatus : byte
{
    Ok,

    /// <summary>A delete of a key that does not exist, or a renew or release of a lock nobody holds: nothing changed.</summary>
    NotFound,

    /// <summary>The bytes were not a valid command: nothing changed.</summary>
    Invalid,

    /// <summary>A conditional write whose expected version did not match: nothing changed.</summary>
    PreconditionFailed,

    /// <summary>The lock is held by another owner and has not expired: nothing changed.</summary>
    LockHeld,

    /// <summary>The session already applied a later sequence: nothing changed.</summary>
    StaleSequence,

    /// <summary>The lease named does not exist or its time ran out: nothing changed.</summary>
    LeaseNotFound,

    /// <summary>A grant beyond <see cref="KvStoreOptions.LeasesMax"/> live leases: nothing changed.</summary>
    TooManyLeases,
}

/// <summary>The outcome of one applied command.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Index">The log index of the command (of the original one, for a deduplicated retry).</param>
/// <param name="Version">
/// For a put, the key's new version (= <paramref name="Index"/>); for a delete, the version removed; for a failed
/// precondition, the key's current version (0 when absent).
/// </param>
/// <param name="CreateIndex">For a put, the index that created the key.</param>
public readonly record struct KvApplyResult(KvApplyStatus Status, ulong Index, ulong Version, ulong CreateIndex)
{
    /// <summary>For a granted or renewed lock, the log index that granted it.</summary>
    public ulong FencingToken { get; init; }

    /// <summary>For a lock, when it expires (Unix ms, in command time); for <see cref="KvApplyStatus.LockHeld"/>, the holder's.</summary>
    public long ExpiresAtMs { get; init; }

    /// <summary>For <see cref="KvApplyStatus.LockHeld"/>, the owner holding the lock.</summary>
    public string? Holder { get; init; }

    /// <summary>For a transaction, which branch ran and what each of its operations did.</summary>
    public KvTxnResult? Txn { get; init; }

    /// <summary>For a lease grant, keep-alive or revoke, the lease's id; for a lease expiry, how many leases it ended.</summary>
    public ulong Lease { get; init; }

    /// <summary>For a lease grant or keep-alive, the lease's time to live.</summary>
    public long TtlMs { get; init; }
}

/// <summary>A lock as the store holds it. It is held while the store's time is below <see cref="ExpiresAtMs"/>.</summary>
public readonly record struct KvLock(string Owner, ulong FencingToken, long ExpiresAtMs);

/// <summary>
/// Called by <see cref="KvStore.Apply"/> when a lock is granted, renewed or released, with the lock's name (valid
/// only during the call). It runs on the thread that applies the log, in the middle of an apply: it may only
/// signal (complete a task, set a flag), never block, throw or call back into the store.
/// </summary>
public delegate void KvLockChanged(ReadOnlySpan<char> name);

/// <summary>
/// One key's change as an applied command made it: a put (<see cref="Value"/> set) or a delete (<see cref="Value"/>
/// null). <see cref="Key"/> is valid only during the call; <see cref="Value"/> is the stored array, never written again.
/// </summary>
public readonly ref struct KvChange
{
    /// <summary>The log index of the command that made the change (one command may change several keys).</summary>
    public ulong Index { get; init; }

    public ReadOnlySpan<char> Key { get; init; }

    /// <summary>The new value; null for a delete.</summary>
    public byte[]? Value { get; init; }

    /// <summary>A put's new version (<see cref="Index"/>); 0 for a delete.</summary>
    public ulong Version { get; init; }

    /// <summary>A put's create index; 0 for a delete.</summary>
    public ulong CreateIndex { get; init; }

    /// <summary>The lease a put bound the key to; 0 for none and for a delete.</summary>
    public ulong Lease { get; init; }
}

/// <summary>
/// Called by <see cref="KvStore.Apply"/> for every key a command put or deleted, in the order it did. Same rules as
/// <see cref="KvLockChanged"/>: on the applying thread, mid-apply; record or signal, never block, throw or call back.
/// </summary>
public delegate void KvKeyChanged(in KvChange change);

/// <summary>Limits of the client session table. Every replica must use the same values: they shape the state.</summary>
public sealed record KvStoreOptions
{
    /// <summary>
    /// Told of every lock an applied command granted, renewed or released (not of expiries, which no command
    /// marks, nor of a snapshot restored). Observes only: the state is the same with or without it.
    /// </summary>
    public KvLockChanged? LockChanged { get; init; }

    /// <summary>
    /// Told of every key an applied command put or deleted (a deduplicated retry changes nothing and tells nothing).
    /// Observes only, like <see cref="LockChanged"/>.
    /// </summary>
    public KvKeyChanged? KeyChanged { get; init; }

    /// <summary>
    /// Told, with its index, that a whole state replaced the store's (<see cref="KvStore.InstallImage"/>): what changed
    /// between the last command applied and that index was never applied here, so no <see cref="KeyChanged"/> told of it.
    /// </summary>
    public Action<ulong>? Restored { get; init; }

    /// <summary>Clients remembered at most; a new client beyond this evicts the least recently used one.</summary>
    public int SessionsMax { get; init; } = 10_000;

    /// <summary>A client silent for this long (in command time) is forgotten.</summary>
    public long SessionIdleMs { get; init; } = 60 * 60 * 1000;

    /// <summary>Leases held at most; a grant beyond it is refused (<see cref="KvApplyStatus.TooManyLeases"/>).</summary>
    public int LeasesMax { get; init; } = 100_000;
}

/// <summary>
/// The replicated key-value state machine: keys with versions, locks with fencing tokens, and client sessions.
/// Deterministic: its state is a function of the commands applied, in log order, and of nothing else (no clock,
/// no randomness, no culture). Keys are UTF-8 on the wire and ordered by ordinal UTF-16 comparison in listings.
/// </summary>
/// <remarks>
/// <para>Not thread-safe: the node loop owns it. Values handed out are shared, immutable arrays, so a caller may
/// keep one after the loop moves on. Apply allocates only for what it stores anew: a value copy, a key string for
/// a new key (and now and then a node the key tree splits off), an owner for a newly granted lock, a session for a
/// new client; and, on the first write after <see cref="CaptureImage"/> to each part of the key tree, a copy of that
/// part's nodes (<see cref="KvTree"/>). Renewing or re-acquiring a lock one holds, with or without a known session,
/// allocates nothing.</para>
/// <para>Images: <see cref="CaptureImage"/> and <see cref="InstallImage"/> run on the thread that owns the store;
/// <see cref="LoadImage"/> and the image's streams on any thread, while the store goes on applying.</para>
/// <para>Time: <see cref="ClockMs"/> is the largest leader time of any applied command; a command's effective
/// time is max(<see cref="ClockMs"/>, its own), so time never goes back when leadership moves to a node whose
/// clock is behind.</para>
/// </remarks>
public sealed partial class KvStore : IReplicatedStateMachine<KvApplyResult>
{
    private const int StackKeyChars = 256;

    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly KvStoreOptions _options;
    private readonly KvTree _keys = new();
    private readonly Dictionary<string, LockSlot> _locks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    // Sessions from least to most recently used; their last use times (command time) never decrease along it.
    private readonly LinkedList<Session> _sessionOrder = new();
    private Dictionary<string, LockSlot>.AlternateLookup<ReadOnlySpan<char>> _lockLookup;
    private Dictionary<string, Session>.AlternateLookup<ReadOnlySpan<char>> _sessionLookup;
    private int _clusterVersion = KvClusterVersion.Initial;

    public KvStore()
        : this(new KvStoreOptions())
    {
    }

    public KvStore(KvStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SessionsMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SessionIdleMs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.LeasesMax, 1);
        _options = options;
        _lockLookup = _locks.GetAlternateLookup<ReadOnlySpan<char>>();
        _sessionLookup = _sessions.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The index of the last log entry applied (commands and entries the store skips alike).</summary>
    public ulong AppliedIndex { get; private set; }

    /// <summary>The largest leader time (Unix ms) of any applied command; never decreases.</summary>
    public long ClockMs { get; private set; }

    public int Count => _keys.Count;

    /// <summary>
    /// The cluster version as of <see cref="AppliedIndex"/> (<see cref="KvClusterVersion"/>): which commands may be
    /// proposed. Read from any thread; it only grows.
    /// </summary>
    public int ClusterVersion
    {
        get => Volatile.Read(ref _clusterVersion);
        private set => Volatile.Write(ref _clusterVersion, value);
    }

    public int SessionCount => _sessions.Count;

    /// <summary>Locks the store holds: held, or run out and not yet released or taken by another owner.</summary>
    public int LockCount => _locks.Count;

    /// <summary>
    /// Applies the command at log <paramref name="index"/>, which must follow <see cref="AppliedIndex"/>; an invalid command
    /// changes nothing but still consumes its index. A command of a type (or with flags) this version does not know
    /// throws <see cref="UnknownCommandException"/> and changes nothing: a newer node proposed it, and skipping it here
    /// while newer replicas apply it would make the replicas differ.
    /// </summary>
    public KvApplyResult Apply(ulong index, ReadOnlySpan<byte> command)
    {
        CheckNextIndex(index);
        if (!KvCommandCodec.TryDecode(command, out var cmd))
        {
            // Only a command that does not decode can be one this version does not know: the check costs a decoded
            // command nothing.
            if (KvCommandCodec.UnknownToThisVersion(command) is { } unknown)
            {
                throw new UnknownCommandException(
                    $"log entry {index} holds {unknown}, which this version of the server does not know: a newer version proposed it. " +
                    "Upgrade this node before starting it again; it has applied nothing past entry " + (index - 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            AppliedIndex = index;
            return Invalid(index);
        }

        AppliedIndex = index;
        _clockBeforeCommandMs = ClockMs;
        if (cmd.TimeMs > ClockMs)
        {
            ClockMs = cmd.TimeMs;
        }

        ExpireSessions();
        char[]? rented = null;
        var chars = cmd.Key.Length <= StackKeyChars ? stackalloc char[StackKeyChars] : (rented = ArrayPool<char>.Shared.Rent(cmd.Key.Length));
        try
        {
            if (Utf8.ToUtf16(cmd.Key, chars, out _, out var charCount, replaceInvalidSequences: false) != OperationStatus.Done)
            {
                return Invalid(index);
            }

            ReadOnlySpan<char> key = chars[..charCount];
            if (!cmd.HasSession)
            {
                return Execute(index, key, in cmd);
            }

            Span<char> idChars = stackalloc char[KvCommandCodec.ClientIdBytesMax];
            if (Utf8.ToUtf16(cmd.ClientId, idChars, out _, out var idCount, replaceInvalidSequences: false) != OperationStatus.Done)
            {
                return Invalid(index);
            }

            return ApplyInSession(index, key, idChars[..idCount], in cmd);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Records that the log entry at <paramref name="index"/> carries nothing for the store (a no-op or a membership).</summary>
    public void Skip(ulong index)
    {
        CheckNextIndex(index);
        AppliedIndex = index;
    }

    /// <summary>Writes the leader's time into a timed command (locks, sessions); false for one that carries none.</summary>
    public bool TryStampTime(Span<byte> command, long leaderTimeMs) => KvCommandCodec.TryStampTime(command, leaderTimeMs);

    public bool TryGet(string key, out KvValue value)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _keys.TryGetValue(key, out value);
    }

    /// <summary>
    /// The lock named <paramref name="name"/> if it is held at <paramref name="nowMs"/> (never earlier than
    /// <see cref="ClockMs"/>): readers may pass their own clock to see an expiry no command has applied yet.
    /// </summary>
    public bool TryGetLock(string name, long nowMs, out KvLock value) => TryGetLock(name, nowMs, out value, out _);

    /// <summary>
    /// The lock named <paramref name="name"/> if it is held at <paramref name="nowMs"/>, with the lease it is bound to (0
    /// for none).
    /// </summary>
    public bool TryGetLock(string name, long nowMs, out KvLock value, out ulong lease)
    {
        if (_locks.TryGetValue(name, out var slot) && slot.ExpiresAtMs > Math.Max(nowMs, ClockMs))
        {
            value = new KvLock(slot.Owner, slot.FencingToken, slot.ExpiresAtMs);
            lease = slot.Lease;
            return true;
        }

        (value, lease) = (default, 0);
        return false;
    }

    /// <summary>The highest sequence remembered for <paramref name="clientId"/>, or 0.</summary>
    public ulong SessionSequence(string clientId) => _sessions.TryGetValue(clientId, out var session) ? session.Sequence : 0;

    /// <summary>
    /// Adds to <paramref name="into"/> up to <paramref name="limit"/> keys starting with <paramref name="prefix"/>,
    /// in ordinal order; returns true when more keys match than were added.
    /// </summary>
    public bool List(string prefix, int limit, List<KvListItem> into) => List(prefix, null, limit, into);

    /// <summary>
    /// Adds to <paramref name="into"/> up to <paramref name="limit"/> keys starting with <paramref name="prefix"/>
    /// and, unless <paramref name="after"/> is null, strictly after it, in ordinal order; returns true when more keys
    /// match than were added. The walk seeks its start in O(log n), so paging on from the last key of a page costs
    /// no more than the first page.
    /// </summary>
    public bool List(string prefix, string? after, int limit, List<KvListItem> into)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(into);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        // Every key starting with the prefix comes at or after it, and those keys come one after another: a start
        // before the prefix starts at it, and one past them finds none.
        var keys = after is not null && string.CompareOrdinal(after, prefix) >= 0 ? _keys.After(after) : _keys.From(prefix);
        var added = 0;
        foreach (var entry in keys)
        {
            if (!entry.Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                break;
            }

            if (added == limit)
            {
                return true;
            }

            into.Add(new KvListItem(entry.Key, entry.Value));
            added++;
        }

        return false;
    }

    private KvApplyResult ApplyInSession(ulong index, ReadOnlySpan<char> key, ReadOnlySpan<char> clientId, in KvCommand cmd)
    {
        var session = _sessionLookup.TryGetValue(clientId, out var known) ? known : null;
        if (session is not null)
        {
            if (cmd.Sequence == session.Sequence)
            {
                // A retry of the write this session applied last: answer as the first time, apply nothing.
                Touch(session);
                return session.Result;
            }

            if (cmd.Sequence < session.Sequence)
            {
                return new KvApplyResult(KvApplyStatus.StaleSequence, index, session.Sequence, 0);
            }
        }

        var result = Execute(index, key, in cmd);

        // A refused acquire changed nothing and is not remembered: retrying its sequence tries again, which is
        // what a client waiting for a lock wants, and still applies the write at most once.
        if (result.Status == KvApplyStatus.LockHeld && cmd.Type == KvCommandType.LockAcquire)
        {
            return result;
        }

        if (session is null)
        {
            if (_sessions.Count >= _options.SessionsMax)
            {
                Forget(_sessionOrder.First!.Value);
            }

            session = new Session(new string(clientId));
            session.Node = _sessionOrder.AddLast(session);
            _sessions.Add(session.ClientId, session);
        }

        session.Sequence = cmd.Sequence;
        session.Result = result;
        Touch(session);
        return result;
    }

    private KvApplyResult Execute(ulong index, ReadOnlySpan<char> key, in KvCommand cmd)
    {
        // The entry that raises the version is the one command that may come before the version it needs.
        if ((cmd.Type != KvCommandType.SetClusterVersion && ClusterVersion < KvClusterVersion.Required(cmd.Type))
            || (cmd.LeaseId != 0 && ClusterVersion < KvClusterVersion.Leases))
        {
            return Invalid(index);
        }

        if ((cmd.Flags & KvCommandFlags.Lease) != 0 && !IsLive(cmd.LeaseId))
        {
            return new KvApplyResult(KvApplyStatus.LeaseNotFound, index, 0, 0) { Lease = cmd.LeaseId };
        }

        return cmd.Type switch
        {
            KvCommandType.Put => Put(index, key, cmd.Value, cmd.LeaseId),
            KvCommandType.Delete => Delete(index, key),
            KvCommandType.PutIfVersion => CurrentVersion(key) is var current && current == cmd.ExpectedVersion
                ? Put(index, key, cmd.Value, cmd.LeaseId)
                : new KvApplyResult(KvApplyStatus.PreconditionFailed, index, current, 0),
            KvCommandType.DeleteIfVersion => CurrentVersion(key) is var current && current == cmd.ExpectedVersion
                ? Delete(index, key)
                : new KvApplyResult(KvApplyStatus.PreconditionFailed, index, current, 0),
            KvCommandType.LockAcquire => Acquire(index, key, cmd.Owner, cmd.TtlMs, cmd.LeaseId),
            KvCommandType.LockRenew => Renew(index, key, cmd.Owner, cmd.TtlMs),
            KvCommandType.LockRelease => Release(index, key, cmd.Owner),
            KvCommandType.SetClusterVersion => RaiseClusterVersion(index, (int)cmd.ExpectedVersion),
            KvCommandType.Txn => ApplyTxn(index, cmd.Value),
            KvCommandType.LeaseGrant => GrantLease(index, cmd.TtlMs),
            KvCommandType.LeaseKeepAlive => KeepAlive(index, cmd.LeaseId),
            KvCommandType.LeaseRevoke => RevokeLease(index, cmd.LeaseId),
            KvCommandType.LeaseExpire => ExpireLeases(index, cmd.Value),
            KvCommandType.LeaseExtend => ExtendLeases(index, cmd.TtlMs),
            _ => Invalid(index),
        };
    }

    // A version above what this server supports does not decode: Apply stopped on it as on any unknown command.
    private KvApplyResult RaiseClusterVersion(ulong index, int version)
    {
        // Never lowered: a version, once agreed, may already have let commands into the log that need it.
        ClusterVersion = Math.Max(ClusterVersion, version);
        return new KvApplyResult(KvApplyStatus.Ok, index, (ulong)ClusterVersion, 0);
    }

    // The body was checked whole when the command decoded: every read below succeeds.
    private KvApplyResult ApplyTxn(ulong index, ReadOnlySpan<byte> body)
    {
        var reader = new KvTxnReader(body);
        reader.TryCount(out var compares);
        var holds = true;
        for (var i = 0; i < compares; i++)
        {
            reader.TryCompare(out var compare);
            holds &= Holds(in compare);
        }

        reader.TryCount(out var count);
        if (!holds)
        {
            for (var i = 0; i < count; i++)
            {
                reader.TryOp(out _);
            }

            reader.TryCount(out count);
        }

        // Every lease the branch binds a key to must be live, or none of it applies: checked before anything changes.
        var ops = reader;
        for (var i = 0; i < count; i++)
        {
            ops.TryOp(out var op);
            if (op.Lease != 0 && (ClusterVersion < KvClusterVersion.Leases || !IsLive(op.Lease)))
            {
                return ClusterVersion < KvClusterVersion.Leases ? Invalid(index) : new KvApplyResult(KvApplyStatus.LeaseNotFound, index, 0, 0) { Lease = op.Lease };
            }
        }

        var results = new KvTxnOpResult[count];
        for (var i = 0; i < count; i++)
        {
            reader.TryOp(out var op);
            var key = StrictUtf8.GetString(op.Key);
            results[i] = op.Kind switch
            {
                KvTxnOpKind.Put => Put(index, key, op.Value, op.Lease) is var put ? new KvTxnOpResult(op.Kind, true, put.Version, put.CreateIndex, 0, null) : default,
                KvTxnOpKind.Delete => Delete(index, key) is { Status: KvApplyStatus.Ok } removed
                    ? new KvTxnOpResult(op.Kind, true, removed.Version, removed.CreateIndex, 0, null)
                    : new KvTxnOpResult(op.Kind, false, 0, 0, 0, null),
                KvTxnOpKind.DeletePrefix => new KvTxnOpResult(op.Kind, false, 0, 0, DeletePrefix(index, key), null),
                _ => _keys.TryGetValue(key, out var value)
                    ? new KvTxnOpResult(op.Kind, true, value.Version, value.CreateIndex, 0, value.Value)
                    : new KvTxnOpResult(op.Kind, false, 0, 0, 0, null),
            };
        }

        return new KvApplyResult(KvApplyStatus.Ok, index, 0, 0) { Txn = new KvTxnResult(holds, results) };
    }

    private bool Holds(in KvCompareView compare)
    {
        var found = _keys.TryGetValue(StrictUtf8.GetString(compare.Key), out var current);
        int order;
        switch (compare.Target)
        {
            case KvCompareTarget.Exists:
                return found == (compare.Number == 1) == (compare.Op == KvCompareOp.Equal);
            case KvCompareTarget.Value:
                if (!found)
                {
                    return false;
                }

                order = current.Value.AsSpan().SequenceCompareTo(compare.Value);
                break;
            default:
                var number = compare.Target == KvCompareTarget.Version ? current.Version : current.CreateIndex;
                order = number.CompareTo(compare.Number);
                break;
        }

        return compare.Op switch
        {
            KvCompareOp.Equal => order == 0,
            KvCompareOp.NotEqual => order != 0,
            KvCompareOp.Less => order < 0,
            _ => order > 0,
        };
    }

    private ulong DeletePrefix(ulong index, string prefix)
    {
        var doomed = new List<string>();
        foreach (var entry in _keys.From(prefix))
        {
            if (!entry.Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                break;
            }

            doomed.Add(entry.Key);
        }

        foreach (var key in doomed)
        {
            Delete(index, key);
        }

        return (ulong)doomed.Count;
    }

    private ulong CurrentVersion(ReadOnlySpan<char> key) => _keys.TryGetValue(key, out var value) ? value.Version : 0;

    // A put binds the key to its lease, or to none: a key moves with each put to the lease that put names.
    private KvApplyResult Put(ulong index, ReadOnlySpan<char> key, ReadOnlySpan<byte> value, ulong lease)
    {
        var copy = value.ToArray();
        ref var slot = ref _keys.GetValueRefOrAddDefault(key, out var exists);
        var created = exists ? slot.CreateIndex : index;
        var previousLease = exists ? slot.Lease : 0;
        slot = new KvValue(copy, index, created, lease);
        if (previousLease != lease)
        {
            Unbind(previousLease, key);
            Bind(lease, key);
        }

        _options.KeyChanged?.Invoke(new KvChange { Index = index, Key = key, Value = copy, Version = index, CreateIndex = created, Lease = lease });
        return new KvApplyResult(KvApplyStatus.Ok, index, index, created);
    }

    private KvApplyResult Delete(ulong index, ReadOnlySpan<char> key)
    {
        if (!_keys.Remove(key, out var removed))
        {
            return new KvApplyResult(KvApplyStatus.NotFound, index, 0, 0);
        }

        Unbind(removed.Lease, key);
        _options.KeyChanged?.Invoke(new KvChange { Index = index, Key = key });
        return new KvApplyResult(KvApplyStatus.Ok, index, removed.Version, removed.CreateIndex);
    }

    // A lock bound to a lease (lease != 0, checked live) ends when the lease does: its end is the lease's, and moves with it.
    private KvApplyResult Acquire(ulong index, ReadOnlySpan<char> name, ReadOnlySpan<byte> owner, long ttlMs, ulong lease)
    {
        var now = ClockMs;
        var expiresAt = lease == 0 ? ExpiryAt(now, ttlMs) : _leases[lease].ExpiresAtMs;
        ref var slot = ref CollectionsMarshal.GetValueRefOrNullRef(_lockLookup, name);
        if (!Unsafe.IsNullRef(ref slot) && slot.ExpiresAtMs > now)
        {
            if (!owner.SequenceEqual(slot.OwnerUtf8))
            {
                return Held(index, in slot);
            }

            // The holder acquiring again renews: same token, a new time to live from now (or the lease it names now).
            if (slot.Lease != lease)
            {
                UnbindLock(slot.Lease, name);
                BindLock(lease, name);
            }

            slot.ExpiresAtMs = expiresAt;
            slot.Lease = lease;
            _options.LockChanged?.Invoke(name);
            return Granted(index, in slot);
        }

        // Free or expired: granted by this entry, whose index is larger than any token this lock had before.
        var granted = new LockSlot(StrictUtf8.GetString(owner), owner.ToArray(), index, expiresAt) { Lease = lease };
        if (Unsafe.IsNullRef(ref slot))
        {
            _locks.Add(new string(name), granted);
        }
        else
        {
            UnbindLock(slot.Lease, name);
            slot = granted;
        }

        BindLock(lease, name);
        _options.LockChanged?.Invoke(name);
        return Granted(index, in granted);
    }

    private KvApplyResult Renew(ulong index, ReadOnlySpan<char> name, ReadOnlySpan<byte> owner, long ttlMs)
    {
        var now = ClockMs;
        ref var slot = ref CollectionsMarshal.GetValueRefOrNullRef(_lockLookup, name);
        if (Unsafe.IsNullRef(ref slot) || slot.ExpiresAtMs <= now)
        {
            return new KvApplyResult(KvApplyStatus.NotFound, index, 0, 0);
        }

        if (!owner.SequenceEqual(slot.OwnerUtf8))
        {
            return Held(index, in slot);
        }

        // A lock bound to a lease lives as long as the lease: its keep-alives renew it, and a renew changes nothing.
        if (slot.Lease == 0)
        {
            slot.ExpiresAtMs = ExpiryAt(now, ttlMs);
            _options.LockChanged?.Invoke(name);
        }

        return Granted(index, in slot);
    }

    private KvApplyResult Release(ulong index, ReadOnlySpan<char> name, ReadOnlySpan<byte> owner)
    {
        ref var slot = ref CollectionsMarshal.GetValueRefOrNullRef(_lockLookup, name);
        if (Unsafe.IsNullRef(ref slot))
        {
            return new KvApplyResult(KvApplyStatus.NotFound, index, 0, 0);
        }

        if (slot.ExpiresAtMs <= ClockMs)
        {
            // Expired: nobody holds it; forget it so released and expired names do not accumulate.
            UnbindLock(slot.Lease, name);
            _lockLookup.Remove(name);
            return new KvApplyResult(KvApplyStatus.NotFound, index, 0, 0);
        }

        if (!owner.SequenceEqual(slot.OwnerUtf8))
        {
            return Held(index, in slot);
        }

        var token = slot.FencingToken;
        UnbindLock(slot.Lease, name);
        _lockLookup.Remove(name);
        _options.LockChanged?.Invoke(name);
        return new KvApplyResult(KvApplyStatus.Ok, index, 0, 0) { FencingToken = token };
    }

    private static long ExpiryAt(long now, long ttlMs) => ttlMs > long.MaxValue - now ? long.MaxValue : now + ttlMs;

    private static KvApplyResult Granted(ulong index, in LockSlot slot) =>
        new(KvApplyStatus.Ok, index, 0, 0) { FencingToken = slot.FencingToken, ExpiresAtMs = slot.ExpiresAtMs, Lease = slot.Lease };

    private static KvApplyResult Held(ulong index, in LockSlot slot) =>
        new(KvApplyStatus.LockHeld, index, 0, 0) { ExpiresAtMs = slot.ExpiresAtMs, Holder = slot.Owner };

    private static KvApplyResult Invalid(ulong index) => new(KvApplyStatus.Invalid, index, 0, 0);

    private void Touch(Session session)
    {
        session.LastUsedMs = ClockMs;
        if (session.Node != _sessionOrder.Last)
        {
            _sessionOrder.Remove(session.Node!);
            _sessionOrder.AddLast(session.Node!);
        }
    }

    // Forgets sessions idle for SessionIdleMs; the order list is sorted by last use, so only its head is checked.
    private void ExpireSessions()
    {
        while (_sessionOrder.First is { } oldest && ClockMs - oldest.Value.LastUsedMs >= _options.SessionIdleMs)
        {
            Forget(oldest.Value);
        }
    }

    private void Forget(Session session)
    {
        _sessionOrder.Remove(session.Node!);
        _sessions.Remove(session.ClientId);
    }

    private void CheckNextIndex(ulong index)
    {
        if (index != AppliedIndex + 1)
        {
            throw new InvalidOperationException($"entry {index} applied after entry {AppliedIndex}: the log must be applied in order, each entry once");
        }
    }

    /// <summary>
    /// A lock's state; <see cref="OwnerUtf8"/> lets an owner be compared with a command's bytes without decoding. A lock
    /// bound to a lease (<see cref="Lease"/> not 0) has the lease's end as its own, kept equal as the lease moves.
    /// </summary>
    internal struct LockSlot(string owner, byte[] ownerUtf8, ulong fencingToken, long expiresAtMs)
    {
        public readonly string Owner = owner;
        public readonly byte[] OwnerUtf8 = ownerUtf8;
        public readonly ulong FencingToken = fencingToken;
        public long ExpiresAtMs = expiresAtMs;
        public ulong Lease;
    }

    /// <summary>What the store remembers of one client: its last sequence and that write's result.</summary>
    private sealed class Session(string clientId)
    {
        public string ClientId { get; } = clientId;

        public ulong Sequence { get; set; }

        public KvApplyResult Result { get; set; }

        public long LastUsedMs { get; set; }

        public LinkedListNode<Session>? Node { get; set; }
    }
}

/// <summary>A committed entry holds a command this version does not know; the store applied nothing of it.</summary>
public sealed class UnknownCommandException(string message) : Exception(message);
