using System.Diagnostics;
using Raft.FailoverBench.Harness;
using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Tests;

public sealed class ScaleArithmeticTests
{
    private static long T(double seconds) => (long)(seconds * Stopwatch.Frequency);

    private static SteadyWrite Write(double start, double end, string? error = null, long seq = 1, string key = "k", ulong index = 1) =>
        new(0, seq, key, T(start), T(end), error, index);

    [Fact]
    public void ASnapshotWindow_CoversTheSnapshotWhereverBetweenTwoPollsItEnded()
    {
        // Polls sent at 10.0 and 10.05 s (answered 5 ms later); a snapshot of 0.8 s completed between them.
        SnapshotSample[] samples = [new(T(9.95), T(9.955), 1, 0.5), new(T(10.0), T(10.005), 1, 0.5), new(T(10.05), T(10.055), 2, 1.3)];
        var window = Assert.Single(SnapshotWindows.From(1, samples));
        Assert.Equal(T(10.0 - 0.8), window.Start, T(1e-6));
        Assert.Equal(T(10.055), window.End);

        // Had it ended just after the first poll was sent it began at 9.2 s; just before the second answered, at 9.255 s.
        Assert.True(window.Start <= T(9.2) + T(1e-6) && window.End >= T(10.055));
    }

    [Fact]
    public void NoGrowthOfTheCount_IsNoWindow_AndTwoSnapshotsInOneIntervalAreOneWindowOfBothDurations()
    {
        Assert.Empty(SnapshotWindows.From(1, [new(T(1), T(1), 3, 2.0), new(T(2), T(2), 3, 2.0)]));
        var both = Assert.Single(SnapshotWindows.From(2, [new(T(1), T(1.01), 3, 2.0), new(T(2), T(2.01), 5, 2.3)]));
        Assert.Equal((2, T(1) - T(0.3), T(2.01)), (both.Node, both.Start, both.End), new ToleranceComparer(T(1e-6)));
    }

    [Fact]
    public void LogFsyncs_AreSplitByWhetherTheSpanBetweenPollsOverlapsASnapshot()
    {
        SnapshotSample[] samples =
        [
            new(T(0), T(0.01), 0, 0, 100, 0.1, 0), new(T(1), T(1.01), 0, 0, 600, 0.6, 0),
            new(T(2), T(2.01), 1, 1.5, 650, 3.1, 10), new(T(3), T(3.01), 1, 1.5, 1150, 3.6, 10),
        ];
        var (during, outside) = SnapshotWindows.Fsyncs(samples, [new(1, T(1.2), T(1.8))]);
        Assert.Equal(new FsyncSummary(50, 50, 10), during);
        Assert.Equal(new FsyncSummary(1000, 1, 0), outside);
        Assert.Equal((new FsyncSummary(0, null, 0), new FsyncSummary(0, null, 0)), SnapshotWindows.Fsyncs([samples[0]], []));
    }

    [Fact]
    public void AWrite_IsDuringTheLeadersSnapshot_IfInFlightAtAnyMomentOfIt()
    {
        SnapshotWindow[] windows = [new(1, T(10), T(11)), new(2, T(20), T(21))];
        Assert.Equal(SnapshotTiming.DuringLeaderSnapshot, SnapshotWindows.Classify(T(9.9), T(10.1), 1, windows));
        Assert.Equal(SnapshotTiming.DuringLeaderSnapshot, SnapshotWindows.Classify(T(10.2), T(10.3), 1, windows));
        Assert.Equal(SnapshotTiming.Outside, SnapshotWindows.Classify(T(9.0), T(10.0), 1, windows));
        Assert.Equal(SnapshotTiming.Outside, SnapshotWindows.Classify(T(11.0), T(11.5), 1, windows));
        Assert.Equal(SnapshotTiming.DuringFollowerSnapshotOnly, SnapshotWindows.Classify(T(20.5), T(20.6), 1, windows));
        Assert.Equal(SnapshotTiming.DuringLeaderSnapshot, SnapshotWindows.Classify(T(20.5), T(20.6), 2, windows));
    }

    [Fact]
    public void TheSeries_GroupsWritesBySecondSent_AndMarksSecondsTheLeaderSnapshotted()
    {
        SteadyWrite[] writes =
        [
            Write(100.1, 100.102), Write(100.5, 100.504), Write(100.9, 100.91, "timeout"),
            Write(101.2, 101.3), Write(102.5, 102.501), Write(99.5, 99.6),
        ];
        var series = SnapshotWindows.Series(writes, T(100), TimeSpan.FromSeconds(1), 1, [new(1, T(101.5), T(101.8)), new(2, T(102.1), T(102.2))]);
        Assert.Equal([0.0, 1.0, 2.0], series.Select(b => b.StartS));
        Assert.Equal([2, 1, 1], series.Select(b => b.Ok));
        Assert.Equal([1, 0, 0], series.Select(b => b.Failed));
        Assert.Equal([false, true, false], series.Select(b => b.LeaderSnapshot));
        Assert.Equal(4, series[0].P99Ms!.Value, 3);
    }

    [Fact]
    public void LatencySummary_CountsFailures_AndTakesPercentilesOfAcknowledgedWritesOnly()
    {
        var summary = LatencySummary.Of([Write(0, 0.001), Write(0, 0.003), Write(0, 5, "timeout"), Write(0, 0.002)]);
        Assert.Equal((3, 1, 2.0, 3.0, 3.0), (summary.Ok, summary.Failed, summary.P50Ms!.Value, summary.P99Ms!.Value, summary.MaxMs!.Value));
        Assert.Equal(new LatencySummary(0, 0, null, null, null), LatencySummary.Of([]));
    }

    [Fact]
    public void TheP99Ratio_IsDuringOverOutside_AndNullWithoutBoth()
    {
        static SnapshotPhaseResult Phase(double? during, double? outside) => new(
            4, 25, 1, 1.5, [], new LatencySummary(10, 0, 1, during, during), new LatencySummary(0, 0, null, null, null), new LatencySummary(100, 0, 1, outside, outside),
            new FsyncSummary(0, null, 0), new FsyncSummary(0, null, 0), 2, 2, 1, 1, []);
        Assert.Equal(1.5, Phase(30, 20).P99Ratio);
        Assert.Null(Phase(null, 20).P99Ratio);
        Assert.Null(Phase(30, null).P99Ratio);
        Assert.False(Phase(30, 20).Elected);
    }

    [Fact]
    public void Values_AreAFunctionOfKeyAndSeq_OfTheirLength_InPrintableAscii()
    {
        var value = ScaleValues.Value("scale/x/fill/000000001", 0, 4096);
        Assert.Equal(4096, value.Length);
        Assert.Equal(value, ScaleValues.Value("scale/x/fill/000000001", 0, 4096));
        Assert.NotEqual(value, ScaleValues.Value("scale/x/fill/000000002", 0, 4096));
        Assert.NotEqual(value, ScaleValues.Value("scale/x/fill/000000001", 1, 4096));
        Assert.All(value, c => Assert.True(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'));
        Assert.Equal(string.Empty, ScaleValues.Value("k", 0, 0));
        Assert.Equal(value[..100], ScaleValues.Value("scale/x/fill/000000001", 0, 100));

        // Not compressible: every one of the 64 letters turns up about equally often.
        var counts = value.GroupBy(c => c).Select(g => g.Count()).ToArray();
        Assert.Equal(64, counts.Length);
        Assert.All(counts, n => Assert.InRange(n, 30, 110));
    }

    [Theory]
    [InlineData(100, 4096, 25_600)]
    [InlineData(1024, 4096, 262_144)]
    [InlineData(2, 1024, 2048)]
    [InlineData(1, 3000, 350)]
    public void KeysFor_CountsTheValuesThatMakeTheSize(int mib, int valueBytes, long keys) =>
        Assert.Equal(keys, ScaleValues.KeysFor(mib, valueBytes));

    [Fact]
    public void MibPerSecond_IsBytesOverSeconds()
    {
        Assert.Equal(25.0, ScaleValues.MibPerSecond(100L << 20, 4));
        Assert.Null(ScaleValues.MibPerSecond(100, 0));
    }

    [Fact]
    public void TheFillIsReadBack_EveryHundredthKeyAndTheLastThousand()
    {
        var sample = ScaleRunner.FillSample(25_600).ToArray();
        // 256 strides, ten of which (24,601 to 25,501) fall among the last thousand.
        Assert.Equal(256 + 1000 - 10, sample.Length);
        Assert.Equal([1, 101, 201], sample[..3]);
        Assert.Equal(Enumerable.Range(24_601, 1000).Select(i => (long)i), sample[^1000..]);
        Assert.Equal(sample.Order(), sample);
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), ScaleRunner.FillSample(50));
    }

    [Fact]
    public void ASteadyKey_MustHoldItsLastAcknowledgedValue_OrThatOfAFailedWriteAfterIt()
    {
        SteadyWrite[] writes =
        [
            Write(0, 1, seq: 1, key: "a", index: 10), Write(1, 2, seq: 257, key: "a", index: 20),
            Write(0, 1, seq: 2, key: "b", index: 11), Write(1, 2, "timeout", seq: 258, key: "b", index: 0),
            Write(0, 1, "timeout", seq: 3, key: "c", index: 0),
        ];
        var expected = KeyExpectation.FromSteady(writes).OrderBy(e => e.Key, StringComparer.Ordinal).ToArray();
        Assert.Equal(["a", "b"], expected.Select(e => e.Key));
        Assert.Equal(new long[] { 257 }, expected[0].Seqs);
        Assert.Equal(20UL, expected[0].Index);
        Assert.Equal(new long[] { 2, 258 }, expected[1].Seqs);
        Assert.Null(expected[1].Index);

        ReadOutcome Read(string key, long seq, ulong modIndex) => new(null, true, ScaleValues.Value(key, seq, 64), 30, modIndex, 1, null, 0);
        Assert.Null(expected[0].Check(Read("a", 257, 20), 64));
        Assert.Contains("to be its last, saw one at 21", expected[0].Check(Read("a", 257, 21), 64), StringComparison.Ordinal);
        Assert.Contains("none of the 1", expected[0].Check(Read("a", 1, 20), 64), StringComparison.Ordinal);
        Assert.Null(expected[1].Check(Read("b", 2, 11), 64));
        Assert.Null(expected[1].Check(Read("b", 258, 25), 64));
        Assert.StartsWith("lost acknowledged write", expected[1].Check(ReadOutcome.NotFound(30), 64), StringComparison.Ordinal);
    }

    [Fact]
    public void ProcessMemory_ReadsResidentAnonymousAndPeakFromProcStatus()
    {
        var memory = ProcessMemory.Parse(3, 42, "Name:\tdotnet\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nRssAnon:\t   51200 kB\nRssFile:\t   51200 kB\nThreads:\t20\n");
        Assert.Equal(new ProcessMemory(3, 42, 100L << 20, 50L << 20, 200L << 20), memory);
        var self = ProcessMemory.Read(1, Environment.ProcessId);
        Assert.NotNull(self);
        Assert.True(self.RssBytes > 0 && self.PeakRssBytes >= self.RssBytes);
    }

    private sealed class ToleranceComparer(long tolerance) : IEqualityComparer<(int, long, long)>
    {
        public bool Equals((int, long, long) x, (int, long, long) y) => x.Item1 == y.Item1 && Math.Abs(x.Item2 - y.Item2) <= tolerance && Math.Abs(x.Item3 - y.Item3) <= tolerance;

        public int GetHashCode((int, long, long) obj) => obj.Item1;
    }
}
