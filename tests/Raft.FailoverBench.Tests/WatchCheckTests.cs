using System.Buffers;
using System.Text;
using Raft.FailoverBench.Harness;

namespace Raft.FailoverBench.Tests;

/// <summary>A busy watch must receive every acknowledged write of its row once, at its index, in index order.</summary>
public sealed class WatchCheckTests
{
    // Writes 1 to 4 acknowledged at indexes 10, 11, 13 and 14 (12 was another key's, or a no-op).
    private static readonly WatchedWrite[] Acknowledged = [new(13, 3), new(10, 1), new(14, 4), new(11, 2)];

    [Fact]
    public void EveryWriteOnce_InIndexOrder_Passes()
    {
        Assert.Null(WatchCheck.Check(Acknowledged, [new(10, 1), new(11, 2), new(13, 3), new(14, 4)]));
    }

    [Fact]
    public void AWriteSeenButNeverAcknowledged_Passes()
    {
        // Write 5 timed out at its client but committed at 12: the watch may see it, once.
        Assert.Null(WatchCheck.Check(Acknowledged, [new(10, 1), new(11, 2), new(12, 5), new(13, 3), new(14, 4)]));
    }

    [Fact]
    public void NoWritesAndNothingSeen_Passes()
    {
        Assert.Null(WatchCheck.Check([], []));
    }

    [Fact]
    public void AGap_Fails_NamingTheFirstWriteMissed()
    {
        var problem = WatchCheck.Check(Acknowledged, [new(10, 1), new(14, 4)]);
        Assert.Equal("2 of 4 acknowledged writes never arrived, the first write 2 at index 11", problem);
    }

    [Fact]
    public void TheTailMissing_Fails()
    {
        var problem = WatchCheck.Check(Acknowledged, [new(10, 1), new(11, 2), new(13, 3)]);
        Assert.Equal("1 of 4 acknowledged writes never arrived, the first write 4 at index 14", problem);
    }

    [Fact]
    public void AnIndexTwice_Fails()
    {
        var problem = WatchCheck.Check(Acknowledged, [new(10, 1), new(11, 2), new(11, 2), new(13, 3), new(14, 4)]);
        Assert.Equal("index 11 arrived twice (write 2, then write 2)", problem);
    }

    [Fact]
    public void AWriteAtTwoIndexes_Fails()
    {
        var problem = WatchCheck.Check(Acknowledged, [new(10, 1), new(11, 2), new(12, 2), new(13, 3), new(14, 4)]);
        Assert.Equal("write 2 arrived twice, the second time at index 12", problem);
    }

    [Fact]
    public void OutOfOrder_Fails()
    {
        var problem = WatchCheck.Check(Acknowledged, [new(10, 1), new(13, 3), new(11, 2), new(14, 4)]);
        Assert.Equal("index 11 (write 2) arrived after index 13: out of order", problem);
    }

    [Fact]
    public void AnotherWriteAtAnAcknowledgedIndex_Fails()
    {
        var problem = WatchCheck.Check(Acknowledged, [new(10, 1), new(11, 7), new(13, 3), new(14, 4)]);
        Assert.Equal("index 11 carried write 7, but write 2 was acknowledged at it", problem);
    }

    [Fact]
    public void TwoWritesAcknowledgedAtOneIndex_Fails()
    {
        var problem = WatchCheck.Check([new(10, 1), new(10, 2)], [new(10, 1)]);
        Assert.Equal("write 1 and write 2 were both acknowledged at index 10", problem);
    }

    [Fact]
    public void Lines_AreCutAtNewlines_AndAPartialLineWaits()
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("{\"index\":5}\n{\"index\":6,\"changes\":[]}\n{\"ind"));
        Assert.True(BenchWatch.TryReadLine(ref buffer, out var first));
        Assert.Equal("{\"index\":5}", Encoding.UTF8.GetString(first));
        Assert.True(BenchWatch.TryReadLine(ref buffer, out var second));
        Assert.Equal("{\"index\":6,\"changes\":[]}", Encoding.UTF8.GetString(second));
        Assert.False(BenchWatch.TryReadLine(ref buffer, out _));
        Assert.Equal("{\"ind", Encoding.UTF8.GetString(buffer));
    }
}

/// <summary>A failover trial's watch must deliver every acknowledged write of the trial once, in order, and nothing else.</summary>
public sealed class TrialWatchCheckTests
{
    // Four attempts: the first, second and fourth acknowledged at 10, 11 and 14; the third timed out (it may have committed, at 13).
    private static readonly WriteRecord[] Writes =
    [
        new(0, 1, "fb/t/crash-1/0/1", "v", 1, 0, 1, null, 10),
        new(0, 2, "fb/t/crash-1/0/2", "v", 1, 2, 3, null, 11),
        new(0, 3, "fb/t/crash-1/0/3", "v", 1, 4, 5, "timeout", 0),
        new(0, 4, "fb/t/crash-1/0/4", "v", 2, 6, 7, null, 14),
    ];

    private static DeliveredChange Put(ulong index, int seq) => new(index, $"fb/t/crash-1/0/{seq}", false, 0);

    [Fact]
    public void EveryAcknowledgedWriteOnce_InOrder_Passes()
    {
        Assert.Null(WatchCheck.CheckTrial(Writes, [Put(10, 1), Put(11, 2), Put(14, 4)]));
    }

    [Fact]
    public void AFailedAttemptThatCommitted_MayArrive_Once()
    {
        Assert.Null(WatchCheck.CheckTrial(Writes, [Put(10, 1), Put(11, 2), Put(13, 3), Put(14, 4)]));
        Assert.Equal(
            "write fb/t/crash-1/0/3 arrived twice, the second time at index 15",
            WatchCheck.CheckTrial(Writes, [Put(10, 1), Put(11, 2), Put(13, 3), Put(14, 4), Put(15, 3)]));
    }

    [Fact]
    public void AWriteLostAcrossTheFault_IsReported_ByItsKey()
    {
        Assert.Equal(
            "1 of 3 acknowledged writes never arrived, the first write fb/t/crash-1/0/2 at index 11",
            WatchCheck.CheckTrial(Writes, [Put(10, 1), Put(14, 4)]));
    }

    [Fact]
    public void AWriteDeliveredAgain_AfterAResume_IsReported()
    {
        // A resumed stream that starts again at the last index delivered before the break.
        Assert.Equal(
            "index 11 arrived twice (write fb/t/crash-1/0/2, then write fb/t/crash-1/0/2)",
            WatchCheck.CheckTrial(Writes, [Put(10, 1), Put(11, 2), Put(11, 2), Put(14, 4)]));
    }

    [Fact]
    public void WritesOutOfIndexOrder_AreReported()
    {
        Assert.Equal(
            "index 11 (write fb/t/crash-1/0/2) arrived after index 14: out of order",
            WatchCheck.CheckTrial(Writes, [Put(10, 1), Put(14, 4), Put(11, 2)]));
    }

    [Fact]
    public void AKeyNoWriterTried_OrADeletion_IsReported()
    {
        Assert.Equal(
            "a change of fb/t/crash-1/0/9 at index 12, a key no writer of the trial tried",
            WatchCheck.CheckTrial(Writes, [Put(10, 1), Put(11, 2), Put(12, 9), Put(14, 4)]));
        Assert.Equal(
            "a deletion of fb/t/crash-1/0/1 at index 12, but the trial deletes nothing",
            WatchCheck.CheckTrial(Writes, [Put(10, 1), Put(11, 2), new DeliveredChange(12, "fb/t/crash-1/0/1", true, 0), Put(14, 4)]));
    }

    [Fact]
    public void AnotherWriteAtAnAcknowledgedIndex_IsReported()
    {
        Assert.Equal(
            "index 14 carried write fb/t/crash-1/0/3, but write fb/t/crash-1/0/4 was acknowledged at it",
            WatchCheck.CheckTrial(Writes, [Put(10, 1), Put(11, 2), Put(14, 3)]));
    }
}
