using Raft.Core;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>How a write is answered: on a follower, through an election or a hand-over, by a deposed leader, and when it waits too long or finds no room.</summary>
public sealed class WriteTests
{
    [Fact]
    public void Follower_AnswersNotLeader_NamingTheLeader()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);

        var write = cluster[2].Put("x", "1");

        Assert.Equal(WriteStatus.NotLeader, write.Status);
        Assert.Equal(1, write.Outcome!.Value.LeaderId);
        cluster.Settle();
        Assert.All(cluster.Nodes, n => Assert.Null(n.Value("x")));
    }

    [Fact]
    public void Election_AWriteIsHeld_AndProposedHereWhenThisNodeWins()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);

        // The leader dies and both followers notice at once; their crossing campaigns settle on the lower id.
        cluster.Crash(1);
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        Assert.Equal(RaftRole.PreCandidate, cluster[2].Core.Role);

        var write = cluster[2].Put("x", "1");
        Assert.Null(write.Outcome);
        cluster.Settle();

        Assert.Equal(RaftRole.Leader, cluster[2].Core.Role);
        Assert.Equal(WriteStatus.Applied, write.Status);
        Assert.Equal(cluster[2].Core.Term, write.Outcome!.Value.Term);
        Assert.Equal("1", cluster[3].Value("x"));
    }

    [Fact]
    public void Election_AWriteIsHeld_AndAnsweredNotLeaderOnceAnotherNodeWins()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);

        // The leader dies and both followers notice at once; their crossing campaigns settle on the lower id.
        cluster.Crash(1);
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        Assert.Equal(RaftRole.PreCandidate, cluster[3].Core.Role);

        var write = cluster[3].Put("x", "1");
        Assert.Null(write.Outcome);
        cluster.Settle();

        // Node 2 won: the write goes back to the host, to be sent there; nothing was proposed.
        Assert.Equal(RaftRole.Leader, cluster[2].Core.Role);
        Assert.Equal(WriteStatus.NotLeader, write.Status);
        Assert.Equal(2, write.Outcome!.Value.LeaderId);
        Assert.Null(cluster[2].Value("x"));
    }

    [Fact]
    public void Election_AWriteWithNoLeaderInSight_IsAnsweredNoLeaderAfterLeaderWaitTicks()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Isolate(2);
        cluster[2].PeerUnreachable(1);
        var write = cluster[2].Put("x", "1");

        // Node 2 campaigns again and again, and nobody answers.
        cluster.Tick(cluster[2].Options.LeaderWaitTicks);
        Assert.Null(write.Outcome);
        cluster.Tick();

        Assert.Equal(WriteStatus.NoLeader, write.Status);
        Assert.Equal(0, write.Outcome!.Value.LeaderId);
    }

    [Fact]
    public void Election_EachHeldWriteWaitsItsOwnLeaderWaitTicks()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var wait = cluster[2].Options.LeaderWaitTicks;
        cluster.Isolate(2);
        cluster[2].PeerUnreachable(1);
        var early = cluster[2].Put("a", "1");
        cluster.Tick(wait - 1);

        // A write that arrives late in the election is not refused with the one that waited the whole leader wait.
        var late = cluster[2].Put("b", "2");
        cluster.Tick(2);
        Assert.Equal(WriteStatus.NoLeader, early.Status);
        Assert.Null(late.Outcome);
        cluster.Tick(wait - 2);
        Assert.Null(late.Outcome);
        cluster.Tick();

        Assert.Equal(WriteStatus.NoLeader, late.Status);
    }

    [Fact]
    public void Transfer_AWriteIsHeld_AndProposedHereWhenTheHandOverIsAbandoned()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Crash(3);
        var transfer = cluster[1].Transfer(3);

        var write = cluster[1].Put("x", "1");
        Assert.Null(write.Outcome);

        // The core gives the hand-over up after an election timeout; the write is proposed then.
        cluster.Tick(cluster[1].Options.Raft.ElectionTimeoutTicks - 1);
        Assert.Null(write.Outcome);
        cluster.Tick();

        Assert.Equal(WriteStatus.Applied, write.Status);
        Assert.Equal("1", cluster[2].Value("x"));
        Assert.Equal(TransferStatus.Failed, transfer.Status);
    }

    [Fact]
    public void Transfer_AWriteIsHeld_AndAnsweredNotLeaderOnceTheTargetLeads()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var transfer = cluster[1].Transfer(2);

        var write = cluster[1].Put("x", "1");
        Assert.Null(write.Outcome);
        cluster.Settle();

        Assert.Equal(TransferStatus.Moved, transfer.Status);
        Assert.Equal(WriteStatus.NotLeader, write.Status);
        Assert.Equal(2, write.Outcome!.Value.LeaderId);
        Assert.All(cluster.Nodes, n => Assert.Null(n.Value("x")));
    }

    [Fact]
    public void DeposedLeader_AnswersApplied_WhenTheNextLeaderCommitsItsEntry()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var write = cluster[1].Put("x", "1");

        // The entry reaches both followers, then node 1 is cut off before it hears back.
        cluster.DeliverAll(m => m.Type == MessageType.Append && m.From == 1);
        cluster.Isolate(1);
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.Settle();
        Assert.Equal(RaftRole.Leader, cluster[2].Core.Role);
        Assert.Equal("1", cluster[2].Value("x"));
        Assert.Null(write.Outcome);

        cluster.Heal();
        cluster.Tick(3);

        Assert.Equal(RaftRole.Follower, cluster[1].Core.Role);
        Assert.Equal(WriteStatus.Applied, write.Status);
        Assert.Equal(2, write.Outcome!.Value.LeaderId);
        Assert.Equal("1", cluster[1].Value("x"));
    }

    [Fact]
    public void DeposedLeader_AnswersNotApplied_WhenAnotherEntryTakesItsIndex()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Isolate(1);
        var write = cluster[1].Put("x", "1");

        // No follower ever sees it: node 2 leads the next term, and its own entries take the write's index.
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.Settle();
        cluster[2].Put("y", "2");
        cluster.Settle();

        cluster.Heal();
        cluster.Tick(3);

        Assert.Equal(WriteStatus.NotApplied, write.Status);
        Assert.Null(cluster[1].Value("x"));
        Assert.Equal("2", cluster[1].Value("y"));
    }

    [Fact]
    public void DeposedLeader_ThatCannotLearn_AnswersLeadershipLostAfterLeaderWaitTicks()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var term = cluster[1].Core.Term;
        cluster.Isolate(1);
        var write = cluster[1].Put("x", "1");

        // CheckQuorum: cut off from the others, node 1 stops leading within two election timeouts.
        cluster.TickUntil(() => cluster[1].Core.Role != RaftRole.Leader, maxTicks: 20);
        cluster.Tick(cluster[1].Options.LeaderWaitTicks);
        Assert.Null(write.Outcome);
        cluster.Tick();

        Assert.Equal(WriteStatus.LeadershipLost, write.Status);
        Assert.Equal(term, write.Outcome!.Value.Term);
    }

    [Fact]
    public void Timeout_AWriteThatNeverCommits_IsAnsweredTimedOutAfterRequestTimeoutTicks()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);

        // Heartbeats keep node 1 leading, but no append is ever acknowledged.
        cluster.Drop = m => m.Type == MessageType.AppendResponse;
        var write = cluster[1].Put("x", "1");
        cluster.Tick(cluster[1].Options.RequestTimeoutTicks - 1);
        Assert.Null(write.Outcome);
        cluster.Tick();

        Assert.Equal(WriteStatus.TimedOut, write.Status);
        Assert.NotEqual(0UL, write.Outcome!.Value.Index);
        Assert.Equal(RaftRole.Leader, cluster[1].Core.Role);
    }

    [Fact]
    public void Overloaded_AWriteArrivingWhenTheInboxIsFull_IsRefused()
    {
        var cluster = Cluster.WithLeader(3, leader: 1, o => o with { InboxMax = 2 });
        cluster[1].DiskHeld = true;
        var waiting = cluster[1].Put("a", "1");
        Assert.True(cluster[1].Driver.IsAwaitingPersistence);

        var queued = new[] { cluster[1].Put("b", "2"), cluster[1].Put("c", "3") };
        var refused = cluster[1].Put("d", "4");

        Assert.Equal(WriteStatus.Overloaded, refused.Status);
        cluster[1].DiskHeld = false;
        cluster[1].Persist();
        cluster.Settle();
        Assert.All(queued.Append(waiting), w => Assert.Equal(WriteStatus.Applied, w.Status));
        Assert.Null(cluster[1].Value("d"));
    }

    [Fact]
    public void Overloaded_AWriteArrivingWhenTheHoldIsFull_IsRefused()
    {
        var cluster = Cluster.WithLeader(3, leader: 1, o => o with { HeldRequestsMax = 1 });
        cluster.Crash(3);
        cluster[1].Transfer(3);

        var held = cluster[1].Put("a", "1");
        var refused = cluster[1].Put("b", "2");

        Assert.Null(held.Outcome);
        Assert.Equal(WriteStatus.Overloaded, refused.Status);
    }
}
