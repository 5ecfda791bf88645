using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>Stopping a driver answers everything it still holds.</summary>
public sealed class StopTests
{
    [Fact]
    public void Stop_AnswersShuttingDown_WhereverARequestWaits()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        cluster.Crash(3);

        var proposed = cluster[1].Put("a", "1");
        var transfer = cluster[1].Transfer(3);
        var held = cluster[1].Put("b", "2");
        var confirming = cluster[1].Read(ReadConsistency.Linearizable, "a");
        var askedOfTheLeader = cluster[2].Read(ReadConsistency.Linearizable, "a");
        Assert.Null(proposed.Outcome);
        Assert.Null(transfer.Outcome);
        Assert.Null(held.Outcome);
        Assert.False(confirming.Answered);
        Assert.False(askedOfTheLeader.Answered);

        cluster[1].Driver.Stop();
        cluster[2].Driver.Stop();

        Assert.Equal(WriteStatus.ShuttingDown, proposed.Status);
        Assert.Equal(WriteStatus.ShuttingDown, held.Status);
        Assert.Equal(TransferStatus.ShuttingDown, transfer.Status);
        Assert.Equal(ReadFailure.ShuttingDown, confirming.Failure);
        Assert.Equal(ReadFailure.ShuttingDown, askedOfTheLeader.Failure);
    }

    [Fact]
    public void Stop_AnswersShuttingDown_ToRequestsQueuedBehindTheDisk()
    {
        var cluster = Cluster.WithLeader(3, leader: 1);
        var leader = cluster[1];
        leader.DiskHeld = true;
        var waiting = leader.Put("a", "1");
        var queuedWrite = leader.Put("b", "2");
        var queuedRead = leader.Read(ReadConsistency.Linearizable, "a");
        var queuedTransfer = leader.Transfer(2);
        Assert.True(leader.Driver.IsAwaitingPersistence);

        leader.Driver.Stop();

        Assert.Equal(WriteStatus.ShuttingDown, waiting.Status);
        Assert.Equal(WriteStatus.ShuttingDown, queuedWrite.Status);
        Assert.Equal(ReadFailure.ShuttingDown, queuedRead.Failure);
        Assert.Equal(TransferStatus.ShuttingDown, queuedTransfer.Status);
        Assert.Throws<InvalidOperationException>(() => leader.Driver.Tick(1, leader.WallClockMs));
    }
}
