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
        Assert.Equal("writes 1 and 2 were both acknowledged at index 10", problem);
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
