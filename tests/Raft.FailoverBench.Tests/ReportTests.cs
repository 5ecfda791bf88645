using System.Xml.Linq;
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
}
