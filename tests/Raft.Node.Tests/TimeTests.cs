using Raft.Core;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>Time as the host reports it: elapsed ticks, which may be many at once, and the wall clock leaders stamp into commands.</summary>
public sealed class TimeTests
{
    [Fact]
    public void Elapsed_ALeaderResumingAfterMoreTicksThanItsLease_RefusesALeaseRead()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster[1].Tick();
        Assert.True(cluster[1].Read(ReadConsistency.Lease, "x").Served);

        // Node 1's process was stopped; on resume its host reports all the time that passed, in one call.
        cluster[1].Tick(elapsed: 1_000);
        var read = cluster[1].Read(ReadConsistency.Lease, "x");

        Assert.False(read.Served);
        Assert.False(cluster[1].Core.TryLeaseRead(out _));
    }

    [Fact]
    public void Elapsed_ManyTicksAtOnce_FireTimersAtMostOnce_ButEveryDeadlineSeesThemAll()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var leader = cluster[1];
        var write = leader.Put("x", "1");
        var sentBefore = leader.Events.Sent.Count;
        var ticksBefore = leader.Driver.Ticks;

        leader.Tick(elapsed: 10_000);

        // Timers take at most a heartbeat interval of a long stall: one heartbeat round, and no step-down.
        var heartbeats = leader.Events.Sent.Skip(sentBefore).Count(m => m is { Type: MessageType.Heartbeat, To: 2 });
        Assert.Equal(1, heartbeats);
        Assert.Equal(RaftRole.Leader, leader.Core.Role);

        // The clients' deadlines are in real time.
        Assert.Equal(ticksBefore + 10_000, leader.Driver.Ticks);
        Assert.Equal(WriteStatus.TimedOut, write.Status);
    }

    [Fact]
    public void Elapsed_AFollowerResumingAfterAStall_HearsTheQueuedHeartbeatsAndDoesNotCampaign()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var follower = cluster[2];

        // The follower's process stops for far longer than an election timeout; then it resumes.
        follower.Tick(elapsed: 10 * (ulong)follower.Options.Raft.ElectionTimeoutTicks);
        cluster.Settle();

        Assert.Equal(RaftRole.Follower, follower.Core.Role);
        Assert.Equal(1, follower.Core.LeaderId);
        Assert.Equal(RaftRole.Leader, cluster[1].Core.Role);
    }

    [Fact]
    public void Elapsed_TicksReportedWhileTheInboxIsFull_StillCount_SoAStalledLeaderServesNoStaleLeaseRead()
    {
        var cluster = Cluster.WithLeader(3, leader: 1, o => o with { InboxMax = 4 });
        cluster[1].Put("x", "old");
        cluster.Settle();

        // Node 1's disk stalls with a batch waiting; its inbox has room for four inputs, and then ticks keep coming.
        cluster[1].DiskHeld = true;
        cluster[1].Put("y", "1");
        cluster.Isolate(1);
        cluster.Tick(50);

        // Meanwhile the others elected a leader of their own and overwrote x.
        var next = cluster.Nodes.Single(n => n.Core.Role == RaftRole.Leader && n.Id != 1);
        var overwrite = next.Put("x", "new");
        cluster.Settle();
        Assert.Equal(WriteStatus.Applied, overwrite.Status);

        cluster[1].DiskHeld = false;
        cluster[1].Persist();
        var read = cluster[1].Read(ReadConsistency.Lease, "x");

        Assert.False(read.Served, $"served '{read.Value}' on a lease that lapsed 40 ticks ago");
        Assert.False(cluster[1].Core.TryLeaseRead(out _));
    }

    [Fact]
    public void Unreachable_ReportedWhileTheInboxIsFull_StillStartsAFastCampaign()
    {
        var cluster = Cluster.WithLeader(3, leader: 1, o => o with { InboxMax = 2 });

        // Node 2's disk holds a batch while its inbox fills; then the transport reports the leader's process gone.
        cluster[2].DiskHeld = true;
        cluster[1].Put("x", "1");
        cluster.Settle();
        cluster.Crash(1);
        cluster[2].Tick();
        cluster[2].Tick();
        cluster[2].Tick();
        cluster[2].PeerUnreachable(1);
        cluster[2].DiskHeld = false;
        cluster[2].Persist();

        // Fast failover: it pre-votes at once, long before its election timeout.
        Assert.Equal(RaftRole.PreCandidate, cluster[2].Core.Role);
    }

    [Fact]
    public void Stamp_ANextLeaderWhoseClockIsBehind_StampsNoEarlierThanItsPredecessor()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster[1].ClockSkewMs = 60_000;
        cluster.Tick();
        var first = cluster[1].Lock("a", "alice", ttlMs: 1_000);
        cluster.Settle();
        Assert.Equal(WriteStatus.Applied, first.Status);
        Assert.Equal(cluster[1].WallClockMs, first.StampedTimeMs);
        Assert.Equal(first.StampedTimeMs + 1_000, first.Outcome!.Value.Result.ExpiresAtMs);

        // Leadership moves to node 2, whose wall clock is a minute behind node 1's.
        var transfer = cluster[1].Transfer(2);
        cluster.Settle();
        Assert.Equal(TransferStatus.Moved, transfer.Status);
        cluster.Tick();
        Assert.True(cluster[2].WallClockMs < first.StampedTimeMs);
        var second = cluster[2].Lock("b", "bob", ttlMs: 1_000);
        cluster.Settle();

        Assert.Equal(WriteStatus.Applied, second.Status);
        Assert.True(second.StampedTimeMs >= first.StampedTimeMs, $"stamped {second.StampedTimeMs}, before it {first.StampedTimeMs}");
        Assert.True(second.Outcome!.Value.Result.ExpiresAtMs >= first.Outcome.Value.Result.ExpiresAtMs);
        Assert.True(cluster[2].Store.ClockMs >= first.StampedTimeMs);
    }

    [Fact]
    public void Stamp_ANextLeaderProposingBeforeItAppliedItsPredecessorsLastEntry_StillNeverMovesLockTimeBack()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster[1].ClockSkewMs = 60_000;
        cluster.Tick();
        var first = cluster[1].Lock("a", "alice", ttlMs: 1_000);
        cluster[1].Transfer(2);

        // Node 2 is told to campaign as soon as it holds the lock entry, before it learns that the entry committed.
        for (var round = 0; round < 20 && cluster[2].Core.Role != RaftRole.Leader; round++)
        {
            cluster.DeliverAll(_ => true);
        }

        Assert.Equal(RaftRole.Leader, cluster[2].Core.Role);
        Assert.True(cluster[2].Store.ClockMs < first.StampedTimeMs);
        var second = cluster[2].Lock("b", "bob", ttlMs: 1_000);
        cluster.Settle();

        // Node 2 could stamp only its own, slower clock; the state machine's clock, which applies the predecessor's
        // entry first, is what keeps command time from going back.
        Assert.Equal(WriteStatus.Applied, first.Status);
        Assert.Equal(WriteStatus.Applied, second.Status);
        Assert.True(second.Outcome!.Value.Result.ExpiresAtMs >= first.Outcome!.Value.Result.ExpiresAtMs);
        Assert.Equal(first.StampedTimeMs, cluster[2].Store.ClockMs);
    }
}
