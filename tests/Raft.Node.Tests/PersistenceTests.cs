using Raft.Core;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>Persist before you vouch: what a batch waiting for the disk holds back, and what it lets through.</summary>
public sealed class PersistenceTests
{
    [Fact]
    public void Append_AFollowerAcknowledgesEntriesOnlyOnceItsDiskHasThem()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster[2].DiskHeld = true;

        var write = cluster[1].Put("x", "1");
        cluster.Settle();

        // Node 3 acknowledged, so the write committed; node 2 wrote the entry but its disk has not made it durable.
        Assert.Equal(WriteStatus.Applied, write.Status);
        var index = write.Outcome!.Value.Index;
        Assert.True(cluster[2].Driver.IsAwaitingPersistence);
        Assert.Equal(index, cluster[2].Log.LastIndex);
        Assert.True(cluster[2].Log.DurableIndex < index);
        Assert.DoesNotContain(cluster[2].Events.Sent, m => m is { Type: MessageType.AppendResponse, Reject: false } && m.Index >= index);
        Assert.Null(cluster[2].Value("x"));

        cluster[2].DiskHeld = false;
        cluster[2].Persist();

        Assert.Contains(cluster[2].Events.Sent, m => m is { Type: MessageType.AppendResponse, Reject: false } && m.Index >= index);
        cluster.Tick();
        Assert.Equal("1", cluster[2].Value("x"));
    }

    [Fact]
    public void Vote_AVoterGrantsOnlyOnceTheNewTermAndItsVoteAreSaved()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var term = cluster[1].Core.Term;
        cluster[3].DiskHeld = true;

        // The leader dies; both followers notice at once, and the lower id's campaign is the one that goes on.
        cluster.Crash(1);
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.Settle();

        Assert.Equal(RaftRole.Candidate, cluster[2].Core.Role);
        Assert.True(cluster[3].Driver.IsAwaitingPersistence);
        Assert.True(cluster[3].HardState.TryLoad(out var saved));
        Assert.Equal(term, saved.Term);
        Assert.DoesNotContain(cluster[3].Events.Sent, m => m.Type == MessageType.VoteResponse && m.Term > term);

        cluster[3].DiskHeld = false;
        cluster[3].Persist();

        Assert.True(cluster[3].HardState.TryLoad(out saved));
        Assert.Equal((term + 1, 2), (saved.Term, saved.VotedFor));
        Assert.Contains(cluster[3].Events.Sent, m => m is { Type: MessageType.VoteResponse, Reject: false, To: 2 } && m.Term == term + 1);
        cluster.Settle();
        Assert.Equal(RaftRole.Leader, cluster[2].Core.Role);
    }

    [Fact]
    public void Vote_ACandidateAsksForVotesOnlyOnceItsNewTermAndOwnVoteAreSaved()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var term = cluster[1].Core.Term;
        cluster[2].DiskHeld = true;

        cluster.Crash(1);
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.Settle();

        // Node 2 won the pre-vote and became a candidate, but its disk holds the new term and vote back.
        Assert.Equal((RaftRole.Candidate, term + 1), (cluster[2].Core.Role, cluster[2].Core.Term));
        Assert.True(cluster[2].HardState.TryLoad(out var saved));
        Assert.Equal(term, saved.Term);
        Assert.DoesNotContain(cluster[2].Events.Sent, m => m.Type == MessageType.Vote && m.Term > term);

        cluster[2].DiskHeld = false;
        cluster[2].Persist();

        Assert.True(cluster[2].HardState.TryLoad(out saved));
        Assert.Equal((term + 1, 2), (saved.Term, saved.VotedFor));
        Assert.Contains(cluster.InFlight, m => m is { Type: MessageType.Vote, From: 2, To: 3 } && m.Term == term + 1);
        cluster.Settle();
        Assert.Equal(RaftRole.Leader, cluster[2].Core.Role);
    }

    [Fact]
    public void Inbox_InputsArrivingWhileABatchWaits_AreReplayedInOrderOnceItIsDurable()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var leader = cluster[1];
        var lastIndex = leader.Core.LastIndex;
        var commit = leader.Core.CommitIndex;
        leader.DiskHeld = true;

        var first = leader.Put("k", "first");
        var second = leader.Put("k", "second");
        var third = leader.Put("k", "third");
        cluster.Settle();

        // Only the first was proposed; the followers' acknowledgements wait in the inbox behind the other two.
        Assert.True(leader.Driver.IsAwaitingPersistence);
        Assert.Equal(lastIndex + 1, leader.Core.LastIndex);
        Assert.Equal(commit, leader.Core.CommitIndex);
        Assert.All(new[] { first, second, third }, w => Assert.Null(w.Outcome));

        leader.DiskHeld = false;
        leader.Persist();
        cluster.Settle();

        Assert.All(new[] { first, second, third }, w => Assert.Equal(WriteStatus.Applied, w.Status));
        Assert.Equal(
            [lastIndex + 1, lastIndex + 2, lastIndex + 3],
            new[] { first, second, third }.Select(w => w.Outcome!.Value.Index));
        Assert.All(cluster.Nodes, n => Assert.Equal("third", n.Value("k")));
    }

    [Fact]
    public void HardState_IsSavedWhenTermOrVoteChange_NotWhenOnlyTheCommitIndexMoves()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var saves = cluster.Nodes.Select(n => n.HardState.SaveCount).ToArray();

        for (var i = 0; i < 5; i++)
        {
            cluster[1].Put($"k{i}", "v");
        }

        cluster.Tick(2);

        // The commit index moved on every node, and no node paid a hard state write for it.
        Assert.Equal(saves, cluster.Nodes.Select(n => n.HardState.SaveCount));
        Assert.All(cluster.Nodes, n =>
        {
            Assert.True(n.HardState.TryLoad(out var saved));
            Assert.True(saved.Commit < n.Core.CommitIndex);
        });

        var transfer = cluster[1].Transfer(2);
        cluster.Settle();

        // A new term is saved at once by every node, with the vote and the commit index of that moment.
        Assert.Equal(TransferStatus.Moved, transfer.Status);
        Assert.All(cluster.Nodes, n =>
        {
            Assert.True(n.HardState.SaveCount > saves[n.Id - 1]);
            Assert.True(n.HardState.TryLoad(out var saved));
            Assert.Equal((n.Core.Term, 2), (saved.Term, saved.VotedFor));
        });
    }
}
