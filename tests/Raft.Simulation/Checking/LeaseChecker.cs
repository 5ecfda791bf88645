using System.Globalization;

namespace Raft.Simulation.Checking;

/// <summary>How a lease ended: its holder revoked it, or the leader's expiry ended it once its time ran out.</summary>
internal enum LeaseEndKind : byte
{
    Revoked,
    Expired,
}

/// <summary>
/// Leases and the keys bound to them: a key bound to a live lease is deleted only by that lease's end; a lease's end
/// deletes exactly the keys bound to it, at that one index, on every replica that applies the index; the leader's
/// expiry never ends a lease while its holder could rightly believe it live; and once nobody keeps a lease alive and
/// the cluster has healed, the lease ends within a bound.
/// </summary>
/// <remarks>
/// <para>Times: leader time (what the store's lease ends are in) and true time (the simulation's clock, which no node
/// reads; a holder's belief is in it) are both Unix ms. Every node's wall clock is off true time by its own skew, and
/// <c>skewSpreadMs</c> is the largest difference between two nodes' skews.</para>
/// <para>Why the holder's belief is corrected by the spread: a grant or keep-alive the holder sends at true time t is
/// stamped, where it is proposed (at t or later), with at least the wall clock that node's host gave it by then, which
/// is at least t plus the smallest skew; the store's lease end is that stamp, or a later store time, plus the time to
/// live. The store's clock
/// when it applies a command is the largest stamp applied so far, each at most the true time it was stamped plus the
/// largest skew, so at true time D it reads at most D plus the largest skew. An expiry ends the lease only once the
/// store's clock reached its end, so D ≥ t + ttl − spread. The holder's belief is t + ttl; an expiry applied before
/// belief − spread, or a keep-alive refused for a lease run out before then, breaks that arithmetic: a violation.
/// Extensions only move ends later, and a revoke is the holder's own doing, so neither is timed.</para>
/// <para>Feed it the stream of commands in log order, each as the first replica to apply its index applied it
/// (<see cref="OnGranted"/>, <see cref="OnKeptAlive"/>, <see cref="OnExtended"/>, <see cref="OnKeyWritten"/>,
/// <see cref="OnKeyDeleted"/>, <see cref="OnEnded"/>, <see cref="OnKeepAliveRefused"/>); every other replica's
/// application of an end (<see cref="OnReplicaEnded"/>); what holders were told (<see cref="OnBelieved"/>); and, once
/// the cluster healed, the time now (<see cref="CheckEnded"/>).</para>
/// </remarks>
internal sealed class LeaseChecker(long skewSpreadMs)
{
    private readonly Dictionary<ulong, Lease> _leases = [];
    private readonly Dictionary<string, ulong> _boundTo = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, End> _ends = [];
    private readonly List<string> _violations = [];

    public long SkewSpreadMs => skewSpreadMs;

    public int Granted { get; private set; }

    public int Revoked { get; private set; }

    public int Expired { get; private set; }

    /// <summary>Keys deleted by lease ends, as the first replica applied them.</summary>
    public int KeysDeleted { get; private set; }

    /// <summary>Ends applied by a replica after the first one, compared with it.</summary>
    public int ReplicaEnds { get; private set; }

    /// <summary>Expiries before the holder's uncorrected belief, but within the skew allowance of it.</summary>
    public int WithinSkew { get; private set; }

    /// <summary>The first violation found so far, or null.</summary>
    public string? FirstViolation => _violations.Count == 0 ? null : _violations[0];

    /// <summary>Every key bound to a live lease.</summary>
    public IEnumerable<string> BoundKeys => _boundTo.Keys;

    /// <summary>Whether a grant of <paramref name="lease"/> was applied.</summary>
    public bool Knows(ulong lease) => _leases.ContainsKey(lease);

    /// <summary>Leases granted and not yet ended.</summary>
    public IEnumerable<ulong> Live => _leases.Values.Where(l => l.EndIndex == 0).Select(l => l.Id);

    /// <summary>The index of the entry that ended <paramref name="lease"/>, or 0 while it lives (or was never granted).</summary>
    public ulong EndIndexOf(ulong lease) => _leases.TryGetValue(lease, out var l) ? l.EndIndex : 0;

    /// <summary>The leases the entry at <paramref name="index"/> ended and the keys it deleted (sorted), or null when it ended none.</summary>
    public (IReadOnlyList<ulong> Leases, IReadOnlyList<string> Keys)? EndAt(ulong index) =>
        _ends.TryGetValue(index, out var end) ? (end.Leases, end.Keys) : null;

    /// <summary>The store's end of a live lease (leader time), or null.</summary>
    public long? ExpiresAtMs(ulong lease) => _leases.TryGetValue(lease, out var l) && l.EndIndex == 0 ? l.ExpiresAtMs : null;

    /// <summary>A grant applied at true time <paramref name="atMs"/>: the lease's id is the grant's index.</summary>
    public void OnGranted(ulong lease, long ttlMs, long expiresAtMs, long atMs)
    {
        if (_leases.ContainsKey(lease))
        {
            Violation($"lease {lease} granted twice");
            return;
        }

        Granted++;
        _leases.Add(lease, new Lease(lease, ttlMs) { ExpiresAtMs = expiresAtMs, RenewedAtMs = atMs });
    }

    /// <summary>A keep-alive applied at true time <paramref name="atMs"/> moved the lease's end to <paramref name="expiresAtMs"/>.</summary>
    public void OnKeptAlive(ulong lease, long expiresAtMs, long atMs)
    {
        if (Known(lease, "kept alive") is not { } l)
        {
            return;
        }

        l.ExpiresAtMs = expiresAtMs;
        l.RenewedAtMs = atMs;
        l.ExtendedMs = 0;
    }

    /// <summary>A new leader's take-over moved a live lease's end to <paramref name="expiresAtMs"/>.</summary>
    public void OnExtended(ulong lease, long expiresAtMs)
    {
        if (Known(lease, "extended") is not { } l)
        {
            return;
        }

        if (expiresAtMs < l.ExpiresAtMs)
        {
            Violation($"lease {lease}: a take-over moved its end back from {l.ExpiresAtMs} to {expiresAtMs}");
        }

        l.ExtendedMs += expiresAtMs - l.ExpiresAtMs;
        l.ExpiresAtMs = expiresAtMs;
    }

    /// <summary>A command other than a lease's end wrote <paramref name="key"/>, leaving it bound to <paramref name="lease"/> (0: to none).</summary>
    public void OnKeyWritten(ulong index, string key, ulong lease)
    {
        if (lease != 0 && (!_leases.TryGetValue(lease, out var to) || to.EndIndex != 0))
        {
            Violation($"index {index} bound \"{key}\" to lease {lease}, which is {(to is null ? "unknown" : $"ended at index {to.EndIndex}")}");
            return;
        }

        var from = _boundTo.GetValueOrDefault(key);
        if (from == lease)
        {
            return;
        }

        if (from != 0)
        {
            _leases[from].Keys.Remove(key);
            _boundTo.Remove(key);
        }

        if (lease != 0)
        {
            _leases[lease].Keys.Add(key);
            _boundTo[key] = lease;
        }
    }

    /// <summary>A command other than a lease's end deleted <paramref name="key"/>.</summary>
    public void OnKeyDeleted(ulong index, string key)
    {
        if (_boundTo.Remove(key, out var lease))
        {
            _leases[lease].Keys.Remove(key);
            Violation($"index {index} deleted \"{key}\", bound to live lease {lease}, without ending the lease");
        }
    }

    /// <summary>
    /// The entry at <paramref name="index"/>, applied at true time <paramref name="atMs"/>, ended <paramref name="leases"/>
    /// and deleted <paramref name="deleted"/>: it must be exactly the keys bound to them.
    /// </summary>
    public void OnEnded(ulong index, LeaseEndKind kind, IReadOnlyList<ulong> leases, IReadOnlyCollection<string> deleted, long atMs)
    {
        ArgumentNullException.ThrowIfNull(leases);
        ArgumentNullException.ThrowIfNull(deleted);
        var bound = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var id in leases)
        {
            if (Known(id, "ended") is not { } l)
            {
                continue;
            }

            bound.UnionWith(l.Keys);
            foreach (var key in l.Keys)
            {
                _boundTo.Remove(key);
            }

            l.Keys.Clear();
            l.EndIndex = index;
            l.EndKind = kind;
            l.EndAtMs = atMs;
            if (kind == LeaseEndKind.Expired)
            {
                Expired++;
                CheckTiming(l);
            }
            else
            {
                Revoked++;
            }
        }

        var keys = deleted.Order(StringComparer.Ordinal).ToArray();
        if (!bound.SetEquals(keys))
        {
            Violation($"index {index} ({kind} of lease {string.Join(", ", leases)}) deleted [{string.Join(", ", keys)}], but the keys bound were [{string.Join(", ", bound)}]");
        }

        KeysDeleted += keys.Length;
        _ends[index] = new End(leases.ToArray(), keys);
    }

    /// <summary>A keep-alive of a lease the model holds live was refused at true time <paramref name="atMs"/>: the store found its time run out.</summary>
    public void OnKeepAliveRefused(ulong index, ulong lease, long atMs)
    {
        if (!_leases.TryGetValue(lease, out var l) || l.EndIndex != 0 || l.RefusedAtMs is not null)
        {
            return;
        }

        l.RefusedAtMs = atMs;
        l.RefusedIndex = index;
        CheckTiming(l);
    }

    /// <summary>A replica applied the end at <paramref name="index"/> after the first one: it must delete the same keys.</summary>
    public void OnReplicaEnded(int replica, ulong index, IReadOnlyCollection<string> deleted)
    {
        ArgumentNullException.ThrowIfNull(deleted);
        ReplicaEnds++;
        if (!_ends.TryGetValue(index, out var end))
        {
            Violation($"replica {replica} ended a lease at index {index}, where the first replica to apply it ended none");
            return;
        }

        var keys = deleted.Order(StringComparer.Ordinal).ToArray();
        if (!keys.SequenceEqual(end.Keys, StringComparer.Ordinal))
        {
            Violation($"replica {replica} deleted [{string.Join(", ", keys)}] at index {index}, where the first replica deleted [{string.Join(", ", end.Keys)}]");
        }
    }

    /// <summary>A holder was told its grant or keep-alive, sent at true time t, took effect: it believes the lease live until t + ttl.</summary>
    public void OnBelieved(ulong lease, long untilMs)
    {
        // The answer may arrive after the lease ended: the end is then checked against the belief it brings.
        if (!_leases.TryGetValue(lease, out var l))
        {
            Violation($"a holder was told of lease {lease}, but no grant of it was applied");
            return;
        }

        if (untilMs <= l.BelievedUntilMs)
        {
            return;
        }

        l.BelievedUntilMs = untilMs;
        CheckTiming(l);
    }

    /// <summary>
    /// Liveness, from <paramref name="healedAtMs"/> (true time, once the cluster healed and nobody keeps leases alive) on:
    /// a lease still live at <paramref name="nowMs"/> must not be past the time its end allows. Its end was set at most
    /// the largest skew after its last renewal (or the heal, if later) plus its time to live, and take-overs moved it on
    /// by what they measured; a leader's clock reaches it at most the spread after that, and then the expiry needs
    /// <paramref name="allowanceMs"/> to be proposed, committed and applied (a few round trips, perhaps an election).
    /// </summary>
    public void CheckEnded(long nowMs, long healedAtMs, long allowanceMs)
    {
        foreach (var l in _leases.Values)
        {
            if (l.EndIndex != 0 || l.LivenessReported)
            {
                continue;
            }

            var from = Math.Max(healedAtMs, l.RenewedAtMs);
            var deadline = from + l.TtlMs + skewSpreadMs + l.ExtendedMs + allowanceMs;
            if (nowMs > deadline)
            {
                l.LivenessReported = true;
                Violation(string.Create(CultureInfo.InvariantCulture,
                    $"lease {l.Id} (ttl {l.TtlMs} ms, end {l.ExpiresAtMs}, bound keys [{string.Join(", ", l.Keys.Order(StringComparer.Ordinal))}]) still lives {nowMs - from} ms after nobody kept it alive and the cluster healed, past its deadline by {nowMs - deadline} ms (extended {l.ExtendedMs} ms since)"));
            }
        }
    }

    public CheckResult Check() => CheckResult.FromViolations(_violations, "leases");

    private Lease? Known(ulong lease, string what)
    {
        if (!_leases.TryGetValue(lease, out var l))
        {
            Violation($"lease {lease} {what}, but no grant of it was applied");
            return null;
        }

        if (l.EndIndex != 0)
        {
            Violation($"lease {lease} {what} after it ended at index {l.EndIndex}");
            return null;
        }

        return l;
    }

    private void CheckTiming(Lease l)
    {
        if (l.TimingReported || l.BelievedUntilMs == long.MinValue)
        {
            return;
        }

        var safeUntil = l.BelievedUntilMs - skewSpreadMs;
        if (l.EndIndex != 0 && l.EndKind == LeaseEndKind.Expired)
        {
            if (l.EndAtMs < safeUntil)
            {
                l.TimingReported = true;
                Violation(string.Create(CultureInfo.InvariantCulture,
                    $"lease {l.Id} expired at index {l.EndIndex}, applied at {l.EndAtMs}, {safeUntil - l.EndAtMs} ms before its holder could stop believing it live (until {l.BelievedUntilMs}, less {skewSpreadMs} ms of clock skew)"));
                return;
            }

            if (l.EndAtMs < l.BelievedUntilMs && !l.CountedWithinSkew)
            {
                l.CountedWithinSkew = true;
                WithinSkew++;
            }
        }

        if (l.RefusedAtMs is { } refusedAtMs && refusedAtMs < safeUntil)
        {
            l.TimingReported = true;
            Violation(string.Create(CultureInfo.InvariantCulture,
                $"lease {l.Id}: a keep-alive at index {l.RefusedIndex}, applied at {refusedAtMs}, found it run out {safeUntil - refusedAtMs} ms before its holder could stop believing it live (until {l.BelievedUntilMs}, less {skewSpreadMs} ms of clock skew)"));
        }
    }

    private void Violation(string text) => _violations.Add(text);

    private sealed record End(ulong[] Leases, string[] Keys);

    private sealed class Lease(ulong id, long ttlMs)
    {
        public ulong Id { get; } = id;

        public long TtlMs { get; } = ttlMs;

        /// <summary>The store's end (leader time).</summary>
        public long ExpiresAtMs { get; set; }

        /// <summary>True time of the last grant or keep-alive applied.</summary>
        public long RenewedAtMs { get; set; }

        /// <summary>How far take-overs moved the end since the last renewal.</summary>
        public long ExtendedMs { get; set; }

        /// <summary>True time until which its holder may believe it live; <see cref="long.MinValue"/> while no holder was told of it.</summary>
        public long BelievedUntilMs { get; set; } = long.MinValue;

        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);

        public ulong EndIndex { get; set; }

        public LeaseEndKind EndKind { get; set; }

        public long EndAtMs { get; set; }

        public long? RefusedAtMs { get; set; }

        public ulong RefusedIndex { get; set; }

        public bool TimingReported { get; set; }

        public bool CountedWithinSkew { get; set; }

        public bool LivenessReported { get; set; }
    }
}
