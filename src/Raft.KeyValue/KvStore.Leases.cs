using System.Runtime.InteropServices;

namespace Raft.KeyValue;

/// <summary>A lease as a reader sees it.</summary>
/// <param name="Id">The index of the entry that granted it.</param>
/// <param name="TtlMs">Its time to live: each keep-alive moves its end to this far after the keep-alive's time.</param>
/// <param name="ExpiresAtMs">When it ends (Unix ms, in leader time) unless kept alive.</param>
/// <param name="Keys">The keys bound to it, in ordinal order.</param>
/// <param name="Locks">The locks bound to it and held by it, in ordinal order.</param>
public sealed record KvLeaseInfo(ulong Id, long TtlMs, long ExpiresAtMs, IReadOnlyList<string> Keys, IReadOnlyList<string> Locks);

public sealed partial class KvStore
{
    private readonly Dictionary<ulong, Lease> _leases = [];

    // Every lease by its end, then id: the leader's expiry walks it from the front.
    private readonly SortedSet<(long ExpiresAtMs, ulong Id)> _leaseEnds = [];

    // The store's time before the command being applied moved it: what the command's own checks call "before".
    private long _clockBeforeCommandMs;

    /// <summary>Leases held, live or run out and not yet ended by an expiry entry.</summary>
    public int LeaseCount => _leases.Count;

    /// <summary>
    /// The lease <paramref name="id"/> if the store holds it and its time has not run out at <paramref name="nowMs"/>
    /// (never earlier than <see cref="ClockMs"/>).
    /// </summary>
    public bool TryGetLease(ulong id, long nowMs, out KvLeaseInfo lease)
    {
        if (_leases.TryGetValue(id, out var held) && held.ExpiresAtMs > Math.Max(nowMs, ClockMs))
        {
            var keys = held.Keys.ToArray();
            Array.Sort(keys, StringComparer.Ordinal);
            var locks = held.Locks.Where(name => _locks.TryGetValue(name, out var slot) && slot.Lease == id).ToArray();
            Array.Sort(locks, StringComparer.Ordinal);
            lease = new KvLeaseInfo(id, held.TtlMs, held.ExpiresAtMs, keys, locks);
            return true;
        }

        lease = null!;
        return false;
    }

    /// <summary>Adds to <paramref name="into"/> the ids of the leases live at <paramref name="nowMs"/>, in ascending order, up to <paramref name="limit"/>; true when there are more.</summary>
    public bool ListLeases(long nowMs, int limit, List<ulong> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        var now = Math.Max(nowMs, ClockMs);
        var ids = _leases.Values.Where(lease => lease.ExpiresAtMs > now).Select(lease => lease.Id).Order();
        var added = 0;
        foreach (var id in ids)
        {
            if (added == limit)
            {
                return true;
            }

            into.Add(id);
            added++;
        }

        return false;
    }

    /// <summary>
    /// The leader's duty at <paramref name="leaderTimeMs"/>: an expiry command for the leases whose time ran out by then
    /// (at most <see cref="KvCommandCodec.ExpireLeasesMax"/>, the earliest first), or nothing when none did.
    /// </summary>
    public void CollectDueCommands(long leaderTimeMs, List<byte[]> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        if (_leaseEnds.Count == 0 || _leaseEnds.Min.ExpiresAtMs > leaderTimeMs)
        {
            return;
        }

        Span<ulong> ids = stackalloc ulong[KvCommandCodec.ExpireLeasesMax];
        var count = 0;
        foreach (var (expiresAtMs, id) in _leaseEnds)
        {
            if (expiresAtMs > leaderTimeMs || count == ids.Length)
            {
                break;
            }

            ids[count++] = id;
        }

        into.Add(KvCommandCodec.EncodeLeaseExpire(ids[..count]));
    }

    /// <summary>
    /// A new leader's first command: extends the leases by <paramref name="gapMs"/>, the time the cluster spent without a
    /// leader as the new one measured it; nothing when no lease is held or no time was lost.
    /// </summary>
    public byte[]? TakeOverCommand(long gapMs) => _leases.Count == 0 || gapMs <= 0 ? null : KvCommandCodec.EncodeLeaseExtend(gapMs);

    private bool IsLive(ulong id) => _leases.TryGetValue(id, out var lease) && lease.ExpiresAtMs > ClockMs;

    private KvApplyResult GrantLease(ulong index, long ttlMs)
    {
        if (_leases.Count >= _options.LeasesMax)
        {
            return new KvApplyResult(KvApplyStatus.TooManyLeases, index, 0, 0);
        }

        var lease = new Lease(index, ttlMs, ExpiryAt(ClockMs, ttlMs));
        _leases.Add(index, lease);
        _leaseEnds.Add((lease.ExpiresAtMs, index));
        return LeaseResult(index, lease);
    }

    private KvApplyResult KeepAlive(ulong index, ulong id)
    {
        if (!IsLive(id))
        {
            return new KvApplyResult(KvApplyStatus.LeaseNotFound, index, 0, 0) { Lease = id };
        }

        var lease = _leases[id];
        MoveEnd(lease, ExpiryAt(ClockMs, lease.TtlMs));
        return LeaseResult(index, lease);
    }

    // A revoke ends a lease whether or not its time ran out (one that ran out is still held until an expiry ends it).
    private KvApplyResult RevokeLease(ulong index, ulong id)
    {
        if (!_leases.TryGetValue(id, out var lease))
        {
            return new KvApplyResult(KvApplyStatus.LeaseNotFound, index, 0, 0) { Lease = id };
        }

        End(index, lease);
        return new KvApplyResult(KvApplyStatus.Ok, index, 0, 0) { Lease = id };
    }

    // Only leases whose end is at or before the command's time: a keep-alive applied after the leader chose them wins.
    private KvApplyResult ExpireLeases(ulong index, ReadOnlySpan<byte> body)
    {
        ulong ended = 0;
        var count = KvCommandCodec.LeaseIdCount(body);
        for (var i = 0; i < count; i++)
        {
            if (_leases.TryGetValue(KvCommandCodec.LeaseIdAt(body, i), out var lease) && lease.ExpiresAtMs <= ClockMs)
            {
                End(index, lease);
                ended++;
            }
        }

        return new KvApplyResult(KvApplyStatus.Ok, index, 0, 0) { Lease = ended };
    }

    // The cluster had no leader from (this command's time - byMs) on, by the new leader's clock. A lease live then, and
    // not seen run out by any command applied since, moves on by byMs: what its holder could not renew while there was
    // nobody to renew it with. One that ran out before is left to expire; one seen run out stays so, since a lock bound
    // to it may already be someone else's. The gap is at most the time since the last command applied before this one:
    // the old leader stamped that one while it led, so no longer could have gone without a leader. This bounds what a
    // new leader that had been cut off (and so heard no leader for long) can give.
    private KvApplyResult ExtendLeases(ulong index, long byMs)
    {
        byMs = Math.Min(byMs, ClockMs - _clockBeforeCommandMs);
        if (byMs <= 0)
        {
            return new KvApplyResult(KvApplyStatus.Ok, index, 0, 0);
        }

        var liveAfter = Math.Max(_clockBeforeCommandMs, ClockMs - byMs);
        foreach (var lease in _leases.Values)
        {
            if (lease.ExpiresAtMs > liveAfter)
            {
                MoveEnd(lease, ExpiryAt(lease.ExpiresAtMs, byMs));
            }
        }

        return new KvApplyResult(KvApplyStatus.Ok, index, 0, 0);
    }

    private void MoveEnd(Lease lease, long expiresAtMs)
    {
        _leaseEnds.Remove((lease.ExpiresAtMs, lease.Id));
        lease.ExpiresAtMs = expiresAtMs;
        _leaseEnds.Add((expiresAtMs, lease.Id));
        foreach (var name in lease.Locks)
        {
            ref var slot = ref CollectionsMarshal.GetValueRefOrNullRef(_locks, name);
            if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot) && slot.Lease == lease.Id)
            {
                slot.ExpiresAtMs = expiresAtMs;
            }
        }
    }

    // Deletes the lease's keys and releases its locks, at this one index, then forgets it.
    private void End(ulong index, Lease lease)
    {
        _leases.Remove(lease.Id);
        _leaseEnds.Remove((lease.ExpiresAtMs, lease.Id));
        var keys = lease.Keys.ToArray();
        Array.Sort(keys, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            Delete(index, key);
        }

        foreach (var name in lease.Locks)
        {
            if (_locks.TryGetValue(name, out var slot) && slot.Lease == lease.Id)
            {
                _locks.Remove(name);
                _options.LockChanged?.Invoke(name);
            }
        }
    }

    private static KvApplyResult LeaseResult(ulong index, Lease lease) =>
        new(KvApplyStatus.Ok, index, 0, 0) { Lease = lease.Id, TtlMs = lease.TtlMs, ExpiresAtMs = lease.ExpiresAtMs };

    // Called with the lease already checked live; 0 binds nothing.
    private void Bind(ulong lease, ReadOnlySpan<char> key)
    {
        if (lease != 0)
        {
            _leases[lease].Keys.Add(new string(key));
        }
    }

    private void Unbind(ulong lease, ReadOnlySpan<char> key)
    {
        if (lease != 0 && _leases.TryGetValue(lease, out var held))
        {
            held.Keys.GetAlternateLookup<ReadOnlySpan<char>>().Remove(key);
        }
    }

    private void BindLock(ulong lease, ReadOnlySpan<char> name)
    {
        if (lease != 0)
        {
            _leases[lease].Locks.Add(new string(name));
        }
    }

    private void UnbindLock(ulong lease, ReadOnlySpan<char> name)
    {
        if (lease != 0 && _leases.TryGetValue(lease, out var held))
        {
            held.Locks.GetAlternateLookup<ReadOnlySpan<char>>().Remove(name);
        }
    }

    /// <summary>A lease as the store holds it: its end moves with keep-alives and extensions; its keys and locks are bound to it.</summary>
    internal sealed class Lease(ulong id, long ttlMs, long expiresAtMs)
    {
        public ulong Id { get; } = id;

        public long TtlMs { get; } = ttlMs;

        public long ExpiresAtMs { get; set; } = expiresAtMs;

        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Locks { get; } = new(StringComparer.Ordinal);
    }
}
