using Raft.Core;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>Planned hand-overs of leadership and how each ends.</summary>
public sealed class TransferTests
{
    [Fact]
    public void Transfer_ToAFollower_IsAnsweredMovedOnceItLeads()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);

        var transfer = cluster[1].Transfer(3);
        Assert.Null(transfer.Outcome);
        cluster.Settle();

        Assert.Equal(TransferStatus.Moved, transfer.Status);
        Assert.Equal((1, 3, 3), (transfer.Outcome!.Value.From, transfer.Outcome.Value.Target, transfer.Outcome.Value.LeaderId));
        Assert.Equal(RaftRole.Leader, cluster[3].Core.Role);
    }

    [Fact]
    public void Transfer_ToNobodyInParticular_GoesToTheMostUpToDateFollower()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Cut(1, 3);
        cluster[1].Put("x", "1");
        cluster.Settle();
        cluster.Heal();

        var transfer = cluster[1].Transfer(0);
        cluster.Settle();

        Assert.Equal(TransferStatus.Moved, transfer.Status);
        Assert.Equal(2, transfer.Outcome!.Value.Target);
        Assert.Equal(RaftRole.Leader, cluster[2].Core.Role);
    }

    [Fact]
    public void Transfer_ToNobodyInParticular_PassesOverAFollowerThatStoppedAnswering()
    {
        // Node 2 is as up to date as node 3, and comes first, but it crashed: a hand-over to it could only time out.
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster[1].Put("x", "1");
        cluster.Settle();
        cluster.Crash(2);
        cluster.Tick(cluster[1].Options.Raft.ElectionTimeoutTicks + 1);
        Assert.Equal(RaftRole.Leader, cluster[1].Core.Role);

        var transfer = cluster[1].Transfer(0);
        cluster.Settle();

        Assert.Equal(TransferStatus.Moved, transfer.Status);
        Assert.Equal(3, transfer.Outcome!.Value.Target);
    }

    [Fact]
    public void Transfer_IsAnsweredFailed_WhenAnotherNodeTakesOver()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Isolate(1);
        var transfer = cluster[1].Transfer(3);

        // The hand-over's message is lost; meanwhile the others lose node 1 and elect node 2.
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.Settle();
        Assert.Null(transfer.Outcome);
        cluster.Heal();
        cluster.Tick();

        Assert.Equal(TransferStatus.Failed, transfer.Status);
        Assert.Equal((3, 2), (transfer.Outcome!.Value.Target, transfer.Outcome.Value.LeaderId));
    }

    [Fact]
    public void Transfer_IsAnsweredFailed_WhenTheCoreGivesItUpAfterAnElectionTimeout()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Crash(3);
        var transfer = cluster[1].Transfer(3);

        cluster.Tick(cluster[1].Options.Raft.ElectionTimeoutTicks - 1);
        Assert.Null(transfer.Outcome);
        cluster.Tick();

        Assert.Equal(TransferStatus.Failed, transfer.Status);
        Assert.Equal(RaftRole.Leader, cluster[1].Core.Role);
        var write = cluster[1].Put("x", "1");
        cluster.Settle();
        Assert.Equal(WriteStatus.Applied, write.Status);
    }

    [Fact]
    public void Transfer_AskedOfAFollower_IsAnsweredNotLeader_NamingTheLeader()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);

        var transfer = cluster[2].Transfer(3);

        Assert.Equal(TransferStatus.NotLeader, transfer.Status);
        Assert.Equal(1, transfer.Outcome!.Value.LeaderId);
    }
}
