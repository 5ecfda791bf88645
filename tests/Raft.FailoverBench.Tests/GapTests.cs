using System.Diagnostics;
using Raft.FailoverBench.Harness;

namespace Raft.FailoverBench.Tests;

public sealed class GapTests
{
    private static long T(double ms) => (long)(ms * Stopwatch.Frequency / 1000);

    [Fact]
    public void Gap_IsTheLongestSilence_FromTheLastAcknowledgementBeforeTheFault()
    {
        long[] acks = [T(3), T(7), T(10), T(50), T(52), T(55)];
        Assert.Equal(40, Gaps.Compute(acks, T(20))!.Value, 3);
    }

    [Fact]
    public void AnAnswerJustAfterTheFault_DoesNotHideTheOutageAfterIt()
    {
        // The old leader answers at 27, just after the fault instant at 25; the next success is at 150.
        long[] acks = [T(10), T(18), T(27), T(150), T(151), T(153)];
        Assert.Equal(123, Gaps.Compute(acks, T(25))!.Value, 3);
    }

    [Fact]
    public void SilencesBeforeTheFault_DoNotCount()
    {
        long[] acks = [T(0), T(100), T(102), T(130), T(133)];
        Assert.Equal(28, Gaps.Compute(acks, T(110))!.Value, 3);
    }

    [Fact]
    public void Gap_IsNull_WithoutSuccessOnBothSides()
    {
        Assert.Null(Gaps.Compute([T(5)], T(20)));
        Assert.Null(Gaps.Compute([T(30), T(35)], T(20)));
        Assert.Null(Gaps.Compute([], T(20)));
    }

    [Fact]
    public void WriteGap_IgnoresFailedAttempts_AndErrorsAreCountedByKind()
    {
        WriteRecord[] writes =
        [
            new(0, 1, "k1", "v", 1, T(0), T(5), null, 1),
            new(0, 2, "k2", "v", 1, T(5), T(30), "timeout", 0),
            new(0, 3, "k3", "v", 2, T(31), T(32), "connection-refused", 0),
            new(0, 4, "k4", "v", 3, T(33), T(40), "timeout", 0),
            new(0, 5, "k5", "v", 3, T(41), T(60), null, 2),
        ];
        Assert.Equal(55, Gaps.WriteGap(writes, T(10))!.Value, 3);
        var errors = Gaps.ErrorCounts(writes.Select(w => w.Error));
        Assert.Equal(2, errors["timeout"]);
        Assert.Equal(1, errors["connection-refused"]);
        Assert.Equal(2, errors.Count);
    }

    [Fact]
    public void WatchGap_IsTheLongestSilenceBetweenDeliveries_FromTheLastBeforeTheFault()
    {
        // Changes arrive every 2 ms; the fault at 21; one the old leader had committed arrives at 22, then nothing until
        // 61, where two arrive in one line; then every 2 ms again.
        DeliveredChange[] delivered =
        [
            Change(1, 16), Change(2, 18), Change(3, 20), Change(4, 22), Change(5, 61), Change(6, 61), Change(7, 63), Change(8, 65),
        ];
        Assert.Equal(39, Gaps.WatchGap(delivered, T(21))!.Value, 3);
    }

    [Fact]
    public void WatchGap_OrdersArrivalsByTime_AndIsNull_WithoutADeliveryAfterTheFault()
    {
        // The gap is over arrival times, whatever order the list holds them in.
        Assert.Equal(30, Gaps.WatchGap([Change(3, 50), Change(1, 10), Change(2, 20)], T(15))!.Value, 3);
        Assert.Null(Gaps.WatchGap([Change(1, 10), Change(2, 12)], T(15)));
        Assert.Null(Gaps.WatchGap([Change(1, 30)], T(15)));
    }

    private static DeliveredChange Change(ulong index, double atMs) => new(index, $"fb/t/crash-1/0/{index}", false, T(atMs));

    [Theory]
    [InlineData(1, 0, 3, 2)]
    [InlineData(3, 0, 3, 1)]
    [InlineData(1, 3, 3, 3)]
    [InlineData(2, 2, 3, 3)]
    [InlineData(2, 9, 3, 3)]
    public void AfterAFailure_AClientFollowsTheHint_OrMovesOn(int node, int hint, int nodes, int expected) =>
        Assert.Equal(expected, Workload.NextNode(node, hint, nodes));
}
