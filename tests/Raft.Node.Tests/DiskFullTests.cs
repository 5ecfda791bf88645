using Raft.Core;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>
/// A full disk: the batch that found no room waits unwritten, vouches for nothing, and goes on by itself once space
/// returns; new writes are refused; a leader that cannot write is replaced.
/// </summary>
public sealed class DiskFullTests
{
    [Fact]
    public void Append_AFollowerWithAFullDiskAcknowledgesNothingAndCatchesUpWhenSpaceReturns()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var follower = cluster[2];
        follower.Log.DiskFull = true;

        var write = cluster[1].Put("x", "1");
        cluster.Settle();

        // Node 3 acknowledged, so the write committed; node 2 holds nothing of it and said nothing about it.
        Assert.Equal(WriteStatus.Applied, write.Status);
        var index = write.Outcome!.Value.Index;
        Assert.True(follower.Driver.IsDiskFull);
        Assert.True(follower.Driver.View.DiskFull);
        Assert.False(follower.Driver.IsAwaitingPersistence);
        Assert.True(follower.Log.LastIndex < index);
        Assert.DoesNotContain(follower.Events.Sent, m => m is { Type: MessageType.AppendResponse, Reject: false } && m.Index >= index);
        Assert.Contains(follower.Events.DiskFullReports, full => full);

        // A write sent to it goes to the leader, whose disk has room.
        var routed = follower.Put("y", "1");
        Assert.Equal(WriteStatus.NotLeader, routed.Status);
        Assert.Equal(1, routed.Outcome!.Value.LeaderId);

        // Ticks retry with backoff; while the disk stays full nothing changes.
        cluster.Tick(20);
        Assert.True(follower.Driver.IsDiskFull);
        Assert.True(follower.Log.LastIndex < index);

        follower.Log.DiskFull = false;
        cluster.TickUntil(() => follower.Value("x") == "1");
        Assert.False(follower.Driver.IsDiskFull);
        Assert.False(follower.Driver.View.DiskFull);
        Assert.Equal([true, false], follower.Events.DiskFullReports);
        Assert.Contains(follower.Events.Sent, m => m is { Type: MessageType.AppendResponse, Reject: false } && m.Index >= index);
    }

    [Fact]
    public void Propose_ALeaderWithAFullDiskRefusesNewWritesAndAHealthyNodeTakesOver()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var stuck = cluster[1];
        stuck.Log.DiskFull = true;

        // The first write finds the disk full; it stays pending, because its entry went to the followers already and may
        // commit without this node.
        var pending = stuck.Put("a", "1");
        Assert.True(stuck.Driver.IsDiskFull);
        Assert.Null(pending.Status);

        // A write that arrives now is refused at once, with nothing proposed.
        var refused = stuck.Put("b", "1");
        Assert.Equal(WriteStatus.DiskFull, refused.Status);

        // The stuck leader sends no heartbeats, so the others elect a leader that can write.
        cluster.TickUntil(() => cluster[2].Core.Role == RaftRole.Leader || cluster[3].Core.Role == RaftRole.Leader, maxTicks: 400);
        var leader = cluster[2].Core.Role == RaftRole.Leader ? cluster[2] : cluster[3];
        var write = leader.Put("c", "1");
        cluster.TickUntil(() => write.Status is not null);
        Assert.Equal(WriteStatus.Applied, write.Status);
        Assert.Null(stuck.Value("c"));

        // Space returns: the old leader writes its batch, hears of the new term, follows, and catches up.
        stuck.Log.DiskFull = false;
        cluster.TickUntil(() => stuck.Value("c") == "1" && pending.Status is not null, maxTicks: 400);
        Assert.Equal(RaftRole.Follower, stuck.Core.Role);
        Assert.False(stuck.Driver.IsDiskFull);
        Assert.Null(stuck.Value("b"));
        Assert.Equal(cluster[2].Value("a"), stuck.Value("a"));
    }

    [Fact]
    public void Vote_AVoterThatCannotSaveItsVoteGrantsNothingUntilItCan()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var term = cluster[1].Core.Term;
        var voter = cluster[3];
        voter.HardState.DiskFull = true;

        cluster.Crash(1);
        cluster[2].PeerUnreachable(1);
        voter.PeerUnreachable(1);
        cluster.Tick(50);

        // Without node 3's vote node 2 cannot win, and node 3 never answered in the new term.
        Assert.NotEqual(RaftRole.Leader, cluster[2].Core.Role);
        Assert.True(voter.Driver.IsDiskFull);
        Assert.True(voter.HardState.TryLoad(out var saved));
        Assert.Equal(term, saved.Term);
        Assert.DoesNotContain(voter.Events.Sent, m => m.Type == MessageType.VoteResponse && m.Term > term);

        voter.HardState.DiskFull = false;
        cluster.TickUntil(() => cluster[2].Core.Role == RaftRole.Leader || voter.Core.Role == RaftRole.Leader, maxTicks: 400);
        Assert.False(voter.Driver.IsDiskFull);
        Assert.True(voter.HardState.TryLoad(out saved));
        Assert.True(saved.Term > term);
    }
}
