using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace Raft.KeyValue;

/// <summary>What a replicated command does. The byte values are part of the log format: never reuse one.</summary>
public enum KvCommandType : byte
{
    Put = 1,
    Delete = 2,

    /// <summary>A put that applies only when the key's version equals the expected one (0: the key must not exist).</summary>
    PutIfVersion = 3,

    /// <summary>A delete that applies only when the key's version equals the expected one.</summary>
    DeleteIfVersion = 4,
    LockAcquire = 5,
    LockRenew = 6,
    LockRelease = 7,

    /// <summary>Raises the cluster version (<see cref="KvClusterVersion"/>); carries no key. Known from version 2.</summary>
    SetClusterVersion = 8,

    /// <summary>Compares, then one of two lists of operations, as one entry (<see cref="KvTxnCodec"/>); carries no key. Known from version 2.</summary>
    Txn = 9,

    /// <summary>Grants a lease whose id is the entry's index; carries no key. Known from version 3, as are the lease commands below.</summary>
    LeaseGrant = 10,

    /// <summary>Starts a live lease's time to live again from the command's time.</summary>
    LeaseKeepAlive = 11,

    /// <summary>Ends a lease: its keys are deleted and its locks released, in this one entry.</summary>
    LeaseRevoke = 12,

    /// <summary>
    /// The leader's: ends the listed leases whose time ran out by the command's time (one a keep-alive renewed in
    /// between is left alone), deleting their keys and releasing their locks in this one entry.
    /// </summary>
    LeaseExpire = 13,

    /// <summary>
    /// A new leader's first command: moves on by the time the cluster spent without a leader the end of every lease
    /// still live when the last one was heard from, so that no lease runs out because of the failover itself.
    /// </summary>
    LeaseExtend = 14,
}

/// <summary>
/// The cluster version: which commands the leader may propose. It is the lowest version every voter supports, raised
/// by a <see cref="KvCommandType.SetClusterVersion"/> entry once each voter has said it supports more, and it never goes
/// down. A node never proposes a command its cluster version does not know, so during a rolling upgrade no replica
/// meets a command it cannot apply.
/// </summary>
public static class KvClusterVersion
{
    /// <summary>Puts, deletes, conditional writes, locks and sessions: what every version knows.</summary>
    public const int Initial = 1;

    /// <summary>Adds <see cref="KvCommandType.SetClusterVersion"/>, <see cref="KvCommandType.Txn"/> and snapshot format 3.</summary>
    public const int Transactions = 2;

    /// <summary>
    /// Adds leases: the lease commands, keys and locks bound to a lease (<see cref="KvCommandFlags.Lease"/>), a
    /// transaction's put with a lease, and snapshot format 4.
    /// </summary>
    public const int Leases = 3;

    /// <summary>The highest version this server supports.</summary>
    public const int Supported = Leases;

    /// <summary>The cluster version a command needs before it may be proposed (a command bound to a lease needs <see cref="Leases"/>).</summary>
    public static int Required(KvCommandType type) => type switch
    {
        KvCommandType.SetClusterVersion or KvCommandType.Txn => Transactions,
        >= KvCommandType.LeaseGrant and <= KvCommandType.LeaseExtend => Leases,
        _ => Initial,
    };
}

/// <summary>Flags in the second byte of every command. Unknown bits make the command invalid.</summary>
[Flags]
public enum KvCommandFlags : byte
{
    None = 0,

    /// <summary>An i64 leader time (Unix ms) follows the fixed header; lock commands require it.</summary>
    Timed = 1,

    /// <summary>A client session (id, sequence) follows the key.</summary>
    Session = 2,

    /// <summary>A lease id u64 follows the session: the put's key, or the acquired lock, is bound to that lease. Known from version 3.</summary>
    Lease = 4,
}

/// <summary>A client session as a write carries it; <see cref="ClientId"/> null means "no session".</summary>
/// <param name="ClientId">The client's chosen id, 1 to <see cref="KvCommandCodec.ClientIdBytesMax"/> bytes of UTF-8.</param>
/// <param name="Sequence">Greater than zero; one more for every new write of that client.</param>
public readonly record struct KvSession(string? ClientId, ulong Sequence)
{
    public bool IsEmpty => ClientId is null;
}

/// <summary>A decoded command; every span is a slice of the encoded bytes.</summary>
public readonly ref struct KvCommand
{
    public KvCommandType Type { get; init; }

    public KvCommandFlags Flags { get; init; }

    /// <summary>The key (or lock name) as UTF-8.</summary>
    public ReadOnlySpan<byte> Key { get; init; }

    /// <summary>The value of a put; empty otherwise.</summary>
    public ReadOnlySpan<byte> Value { get; init; }

    /// <summary>The leader's time when it proposed the command (Unix ms); 0 without <see cref="KvCommandFlags.Timed"/>.</summary>
    public long TimeMs { get; init; }

    /// <summary>The session's client id as UTF-8; empty without <see cref="KvCommandFlags.Session"/>.</summary>
    public ReadOnlySpan<byte> ClientId { get; init; }

    public ulong Sequence { get; init; }

    /// <summary>The version a conditional write expects.</summary>
    public ulong ExpectedVersion { get; init; }

    /// <summary>A lock's time to live for acquire and renew; a lease's for a grant; how far a lease extension moves leases.</summary>
    public long TtlMs { get; init; }

    /// <summary>
    /// The lease a put's key or an acquired lock is bound to (<see cref="KvCommandFlags.Lease"/>), or the lease a keep-alive
    /// or revoke names; 0 for none.
    /// </summary>
    public ulong LeaseId { get; init; }

    /// <summary>A lock command's owner as UTF-8.</summary>
    public ReadOnlySpan<byte> Owner { get; init; }

    public bool HasSession => (Flags & KvCommandFlags.Session) != 0;
}

/// <summary>
/// The binary form of key-value commands as they travel through the Raft log. Every replica decodes the same
/// bytes with the same code, so a command that fails to decode fails identically everywhere.
/// </summary>
/// <remarks>
/// Layout, little-endian:
/// <code>
///  0      1       2        4                   4+T        4+T+K
///  +------+-------+--------+-------------------+----------+----------------------------+-----------------+
///  | type | flags | K (u16)| time i64 (T = 8   | key (K)  | session (if Session flag): | lease id u64 (if  | body (by type) |
///  |      |       |        | if Timed, else 0) |          | C u8, id (C), seq u64      | Lease flag)       |                |
///  +------+-------+--------+-------------------+----------+----------------------------+-------------------+----------------+
///
///  Put             (1): body = the value, every remaining byte
///  Delete          (2): body = empty
///  PutIfVersion    (3): body = expected version u64, then the value
///  DeleteIfVersion (4): body = expected version u64
///  LockAcquire     (5): body = ttl ms i64, O u8, owner (O bytes)        Timed required
///                       with the Lease flag: body = O u8, owner (the lock lives as long as the lease)
///  LockRenew       (6): body = ttl ms i64, O u8, owner (O bytes)        Timed required
///  LockRelease     (7): body = O u8, owner (O bytes)                    Timed required
///  SetClusterVersion (8): K = 0, no flags; body = version u32
///  Txn             (9): K = 0; body = the transaction (KvTxnCodec)
///  LeaseGrant     (10): K = 0; body = ttl ms i64                        Timed required
///  LeaseKeepAlive (11): K = 0; body = lease id u64                      Timed required
///  LeaseRevoke    (12): K = 0; body = lease id u64
///  LeaseExpire    (13): K = 0, no session; body = N u16, N lease ids u64 Timed required
///  LeaseExtend    (14): K = 0, no session; body = by ms i64             Timed required
/// The Lease flag is valid on Put, PutIfVersion and LockAcquire only.
/// </code>
/// The time sits at a fixed offset so the leader can stamp it into an encoded command just before it proposes
/// (<see cref="TryStampTime"/>): replicas never read their own clock. Commands written before the flags existed
/// (put and delete without flags) still decode.
/// </remarks>
public static class KvCommandCodec
{
    /// <summary>Bytes before the time or the key.</summary>
    public const int HeaderBytes = 4;

    /// <summary>The longest key the format can carry.</summary>
    public const int KeyBytesMax = ushort.MaxValue;

    public const int ClientIdBytesMax = 128;

    public const int OwnerBytesMax = 128;

    private const int TimeBytes = 8;

    /// <summary>Leases one <see cref="KvCommandType.LeaseExpire"/> command ends at most.</summary>
    public const int ExpireLeasesMax = 1024;

    private const KvCommandFlags KnownFlags = KvCommandFlags.Timed | KvCommandFlags.Session | KvCommandFlags.Lease;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The largest put of this size can take, with time, the longest session and a lease.</summary>
    public static int PutBytes(int keyBytes, int valueBytes) => HeaderBytes + TimeBytes + keyBytes + 1 + ClientIdBytesMax + 8 + 8 + 8 + valueBytes;

    /// <summary>Encodes an unconditional put without time or session (the log format's original put).</summary>
    public static byte[] EncodePut(string key, ReadOnlySpan<byte> value) => EncodePut(key, value, null, default);

    /// <summary>Encodes a put of a UTF-8 key into a new array (the array becomes the log entry's payload).</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="expectedVersion">When set, the put applies only if the key's version equals it (0: must not exist).</param>
    /// <param name="session">The client session, or empty.</param>
    /// <param name="lease">The lease the key is bound to (0: none; the put unbinds the key from any lease it had).</param>
    public static byte[] EncodePut(string key, ReadOnlySpan<byte> value, ulong? expectedVersion, KvSession session, ulong lease = 0)
    {
        var type = expectedVersion is null ? KvCommandType.Put : KvCommandType.PutIfVersion;
        var flags = session.IsEmpty ? KvCommandFlags.None : KvCommandFlags.Timed | KvCommandFlags.Session;
        if (lease != 0)
        {
            // Timed: the store checks the lease is live at the command's time.
            flags |= KvCommandFlags.Timed | KvCommandFlags.Lease;
        }

        var bodyBytes = (expectedVersion is null ? 0 : 8) + value.Length;
        var buffer = Allocate(type, flags, key, session, bodyBytes, out var body, lease);
        if (expectedVersion is { } expected)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body, expected);
            body = body[8..];
        }

        value.CopyTo(body);
        return buffer;
    }

    public static byte[] EncodeDelete(string key) => EncodeDelete(key, null, default);

    public static byte[] EncodeDelete(string key, ulong? expectedVersion, KvSession session)
    {
        var type = expectedVersion is null ? KvCommandType.Delete : KvCommandType.DeleteIfVersion;
        var flags = session.IsEmpty ? KvCommandFlags.None : KvCommandFlags.Timed | KvCommandFlags.Session;
        var buffer = Allocate(type, flags, key, session, expectedVersion is null ? 0 : 8, out var body);
        if (expectedVersion is { } expected)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body, expected);
        }

        return buffer;
    }

    /// <summary>Encodes a lock acquire or renew with time 0; the leader stamps its time before proposing.</summary>
    /// <param name="lease">For an acquire, the lease the lock is bound to instead of a time to live of its own (0: none).</param>
    public static byte[] EncodeLock(KvCommandType type, string name, string owner, long ttlMs, KvSession session, ulong lease = 0)
    {
        if (type is not (KvCommandType.LockAcquire or KvCommandType.LockRenew or KvCommandType.LockRelease))
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "not a lock command");
        }

        if (lease != 0 && type != KvCommandType.LockAcquire)
        {
            throw new ArgumentException("only an acquire binds a lock to a lease", nameof(lease));
        }

        ArgumentNullException.ThrowIfNull(owner);
        var ownerBytes = CheckedBytes(owner, OwnerBytesMax, nameof(owner));
        var flags = KvCommandFlags.Timed | (session.IsEmpty ? KvCommandFlags.None : KvCommandFlags.Session) | (lease == 0 ? KvCommandFlags.None : KvCommandFlags.Lease);
        var withTtl = type != KvCommandType.LockRelease && lease == 0;
        var buffer = Allocate(type, flags, name, session, (withTtl ? 8 : 0) + 1 + ownerBytes, out var body, lease);
        if (withTtl)
        {
            BinaryPrimitives.WriteInt64LittleEndian(body, ttlMs);
            body = body[8..];
        }

        body[0] = (byte)ownerBytes;
        StrictUtf8.GetBytes(owner, body[1..]);
        return buffer;
    }

    /// <summary>Encodes the entry that raises the cluster version to <paramref name="version"/>.</summary>
    public static byte[] EncodeSetClusterVersion(int version)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
        var buffer = new byte[HeaderBytes + 4];
        buffer[0] = (byte)KvCommandType.SetClusterVersion;
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(HeaderBytes), (uint)version);
        return buffer;
    }

    /// <summary>
    /// Encodes a transaction (checked by <see cref="KvTxnCodec.Encode"/>), with the session if any; one that binds a key
    /// to a lease carries time, for the leader to stamp.
    /// </summary>
    public static byte[] EncodeTxn(KvTxn txn, KvSession session)
    {
        ArgumentNullException.ThrowIfNull(txn);
        var flags = session.IsEmpty ? KvCommandFlags.None : KvCommandFlags.Timed | KvCommandFlags.Session;
        if (txn.Success.Any(static op => op.Lease != 0) || txn.Failure.Any(static op => op.Lease != 0))
        {
            // Timed: the store checks each lease is live at the command's time.
            flags |= KvCommandFlags.Timed;
        }

        var buffer = Allocate(KvCommandType.Txn, flags, null, session, KvTxnCodec.EncodedBytes(txn), out var body);
        KvTxnCodec.Encode(txn, body);
        return buffer;
    }

    /// <summary>Encodes a lease grant with time 0; the leader stamps its time before proposing.</summary>
    public static byte[] EncodeLeaseGrant(long ttlMs, KvSession session)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ttlMs, 1);
        var buffer = Allocate(KvCommandType.LeaseGrant, KvCommandFlags.Timed | SessionFlag(session), null, session, 8, out var body);
        BinaryPrimitives.WriteInt64LittleEndian(body, ttlMs);
        return buffer;
    }

    /// <summary>Encodes a keep-alive (<see cref="KvCommandType.LeaseKeepAlive"/>) or a revoke (<see cref="KvCommandType.LeaseRevoke"/>) of lease <paramref name="id"/>.</summary>
    public static byte[] EncodeLease(KvCommandType type, ulong id, KvSession session)
    {
        if (type is not (KvCommandType.LeaseKeepAlive or KvCommandType.LeaseRevoke))
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "not a keep-alive or a revoke");
        }

        ArgumentOutOfRangeException.ThrowIfZero(id);
        var buffer = Allocate(type, KvCommandFlags.Timed | SessionFlag(session), null, session, 8, out var body);
        BinaryPrimitives.WriteUInt64LittleEndian(body, id);
        return buffer;
    }

    /// <summary>Encodes the leader's expiry of up to <see cref="ExpireLeasesMax"/> leases.</summary>
    public static byte[] EncodeLeaseExpire(ReadOnlySpan<ulong> ids)
    {
        if (ids.IsEmpty || ids.Length > ExpireLeasesMax)
        {
            throw new ArgumentOutOfRangeException(nameof(ids), ids.Length, $"an expiry names 1 to {ExpireLeasesMax} leases");
        }

        var buffer = Allocate(KvCommandType.LeaseExpire, KvCommandFlags.Timed, null, default, 2 + (8 * ids.Length), out var body);
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body[(2 + (8 * i))..], ids[i]);
        }

        return buffer;
    }

    /// <summary>Encodes a new leader's extension of every live lease by <paramref name="byMs"/>.</summary>
    public static byte[] EncodeLeaseExtend(long byMs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(byMs, 1);
        var buffer = Allocate(KvCommandType.LeaseExtend, KvCommandFlags.Timed, null, default, 8, out var body);
        BinaryPrimitives.WriteInt64LittleEndian(body, byMs);
        return buffer;
    }

    /// <summary>The lease ids a decoded <see cref="KvCommandType.LeaseExpire"/> command's <see cref="KvCommand.Value"/> holds.</summary>
    public static int LeaseIdCount(ReadOnlySpan<byte> expireBody) => BinaryPrimitives.ReadUInt16LittleEndian(expireBody);

    /// <summary>The <paramref name="i"/>th lease id of a decoded <see cref="KvCommandType.LeaseExpire"/> body.</summary>
    public static ulong LeaseIdAt(ReadOnlySpan<byte> expireBody, int i) => BinaryPrimitives.ReadUInt64LittleEndian(expireBody[(2 + (8 * i))..]);

    /// <summary>The type a command's first byte names (not checked: the command may not decode).</summary>
    public static KvCommandType TypeOf(ReadOnlySpan<byte> command) => command.IsEmpty ? 0 : (KvCommandType)command[0];

    /// <summary>
    /// Writes <paramref name="timeMs"/> into a timed command; false (nothing written) when the command carries no
    /// time. The leader calls this on its own freshly encoded array just before proposing it.
    /// </summary>
    public static bool TryStampTime(Span<byte> command, long timeMs)
    {
        if (command.Length < HeaderBytes + TimeBytes || ((KvCommandFlags)command[1] & KvCommandFlags.Timed) == 0)
        {
            return false;
        }

        BinaryPrimitives.WriteInt64LittleEndian(command[HeaderBytes..], timeMs);
        return true;
    }

    /// <summary>
    /// What in <paramref name="source"/> this version does not know, or null: a command type or flag bit a newer version
    /// proposed. A replica must not skip such an entry (others may apply it), so the store stops instead.
    /// </summary>
    public static string? UnknownToThisVersion(ReadOnlySpan<byte> source)
    {
        if (source.Length < 2)
        {
            return null;
        }

        if (!Enum.IsDefined((KvCommandType)source[0]))
        {
            return $"command type {source[0]}";
        }

        var unknownFlags = (KvCommandFlags)source[1] & ~KnownFlags;
        if (unknownFlags != 0)
        {
            return $"command flags 0x{(byte)unknownFlags:x2}";
        }

        // A version this server does not support: the cluster reached it once every voter did, this one among them not.
        return (KvCommandType)source[0] == KvCommandType.SetClusterVersion && source.Length == HeaderBytes + 4
            && BinaryPrimitives.ReadUInt32LittleEndian(source[HeaderBytes..]) is var version and > KvClusterVersion.Supported
            ? $"cluster version {version} (this server supports versions up to {KvClusterVersion.Supported})"
            : null;
    }

    /// <summary>Decodes untrusted bytes; false (never an exception) when they are not a valid command.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, out KvCommand command)
    {
        command = default;
        if (source.Length < HeaderBytes)
        {
            return false;
        }

        var type = (KvCommandType)source[0];
        var flags = (KvCommandFlags)source[1];
        int keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(source[2..]);
        if ((flags & ~KnownFlags) != 0 || (keyBytes == 0) != HasNoKey(type)
            || ((flags & KvCommandFlags.Lease) != 0 && type is not (KvCommandType.Put or KvCommandType.PutIfVersion or KvCommandType.LockAcquire)))
        {
            return false;
        }

        var rest = source[HeaderBytes..];
        long time = 0;
        if ((flags & KvCommandFlags.Timed) != 0)
        {
            if (rest.Length < TimeBytes)
            {
                return false;
            }

            time = BinaryPrimitives.ReadInt64LittleEndian(rest);
            rest = rest[TimeBytes..];
        }

        if (rest.Length < keyBytes)
        {
            return false;
        }

        var key = rest[..keyBytes];
        rest = rest[keyBytes..];
        ReadOnlySpan<byte> clientId = default;
        ulong sequence = 0;
        if ((flags & KvCommandFlags.Session) != 0)
        {
            if (rest.IsEmpty || rest[0] is 0 or > ClientIdBytesMax || rest.Length < 1 + rest[0] + 8)
            {
                return false;
            }

            clientId = rest.Slice(1, rest[0]);
            sequence = BinaryPrimitives.ReadUInt64LittleEndian(rest[(1 + rest[0])..]);
            rest = rest[(1 + rest[0] + 8)..];
            if (sequence == 0)
            {
                return false;
            }
        }

        ulong leaseId = 0;
        if ((flags & KvCommandFlags.Lease) != 0)
        {
            if (rest.Length < 8 || (flags & KvCommandFlags.Timed) == 0)
            {
                return false;
            }

            leaseId = BinaryPrimitives.ReadUInt64LittleEndian(rest);
            rest = rest[8..];
            if (leaseId == 0)
            {
                return false;
            }
        }

        ulong expected = 0;
        long ttl = 0;
        ReadOnlySpan<byte> owner = default;
        switch (type)
        {
            case KvCommandType.Put:
                break;
            case KvCommandType.Delete:
                if (!rest.IsEmpty)
                {
                    return false;
                }

                break;
            case KvCommandType.PutIfVersion:
            case KvCommandType.DeleteIfVersion:
                if (rest.Length < 8 || (type == KvCommandType.DeleteIfVersion && rest.Length != 8))
                {
                    return false;
                }

                expected = BinaryPrimitives.ReadUInt64LittleEndian(rest);
                rest = rest[8..];
                break;
            case KvCommandType.LockAcquire:
            case KvCommandType.LockRenew:
            case KvCommandType.LockRelease:
                if ((flags & KvCommandFlags.Timed) == 0)
                {
                    return false;
                }

                if (type != KvCommandType.LockRelease && leaseId == 0)
                {
                    if (rest.Length < 8)
                    {
                        return false;
                    }

                    ttl = BinaryPrimitives.ReadInt64LittleEndian(rest);
                    rest = rest[8..];
                    if (ttl <= 0)
                    {
                        return false;
                    }
                }

                // The owner is kept as text: bytes that are not UTF-8 make the command invalid, not its apply throw.
                if (rest.IsEmpty || rest[0] is 0 or > OwnerBytesMax || rest.Length != 1 + rest[0] || !Utf8.IsValid(rest[1..]))
                {
                    return false;
                }

                owner = rest[1..];
                rest = default;
                break;
            case KvCommandType.SetClusterVersion:
                if (flags != KvCommandFlags.None || rest.Length != 4 || BinaryPrimitives.ReadUInt32LittleEndian(rest) is 0 or > KvClusterVersion.Supported)
                {
                    return false;
                }

                expected = BinaryPrimitives.ReadUInt32LittleEndian(rest);
                rest = default;
                break;
            case KvCommandType.Txn:
                if (!KvTxnCodec.IsValid(rest))
                {
                    return false;
                }

                break;
            case KvCommandType.LeaseGrant:
            case KvCommandType.LeaseExtend:
                if ((flags & KvCommandFlags.Timed) == 0 || rest.Length != 8 || BinaryPrimitives.ReadInt64LittleEndian(rest) <= 0
                    || (type == KvCommandType.LeaseExtend && (flags & KvCommandFlags.Session) != 0))
                {
                    return false;
                }

                ttl = BinaryPrimitives.ReadInt64LittleEndian(rest);
                rest = default;
                break;
            case KvCommandType.LeaseKeepAlive:
            case KvCommandType.LeaseRevoke:
                if ((flags & KvCommandFlags.Timed) == 0 || rest.Length != 8 || BinaryPrimitives.ReadUInt64LittleEndian(rest) == 0)
                {
                    return false;
                }

                leaseId = BinaryPrimitives.ReadUInt64LittleEndian(rest);
                rest = default;
                break;
            case KvCommandType.LeaseExpire:
                if (flags != KvCommandFlags.Timed || rest.Length < 2 || BinaryPrimitives.ReadUInt16LittleEndian(rest) is 0 or > ExpireLeasesMax
                    || rest.Length != 2 + (8 * BinaryPrimitives.ReadUInt16LittleEndian(rest)))
                {
                    return false;
                }

                break;
            default:
                return false;
        }

        command = new KvCommand
        {
            Type = type,
            Flags = flags,
            Key = key,
            Value = rest,
            TimeMs = time,
            ClientId = clientId,
            Sequence = sequence,
            ExpectedVersion = expected,
            TtlMs = ttl,
            Owner = owner,
            LeaseId = leaseId,
        };
        return true;
    }

    // Commands that act on the whole store rather than on one key.
    private static bool HasNoKey(KvCommandType type) => type is KvCommandType.SetClusterVersion or KvCommandType.Txn or (>= KvCommandType.LeaseGrant and <= KvCommandType.LeaseExtend);

    private static KvCommandFlags SessionFlag(KvSession session) => session.IsEmpty ? KvCommandFlags.None : KvCommandFlags.Session;

    // Lays out header, time, key, session and lease, and hands back the body to fill.
    // A null key (transactions, the cluster version, leases) is written as none.
    private static byte[] Allocate(KvCommandType type, KvCommandFlags flags, string? key, KvSession session, int bodyBytes, out Span<byte> body, ulong lease = 0)
    {
        if (key is null && !HasNoKey(type))
        {
            throw new ArgumentNullException(nameof(key));
        }

        var keyBytes = key is null ? 0 : CheckedBytes(key, KeyBytesMax, nameof(key));
        var sessionBytes = 0;
        if (!session.IsEmpty)
        {
            if (session.Sequence == 0)
            {
                throw new ArgumentException("a session's sequence starts at 1", nameof(session));
            }

            sessionBytes = 1 + CheckedBytes(session.ClientId!, ClientIdBytesMax, nameof(session)) + 8;
        }

        var timeBytes = (flags & KvCommandFlags.Timed) != 0 ? TimeBytes : 0;
        var leaseBytes = (flags & KvCommandFlags.Lease) != 0 ? 8 : 0;
        var buffer = new byte[HeaderBytes + timeBytes + keyBytes + sessionBytes + leaseBytes + bodyBytes];
        var span = buffer.AsSpan();
        span[0] = (byte)type;
        span[1] = (byte)flags;
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], (ushort)keyBytes);
        var offset = HeaderBytes + timeBytes;
        offset += key is null ? 0 : StrictUtf8.GetBytes(key, span.Slice(offset, keyBytes));
        if (!session.IsEmpty)
        {
            var idBytes = sessionBytes - 9;
            span[offset] = (byte)idBytes;
            StrictUtf8.GetBytes(session.ClientId!, span.Slice(offset + 1, idBytes));
            BinaryPrimitives.WriteUInt64LittleEndian(span[(offset + 1 + idBytes)..], session.Sequence);
            offset += sessionBytes;
        }

        if (leaseBytes != 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[offset..], lease);
            offset += leaseBytes;
        }

        body = span[offset..];
        return buffer;
    }

    internal static int CheckedBytes(string text, int max, string name)
    {
        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("not valid Unicode", name, e);
        }

        if (bytes is 0 || bytes > max)
        {
            throw new ArgumentException($"must have 1 to {max} bytes of UTF-8; this one has {bytes}", name);
        }

        return bytes;
    }
}
