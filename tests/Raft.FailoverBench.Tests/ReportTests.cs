using System.Xml.Linq;
using Raft.FailoverBench.Harness;
using Raft.FailoverBench.Report;

namespace Raft.FailoverBench.Tests;

public sealed class ReportTests
{
    private static readonly string[] Targets = ["ours", "etcd-ours", "etcd-default"];
    private static readonly string[] Scenarios = ["crash", "hang", "switchover"];

    private static TrialResult Trial(string target, string scenario, int trial, double? gap) => new(
        target, scenario, trial, 1, gap is null ? null : 2, gap, gap, gap / 2, 100, 2, 80, 1,
        new Dictionary<string, int> { ["timeout"] = 2 }, new Dictionary<string, int> { ["503"] = 1 }, [],
        [new(-300, 2.5, true, 1, null), new(-1, 250, false, 1, "timeout"), new(250, 30, true, 2, null), new(290, 1.2, true, 2, null)]);

    private static List<TrialResult> Sample() =>
    [
        .. from target in Targets
           from scenario in Scenarios
           from trial in Enumerable.Range(1, 4)
           select Trial(target, scenario, trial, trial == 3 && target == "ours" ? null : trial * (target == "ours" ? 10.0 : 400.0)),
    ];

    [Fact]
    public void Svg_IsWellFormedXml_WithAPanelPairPerScenario()
    {
        var svg = SvgChart.Render(Sample(), Targets, Scenarios);
        var doc = XDocument.Parse(svg);
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(ns + "svg", doc.Root!.Name);
        var texts = doc.Descendants(ns + "text").Select(t => t.Value).ToArray();
        foreach (var scenario in Scenarios)
        {
            Assert.Contains(texts, t => t.StartsWith($"{scenario}: write gap per trial", StringComparison.Ordinal));
            Assert.Contains(texts, t => t.StartsWith($"{scenario}: write latency around the fault", StringComparison.Ordinal));
        }

        foreach (var target in Targets)
        {
            Assert.Contains(target, texts);
        }
    }

    [Fact]
    public void Svg_OfARunWithoutTrials_IsStillWellFormed()
    {
        var doc = XDocument.Parse(SvgChart.Render([], ["ours"], ["crash"]));
        Assert.NotNull(doc.Root);
    }

    [Fact]
    public void FailoverTable_PutsTargetsSideBySide_WithRatiosToOurs()
    {
        var table = Tables.Failover(Sample(), Targets, Scenarios);
        Assert.Contains("| metric | ours | etcd-ours | etcd-default | etcd-ours ÷ ours | etcd-default ÷ ours |", table, StringComparison.Ordinal);

        // ours: gaps 10, 20, 40 (trial 3 had none); etcd-ours: 400, 800, 1200, 1600.
        Assert.Contains("| write gap p50 (ms) | 20.0 | 800.0 | 800.0 | 40.00 | 40.00 |", table, StringComparison.Ordinal);
        Assert.Contains("| trials with ≥ 1 failed write | 4/4 | 4/4 | 4/4 | | |", table, StringComparison.Ordinal);
        Assert.Contains("| trials without a write after the fault | 1 | 0 | 0 | | |", table, StringComparison.Ordinal);
        Assert.Equal(3, table.Split("(trials: ").Length - 1);
    }

    [Fact]
    public void FailoverTable_WithoutWatches_HasNoWatchRows()
    {
        Assert.DoesNotContain("watch", Tables.Failover(Sample(), Targets, Scenarios), StringComparison.Ordinal);
    }

    [Fact]
    public void FailoverTable_WithWatches_ShowsTheWatchGap_AndWhatItAddsToTheWriteGap()
    {
        // ours: write gaps 10, 20, 30, watch gaps 12, 21, 35 (over the write gap: 2, 1, 5); etcd-ours: write gaps 400,
        // 800, 1200, watch gaps 390, 800, 1300 (-10, 0, 100); one ours stream resumed.
        TrialResult Watched(string target, int trial, double writeGap, double watchGap, int reconnects) =>
            Trial(target, "crash", trial, writeGap) with { WatchNode = 3, WatchGapMs = watchGap, WatchChanges = 50, WatchReconnects = reconnects };
        TrialResult[] trials =
        [
            Watched("ours", 1, 10, 12, 0), Watched("ours", 2, 20, 21, 1), Watched("ours", 3, 30, 35, 0),
            Watched("etcd-ours", 1, 400, 390, 0), Watched("etcd-ours", 2, 800, 800, 0), Watched("etcd-ours", 3, 1200, 1300, 0),
        ];
        var table = Tables.Failover(trials, ["ours", "etcd-ours"], ["crash"]);
        Assert.Contains("| watch gap p50 (ms) | 21.0 | 800.0 | 38.10 |", table, StringComparison.Ordinal);
        Assert.Contains("| watch gap max (ms) | 35.0 | 1300.0 | 37.14 |", table, StringComparison.Ordinal);
        Assert.Contains("| watch gap − write gap min (ms) | 1.0 | -10.0 | |", table, StringComparison.Ordinal);
        Assert.Contains("| watch gap − write gap p50 (ms) | 2.0 | 0.0 | |", table, StringComparison.Ordinal);
        Assert.Contains("| watch gap − write gap max (ms) | 5.0 | 100.0 | |", table, StringComparison.Ordinal);
        Assert.Contains("| watch changes delivered (total) | 150 | 150 | |", table, StringComparison.Ordinal);
        Assert.Contains("| watch streams resumed (total) | 1 | 0 | |", table, StringComparison.Ordinal);
    }

    [Fact]
    public void ProgressLine_NamesTheWatchGap_AndWhatItAdds()
    {
        var watched = Trial("ours", "crash", 1, 12.5) with { WatchNode = 3, WatchGapMs = 14.0, WatchChanges = 480, WatchReconnects = 0 };
        Assert.EndsWith(", 100 writes verified, watch gap 14.0 ms (+1.5 over the write gap) on node 3, 480 changes", FailoverRunner.ProgressLine(watched, 20), StringComparison.Ordinal);
        var resumed = watched with { WatchGapMs = 11.0, WatchReconnects = 2 };
        Assert.EndsWith("watch gap 11.0 ms (-1.5 over the write gap) on node 3, 480 changes, resumed 2 times", FailoverRunner.ProgressLine(resumed, 20), StringComparison.Ordinal);
        Assert.EndsWith("100 writes verified", FailoverRunner.ProgressLine(Trial("ours", "crash", 1, 12.5), 20), StringComparison.Ordinal);
    }

    [Fact]
    public void LoadTable_HasARowPerConcurrencyAndOperation()
    {
        LoadResult[] load =
        [
            new("ours", 1, "write", 5, 1000, 0, 200, 4, 9),
            new("etcd-ours", 1, "write", 5, 500, 0, 100, 8, 12),
            new("ours", 1, "read", 5, 5000, 0, 1000, 1, 2),
            new("etcd-ours", 1, "read", 5, 2500, 0, 500, 2, 3),
        ];
        var table = Tables.Load(load, ["ours", "etcd-ours"]);
        Assert.Contains("| 1 | write | 200 | 4.00 | 9.00 | 100 | 8.00 | 12.00 | 0.50 | 2.00 | 1.33 |", table, StringComparison.Ordinal);
        Assert.Contains("| 1 | read | 1000 | 1.00 | 2.00 | 500 | 2.00 | 3.00 | 0.50 | 2.00 | 1.50 |", table, StringComparison.Ordinal);
    }

    [Fact]
    public void WatcherTable_ComparesEachRowWithTheRowWithoutWatches()
    {
        WatcherLoadResult Row(string watchers, int count, double perSecond, double p50, double p99, long[] changes, int passed, double? caughtUp) =>
            new("ours", watchers, count, new LoadResult("ours", 64, "write", 10, (long)perSecond * 10, 0, perSecond, p50, p99), 1000, changes, 0, passed, caughtUp, []);
        var table = Tables.WatcherLoad(
        [
            Row("none", 0, 10_000, 5, 20, [], 0, null),
            Row("idle 3", 3, 9_000, 5.5, 22, [0, 0, 0], 3, null),
            Row("busy 2", 2, 5_000, 10, 40, [1000, 1001], 1, 12.5),
        ]);
        Assert.Contains("| 64 | none | 10000 | 5.00 | 20.00 | 1.00 | 1.00 | 1.00 | – | – | – |", table, StringComparison.Ordinal);
        Assert.Contains("| 64 | idle 3 | 9000 | 5.50 | 22.00 | 0.90 | 1.10 | 1.10 | 0 | 3/3 | – |", table, StringComparison.Ordinal);
        Assert.Contains("| 64 | busy 2 | 5000 | 10.00 | 40.00 | 0.50 | 2.00 | 2.00 | 1000–1001 | 1/2 | 12.5 |", table, StringComparison.Ordinal);
    }

    private static ScaleResult Scale(string target, double catchUpSeconds, long rssMib, SnapshotPhaseResult? snapshots)
    {
        var steady = new LatencySummary(100, 0, 1, 4, 9);
        return new ScaleResult(
            target, 100, 4096,
            new FillResult(25_600, 25_600, 100L << 20, 10, 10, 0, snapshots is null ? null : 2, 1, target == "ours" ? 2UL : 1, 1, target == "ours" ? 2 : 1),
            new CatchUpResult(3, 30_000, catchUpSeconds, 100 / catchUpSeconds, 2, 2, 1, 1, 1, 1, 0, 0, steady, steady),
            snapshots,
            new BackupResult(2, null, 2, 110L << 20, 50, steady, steady, ""),
            new RestoreResult(0, 1.5, ""),
            new RestartResult(3, 31_000, 2.5),
            [new ProcessMemory(1, 11, rssMib << 20, rssMib << 19, rssMib << 20), new ProcessMemory(2, 12, 200L << 20, 100L << 20, 200L << 20), new ProcessMemory(3, 13, 150L << 20, 75L << 20, 150L << 20)],
            [new ProcessMemory(1, 11, rssMib << 20, rssMib << 19, (rssMib + 10) << 20)],
            new VerifyResult(1246, 256, 0),
            [],
            []);
    }

    [Fact]
    public void ScaleTable_PutsTargetsSideBySide_WithRatiosWhereTheyMeanSomething()
    {
        var snapshots = new SnapshotPhaseResult(
            4, 25, 3, 1.2, [], new LatencySummary(300, 0, 3, 30, 40), new LatencySummary(10, 0, 2, 6, 6), new LatencySummary(20_000, 0, 2, 15, 50),
            new FsyncSummary(40, 80, 12), new FsyncSummary(900, 1.5, 0), 2, 2, 1, 1, []);
        var table = Tables.Scale([Scale("ours", 4, 400, snapshots), Scale("etcd-ours", 2, 300, null)], ["ours", "etcd-ours"]);
        Assert.StartsWith("**100 MiB** (25600 keys of 4096 bytes)", table, StringComparison.Ordinal);
        Assert.Contains("| metric | ours | etcd-ours | etcd-ours ÷ ours |", table, StringComparison.Ordinal);
        Assert.Contains("| catch-up by snapshot: seconds | 4.00 | 2.00 | 0.50 |", table, StringComparison.Ordinal);
        Assert.Contains("| catch-up: MiB/s of data | 25.0 | 50.0 | 2.00 |", table, StringComparison.Ordinal);
        Assert.Contains("| catch-up: elections (term changes) | 0 | 0 |  |", table, StringComparison.Ordinal);
        Assert.Contains("| fill: elections (term changes) | 1 | 0 |  |", table, StringComparison.Ordinal);
        Assert.Contains("| snapshots: p99 during ÷ during none (goal ≤ 2) | 2.00 | – |  |", table, StringComparison.Ordinal);
        Assert.Contains("| snapshots: leader log fsync mean during its snapshots (ms) | 80.00 | – |  |", table, StringComparison.Ordinal);
        Assert.Contains("| snapshots: leader log fsyncs over 100 ms during its snapshots | 12 | – |  |", table, StringComparison.Ordinal);
        Assert.Contains("| RSS after catch-up, largest node (MiB) | 400 | 300 | 0.75 |", table, StringComparison.Ordinal);
        Assert.Contains("| peak RSS (VmHWM) at the end, largest node (MiB) | 410 | 310 | 0.76 |", table, StringComparison.Ordinal);
        Assert.Contains("| RSS after catch-up, node 1 / 2 / 3 (MiB) | 400 / 200 / 150 | 300 / 200 / 150 | |", table, StringComparison.Ordinal);
    }

    [Fact]
    public void ScaleTable_OfOursAlone_HasNoRatioColumn_AndLeavesOutRowsNoTargetMeasured()
    {
        var table = Tables.Scale([Scale("ours", 4, 400, null)], ["ours", "etcd-ours"]);
        Assert.Contains("| metric | ours |\n| --- | --: |\n", table, StringComparison.Ordinal);
        Assert.DoesNotContain("snapshots:", table, StringComparison.Ordinal);
        Assert.Contains("| restart to ready: seconds | 2.50 |", table, StringComparison.Ordinal);
    }
}
