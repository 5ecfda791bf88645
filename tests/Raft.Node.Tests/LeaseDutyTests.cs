using System.Text;
using Raft.Core;
using Raft.KeyValue;

namespace Raft.Node.Tests;

/// <summary>
/// The leader's duties for leases (each tick is 10 ms of wall clock): it ends a lease once its time ran out, deleting
/// the lease's keys on every replica at one index, and a new leader first extends every live lease by the time the
/// cluster spent without a leader, so that no lease runs out because of the failover.
/// </summary>
public sealed class LeaseDutyTests
{
    private static Cluster Upgraded(int leader = 1)
    {
        var cluster = Cluster.WithLeader(3, leader);
        Assert.Equal(WriteStatus.Applied, Settled(cluster, cluster[leader].Propose(KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Leases))).Status);
        return cluster;
    }

    private static TestWrite Settled(Cluster cluster, TestWrite write)
    {
        cluster.Settle();
        return write;
    }

    private static KvApplyResult Applied(Cluster cluster, TestWrite write)
    {
        cluster.Settle();
        Assert.Equal(WriteStatus.Applied, write.Status);
        return write.Outcome!.Value.Result;
    }

    private static ulong GrantWithKey(Cluster cluster, TestNode leader, long ttlMs, string key)
    {
        var lease = Applied(cluster, leader.Propose(KvCommandCodec.EncodeLeaseGrant(ttlMs, default))).Lease;
        Assert.Equal(KvApplyStatus.Ok, Applied(cluster, leader.Propose(KvCommandCodec.EncodePut(key, Encoding.UTF8.GetBytes("v"), null, default, lease))).Status);
        return lease;
    }

    [Fact]
    public void The_leader_ends_a_lease_once_its_time_ran_out_and_every_replica_deletes_its_keys_at_the_same_index()
    {
        var cluster = Upgraded();
        var leader = cluster[1];
        var lease = GrantWithKey(cluster, leader, ttlMs: 500, "service/a");
        var granted = leader.Store.ClockMs;
        var proposedBefore = leader.Driver.DutiesProposed;

        // Held until the leader's clock reaches the lease's end: 500 ms is 50 ticks, less the ticks spent granting.
        cluster.TickUntil(() => leader.WallClockMs >= granted + 490);
        Assert.All(cluster.Nodes, node => Assert.Equal("v", node.Value("service/a")));

        cluster.TickUntil(() => cluster.Nodes.All(node => node.Value("service/a") is null), maxTicks: 5);
        Assert.Equal(proposedBefore + 1, leader.Driver.DutiesProposed);
        Assert.All(cluster.Nodes, node => Assert.Equal(0, node.Store.LeaseCount));
        Assert.All(cluster.Nodes, node => Assert.False(node.Store.TryGetLease(lease, 0, out _)));
        Assert.Equal(TestNode.ImageOf(cluster[1].Store), TestNode.ImageOf(cluster[2].Store));
        Assert.Equal(TestNode.ImageOf(cluster[1].Store), TestNode.ImageOf(cluster[3].Store));

        // Nothing more is due: no duty proposed on later ticks.
        cluster.Tick(20);
        Assert.Equal(proposedBefore + 1, leader.Driver.DutiesProposed);
    }

    [Fact]
    public void A_keep_alive_before_the_end_keeps_the_lease_and_no_expiry_is_proposed()
    {
        var cluster = Upgraded();
        var leader = cluster[1];
        var lease = GrantWithKey(cluster, leader, ttlMs: 300, "k");
        var proposedBefore = leader.Driver.DutiesProposed;
        for (var round = 0; round < 5; round++)
        {
            cluster.Tick(15);
            Assert.Equal(KvApplyStatus.Ok, Applied(cluster, leader.Propose(KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, default))).Status);
        }

        Assert.Equal(proposedBefore, leader.Driver.DutiesProposed);
        Assert.All(cluster.Nodes, node => Assert.Equal("v", node.Value("k")));
    }

    [Fact]
    public void After_a_failover_longer_than_the_lease_a_keep_alive_to_the_new_leader_still_finds_it_live()
    {
        var cluster = Upgraded();
        var lease = GrantWithKey(cluster, cluster[1], ttlMs: 200, "k");
        var remainingAtCrash = cluster[1].Store.TryGetLease(lease, 0, out var before) ? before.ExpiresAtMs - cluster[1].WallClockMs : 0;
        Assert.InRange(remainingAtCrash, 150, 200);

        // The leader dies; the other two cannot reach each other for 40 ticks (400 ms, twice the lease) and then elect.
        cluster.Crash(1);
        cluster.Cut(2, 3);
        cluster.Cut(3, 2);
        cluster.Tick(40);
        cluster.Heal();
        var next = cluster[cluster.ElectLeader()];
        var gapMs = next.WallClockMs - before.ExpiresAtMs + remainingAtCrash;
        Assert.True(gapMs > 400, $"the failover took {gapMs} ms");

        // The new leader's extension went first: the lease has about what it had left when the old leader was last heard.
        Assert.True(next.Store.TryGetLease(lease, next.WallClockMs, out var extended), "the lease ran out across the failover");
        Assert.InRange(extended.ExpiresAtMs - next.WallClockMs, 50, 200);
        Assert.Equal(KvApplyStatus.Ok, Applied(cluster, next.Propose(KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, default))).Status);
        Assert.Equal("v", next.Value("k"));

        // Not kept alive again, it ends on its own, under the new leader.
        cluster.TickUntil(() => next.Value("k") is null, maxTicks: 40);
        Assert.Equal(RaftRole.Leader, next.Core.Role);
    }

    [Fact]
    public void Without_a_lease_held_a_new_leader_proposes_nothing_of_its_own()
    {
        var cluster = Upgraded();
        cluster.Crash(1);
        var next = cluster[cluster.ElectLeader()];
        cluster.Tick(50);
        Assert.Equal(0, next.Driver.DutiesProposed);
    }
}
