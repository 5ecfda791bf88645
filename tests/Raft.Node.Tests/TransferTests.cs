using System.Text;
using Raft.Core;
using Raft.KeyValue;
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
    public void Transfer_ToNobodyInParticular_AtANewLeaderThatHeardFromNoFollower_WaitsForOneToAnswer()
    {
        // Node 1 crashed and a new leader was elected, but no follower has answered it yet: every match it knows is 0,
        // and node 1 comes first. The hand-over waits for a follower that answers instead of choosing the dead node.
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Crash(1);
        cluster.Drop = m => m.Type is MessageType.AppendResponse or MessageType.HeartbeatResponse;
        cluster.TickUntil(() => cluster[2].Core.Role == RaftRole.Leader || cluster[3].Core.Role == RaftRole.Leader);
        var leader = cluster[2].Core.Role == RaftRole.Leader ? 2 : 3;
        var follower = 5 - leader;

        var transfer = cluster[leader].Transfer(0);
        Assert.Null(transfer.Outcome);
        var again = cluster[leader].Transfer(follower);
        Assert.Equal(TransferStatus.Failed, again.Status);
        cluster.Drop = null;
        cluster.TickUntil(() => transfer.Outcome is not null);

        Assert.Equal(TransferStatus.Moved, transfer.Status);
        Assert.Equal(follower, transfer.Outcome!.Value.Target);
        Assert.Equal(RaftRole.Leader, cluster[follower].Core.Role);
    }

    [Fact]
    public void Transfer_ToNobodyInParticular_IsAnsweredFailed_WhenNoFollowerAnswersInTime()
    {
        // Without CheckQuorum the leader keeps leading while its followers' answers are lost.
        var cluster = Cluster.WithLeader(3, leader: 1, o => o with { Raft = o.Raft with { CheckQuorum = false } });
        cluster.Drop = m => m.Type is MessageType.AppendResponse or MessageType.HeartbeatResponse;
        cluster.Tick(2 * cluster[1].Options.Raft.ElectionTimeoutTicks);

        var transfer = cluster[1].Transfer(0);
        cluster.TickUntil(() => transfer.Outcome is not null, maxTicks: cluster[1].Options.TransferTimeoutTicks + 1);

        Assert.Equal(TransferStatus.Failed, transfer.Status);
        Assert.Equal(0, transfer.Outcome!.Value.Target);
        Assert.Contains("no follower", transfer.Outcome.Value.Detail);
        Assert.Equal(RaftRole.Leader, cluster[1].Core.Role);
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

    [Fact]
    public void Transfer_AWriteHandedToTheTarget_GoesOutInTheNewLeadersFirstBatch_WithItsNoOp()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);

        // Node 3 is caught up, so it is told to campaign at once; a write arriving now is handed to it, not held.
        var transfer = cluster[1].Transfer(3);
        Assert.True(cluster[1].Core.TransfereeToldToCampaign);
        var atLeader = cluster[1].Propose(Put("k", "v"), canHandOver: true);
        Assert.Equal((WriteStatus.HandedOver, 3), (atLeader.Status, atLeader.Outcome!.Value.LeaderId));

        // The host passes it on; node 3 still follows node 1 (the TimeoutNow is in flight), so it holds it.
        var handed = cluster[3].Propose(Put("k", "v"), handedOverBy: 1);
        Assert.Null(handed.Outcome);
        cluster.Settle();

        Assert.Equal(TransferStatus.Moved, transfer.Status);
        Assert.Equal(WriteStatus.Applied, handed.Status);
        var term = cluster[3].Core.Term;
        var first = cluster[3].Events.Sent.First(m => m.Type == MessageType.Append && m.Term == term && !m.Entries.IsEmpty);
        var entries = first.Entries.ToArray();
        Assert.Equal(EntryType.NoOp, entries[0].Type);
        Assert.Contains(entries, e => e.Index == handed.Outcome!.Value.Index && e.Type == EntryType.Command);
        Assert.All(cluster.Nodes, n => Assert.Equal(1, Writes(n, "k")));
    }

    [Fact]
    public void Transfer_AWriteHeldWhileTheTargetCatchesUp_IsHandedOverOnceItIsToldToCampaign()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Cut(1, 3);
        cluster[1].Put("x", "1");
        cluster.Settle();
        cluster.Heal();

        var transfer = cluster[1].Transfer(3);
        Assert.False(cluster[1].Core.TransfereeToldToCampaign);
        var plain = cluster[1].Propose(Put("plain", "v"));
        var handOver = cluster[1].Propose(Put("k", "v"), canHandOver: true);
        Assert.Null(handOver.Outcome);

        // Caught up, node 3 is told to campaign and the leader hands the write over (its host would send it there). The
        // write that cannot be handed over stays held and is answered once node 3 leads, for its host to send there.
        cluster.TickUntil(() => transfer.Outcome is not null);
        Assert.Equal(TransferStatus.Moved, transfer.Status);
        Assert.Equal((WriteStatus.HandedOver, 3), (handOver.Status, handOver.Outcome!.Value.LeaderId));
        Assert.Equal((WriteStatus.NotLeader, 3), (plain.Status, plain.Outcome!.Value.LeaderId));
        Assert.All(cluster.Nodes, n => Assert.Equal(0, Writes(n, "k") + Writes(n, "plain")));
    }

    [Fact]
    public void Transfer_GivenUp_TheTargetAnswersAWriteHandedToItNotLeader_AndNothingIsAppliedTwice()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Drop = m => m.Type == MessageType.TimeoutNow;

        var transfer = cluster[1].Transfer(3);
        var atLeader = cluster[1].Propose(Put("k", "v"), canHandOver: true);
        Assert.Equal(WriteStatus.HandedOver, atLeader.Status);
        var handed = cluster[3].Propose(Put("k", "v"), handedOverBy: 1);

        // Node 3 never campaigns: the hand-over is given up after an election timeout, and node 3, still following node
        // 1, answers the write it held NotLeader after its leader wait, having proposed nothing.
        cluster.Tick(cluster[1].Options.Raft.ElectionTimeoutTicks);
        Assert.Equal(TransferStatus.Failed, transfer.Status);
        Assert.Null(handed.Outcome);
        cluster.Tick(cluster[3].Options.LeaderWaitTicks);
        Assert.Equal((WriteStatus.NotLeader, 1), (handed.Status, handed.Outcome!.Value.LeaderId));

        // Its host passes it on to node 1, which leads again and applies it: once.
        var retried = cluster[1].Propose(Put("k", "v"));
        cluster.Settle();
        Assert.Equal(WriteStatus.Applied, retried.Status);
        Assert.All(cluster.Nodes, n => Assert.Equal(1, Writes(n, "k")));
    }

    [Fact]
    public void Transfer_AWriteHandedToTheTarget_GoesToWhoeverWinsInstead_WhenAnotherNodeLeads()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Drop = m => m.Type == MessageType.TimeoutNow;
        cluster[1].Transfer(3);
        var handed = cluster[3].Propose(Put("k", "v"), handedOverBy: 1);

        // Node 1 dies; node 2 wins the election. Node 3 learns of it and sends the write on, never having proposed it.
        cluster.Crash(1);
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.Settle();
        cluster.TickUntil(() => handed.Outcome is not null);

        Assert.Equal((WriteStatus.NotLeader, 2), (handed.Status, handed.Outcome!.Value.LeaderId));
        Assert.Equal(0, Writes(cluster[3], "k"));
    }

    private static byte[] Put(string key, string value) => KvCommandCodec.EncodePut(key, Encoding.UTF8.GetBytes(value));

    // How many entries of the node's log write the key.
    private static int Writes(TestNode node, string key)
    {
        var count = 0;
        for (var i = node.Core.FirstIndex; i <= node.Core.LastIndex; i++)
        {
            var entry = node.Core.EntryAt(i);
            if (entry.Type == EntryType.Command && KvCommandCodec.TryDecode(entry.Data.Span, out var command) && command.Key.SequenceEqual(Encoding.UTF8.GetBytes(key)))
            {
                count++;
            }
        }

        return count;
    }
}
