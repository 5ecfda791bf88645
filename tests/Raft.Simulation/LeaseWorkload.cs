using Raft.Core;

namespace Raft.Simulation;

/// <summary>
/// What one seed decides about its lease holders (run by Simulator.Leases.cs): how many, how long their leases live,
/// how often one dies or revokes, and when the cluster is raised to the version that knows leases.
/// Drawn from its own generator, so that it reshuffles none of <see cref="SimulationConfig"/>'s draws.
/// </summary>
internal sealed record LeaseWorkload
{
    /// <summary>The one lock holders contend for, each binding it to its lease when it gets it.</summary>
    public const string LockName = "lease-lock";

    /// <summary>Every key a holder binds to a lease starts with this; no other client writes there.</summary>
    public const string KeyPrefix = "lease/";

    /// <summary>Lease holders, each one process at a time; 0: none, and the cluster version is not raised either.</summary>
    public required int Holders { get; init; }

    /// <summary>Keys a holder binds to each lease it is granted, at most.</summary>
    public required int KeysPerLease { get; init; }

    /// <summary>The share of leases whose time to live is shorter than a failover (half to two election timeouts).</summary>
    public required double ShortTtlShare { get; init; }

    /// <summary>Per keep-alive round: the holder stops keeping its lease alive (a process killed), and a new one starts later.</summary>
    public required double DeathRate { get; init; }

    /// <summary>Per keep-alive round: the holder revokes its lease (a clean shutdown), and starts again later.</summary>
    public required double RevokeRate { get; init; }

    /// <summary>The chance that a holder, once granted a lease, also tries for <see cref="LockName"/> bound to it, until it gets it.</summary>
    public required double LockShare { get; init; }

    /// <summary>Ticks after the first leader appears before the simulator proposes cluster version 3.</summary>
    public required int VersionDelayTicks { get; init; }

    /// <summary>
    /// A test's broken clock: every <see cref="ClockStepEveryTicks"/> ticks the current leader's wall clock jumps this far
    /// ahead, beyond the skew the checkers allow for; 0 (always, outside that test) for none.
    /// </summary>
    public long ClockStepMs { get; init; }

    public int ClockStepEveryTicks { get; init; } = 500;

    /// <summary>No holders and no version raised: the run is what it would be without leases.</summary>
    public static LeaseWorkload None { get; } = new()
    {
        Holders = 0,
        KeysPerLease = 0,
        ShortTtlShare = 0,
        DeathRate = 0,
        RevokeRate = 0,
        LockShare = 0,
        VersionDelayTicks = 0,
    };

    public static LeaseWorkload FromSeed(SimulationConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var r = new SeededRandom(config.Seed ^ 0x1EA5_E5EE_D000_0003UL);
        return new LeaseWorkload
        {
            Holders = r.Chance(0.75) ? 1 : 2,
            KeysPerLease = r.Next(1, 3),
            ShortTtlShare = r.NextDouble() * 0.3,
            DeathRate = 0.05 + (r.NextDouble() * 0.15),
            RevokeRate = 0.03 + (r.NextDouble() * 0.07),
            LockShare = r.Chance(0.8) ? 0.3 + (r.NextDouble() * 0.7) : 0,
            VersionDelayTicks = r.Next(0, 4 * config.ElectionTimeoutTicks),
        };
    }

    public override string ToString() =>
        $"holders={Holders} keys<={KeysPerLease} shortTtl={ShortTtlShare:F2} deaths={DeathRate:F2} revokes={RevokeRate:F2} lock={LockShare:F2} versionAfter={VersionDelayTicks}"
        + (ClockStepMs == 0 ? string.Empty : $" clockStep={ClockStepMs}ms/{ClockStepEveryTicks}");
}

/// <summary>
/// Lease work in a run: leases granted, keep-alives answered, leases ended by a revoke and by the leader's expiry, keys
/// deleted by those ends (checked against the keys bound to the lease on every replica that applied the end), ends
/// applied by a replica and compared, expiries that came within the clock skew allowance of the holder's belief, and
/// acquires of the lock bound to a lease granted and refused.
/// </summary>
internal sealed record LeaseCounts(
    int Granted = 0, int KeepAlives = 0, int Revoked = 0, int Expired = 0, int KeysDeleted = 0, int ReplicaEnds = 0, int WithinSkew = 0, int LockGrants = 0, int LockRefusals = 0)
{
    public LeaseCounts Add(LeaseCounts other) => new(
        Granted + other.Granted, KeepAlives + other.KeepAlives, Revoked + other.Revoked, Expired + other.Expired, KeysDeleted + other.KeysDeleted,
        ReplicaEnds + other.ReplicaEnds, WithinSkew + other.WithinSkew, LockGrants + other.LockGrants, LockRefusals + other.LockRefusals);

    public override string ToString() =>
        $"{Granted} leases granted ({KeepAlives} keep-alives, {Expired} expired, {Revoked} revoked, {KeysDeleted} bound keys deleted at their end, " +
        $"{ReplicaEnds} ends checked on replicas, {WithinSkew} expiries within the skew allowance of a holder's belief, {LockGrants} locks bound to a lease granted, {LockRefusals} refused)";
}
