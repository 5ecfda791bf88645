using Raft.Core;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>Reads at each consistency: where they are served, whom they ask, and when they give up.</summary>
public sealed class ReadTests
{
    // The driver looks for unanswered read index requests every this many ticks.
    private const int ReadSweepIntervalTicks = 16;

    [Fact]
    public void Stale_IsServedAtOnce_EvenWhileABatchWaitsForTheDisk()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster[1].Put("x", "1");
        cluster.Settle();
        cluster[1].DiskHeld = true;
        cluster[1].Put("x", "2");
        Assert.True(cluster[1].Driver.IsAwaitingPersistence);

        var read = cluster[1].Read(ReadConsistency.Stale, "x");

        Assert.True(read.Served);
        Assert.Equal("1", read.Value);
    }

    [Fact]
    public void Lease_OnTheLeader_IsServedWithoutARoundTrip()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster[1].Put("x", "1");
        cluster.Settle();
        var inFlight = cluster.InFlight.Count;

        var read = cluster[1].Read(ReadConsistency.Lease, "x");

        Assert.True(read.Served);
        Assert.Equal("1", read.Value);
        Assert.Equal(inFlight, cluster.InFlight.Count);
    }

    [Fact]
    public void Lease_OnAFollower_FailsNotLeader_NamingTheLeader()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);

        var read = cluster[2].Read(ReadConsistency.Lease, "x");

        Assert.Equal(ReadFailure.NotLeader, read.Failure);
        Assert.Equal(1, read.FailureLeaderId);
    }

    [Fact]
    public void Linearizable_OnAFollower_IsAskedOfTheLeader()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster[1].Put("x", "1");
        cluster.Settle();

        var read = cluster[3].Read(ReadConsistency.Linearizable, "x");
        Assert.False(read.Answered);
        Assert.Contains(cluster.InFlight, m => m is { Type: MessageType.ReadIndex, From: 3, To: 1 });
        cluster.Settle();

        Assert.True(read.Served);
        Assert.Equal("1", read.Value);
    }

    [Fact]
    public void Linearizable_IsAskedAgainOfTheNextLeader_WhenLeadershipMovesBeforeItIsConfirmed()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster[1].Put("x", "1");
        cluster.Settle();

        // The question dies with node 1; node 2 wins the next election.
        var read = cluster[3].Read(ReadConsistency.Linearizable, "x");
        cluster.Crash(1);
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.Settle();

        Assert.Equal(RaftRole.Leader, cluster[2].Core.Role);
        Assert.True(read.Served);
        Assert.Equal("1", read.Value);
        Assert.Equal([1, 2], cluster[3].Events.Sent.Where(m => m.Type == MessageType.ReadIndex).Select(m => m.To));
    }

    [Fact]
    public void Linearizable_EachReadWaitingForALeader_WaitsItsOwnLeaderWaitTicks()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var wait = cluster[3].Options.LeaderWaitTicks;
        cluster.Isolate(3);
        cluster[3].PeerUnreachable(1);
        var early = cluster[3].Read(ReadConsistency.Linearizable, "x");
        cluster.Tick(wait - 1);

        var late = cluster[3].Read(ReadConsistency.Linearizable, "x");
        cluster.Tick(2);
        Assert.Equal(ReadFailure.NoLeader, early.Failure);
        Assert.False(late.Answered);
        cluster.Tick(wait - 2);
        Assert.False(late.Answered);
        cluster.Tick();

        Assert.Equal(ReadFailure.NoLeader, late.Failure);
    }

    [Fact]
    public void Linearizable_AskedOfALeaderThatDies_WaitsLeaderWaitTicksForTheNextOne()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var wait = cluster[3].Options.LeaderWaitTicks;
        cluster.Drop = m => m.Type == MessageType.ReadIndex;
        var read = cluster[3].Read(ReadConsistency.Linearizable, "x");
        cluster.Tick(cluster[3].Options.ReadConfirmTicks / 2);

        // The leader dies unanswered and node 3, cut off, finds no other: the wait for a leader starts now.
        cluster.Crash(1);
        cluster.Isolate(3);
        cluster[3].PeerUnreachable(1);
        cluster.Tick(wait);
        Assert.False(read.Answered);
        cluster.Tick();

        Assert.Equal(ReadFailure.NoLeader, read.Failure);
    }

    [Fact]
    public void Linearizable_FailsNotConfirmed_WhenLeadershipMovesMoreOftenThanReadAttemptsMax()
    {
        var cluster = Cluster.WithLeader(3, leader: 1, o => o with { ReadAttemptsMax = 1 });

        var read = cluster[3].Read(ReadConsistency.Linearizable, "x");
        cluster.Crash(1);
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.Settle();

        Assert.Equal(ReadFailure.NotConfirmed, read.Failure);
        Assert.Equal(2, read.FailureLeaderId);
    }

    [Fact]
    public void Linearizable_FailsNotConfirmed_WhenNoAnswerComesWithinReadConfirmTicks()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Drop = m => m.Type == MessageType.ReadIndex;

        var read = cluster[3].Read(ReadConsistency.Linearizable, "x");
        cluster.Tick(cluster[3].Options.ReadConfirmTicks);
        Assert.False(read.Answered);
        cluster.Tick(ReadSweepIntervalTicks);

        Assert.Equal(ReadFailure.NotConfirmed, read.Failure);
        Assert.Equal(1, read.FailureLeaderId);
    }

    [Fact]
    public void Linearizable_ConfirmedAtAnIndexNotYetAppliedHere_WaitsUntilTheStateMachineHasIt()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);

        // Node 3 hears nothing from the leader but its answers to read index requests.
        cluster.Drop = m => m.To == 3 && m.Type is MessageType.Append or MessageType.Heartbeat;
        var write = cluster[1].Put("x", "1");
        cluster.Settle();
        Assert.Equal(WriteStatus.Applied, write.Status);

        var read = cluster[3].Read(ReadConsistency.Linearizable, "x");
        cluster.Settle();

        // The leader confirmed an index that includes the write; node 3 has not applied that far.
        Assert.Contains(cluster[3].Events.Received, m => m is { Type: MessageType.ReadIndexResponse, Reject: false } && m.Index >= write.Outcome!.Value.Index);
        Assert.False(read.Answered);

        cluster.Drop = null;
        cluster.Tick(3);

        Assert.True(read.Served);
        Assert.Equal("1", read.Value);
        Assert.True(read.ServedAtIndex >= write.Outcome!.Value.Index);
    }
}
