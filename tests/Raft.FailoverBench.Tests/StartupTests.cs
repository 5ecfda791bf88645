using Raft.FailoverBench.Harness;
using Raft.FailoverBench.Report;

namespace Raft.FailoverBench.Tests;

public sealed class StartupTests
{
    [Fact]
    public void StartupMode_Parses_AndMeasuresEveryTarget()
    {
        Assert.True(BenchOptions.TryParse(["startup", "--starts", "3", "--idle-s", "2", "--target", "both", "--contention"], out var options, out var error), error);
        Assert.Equal(BenchMode.Startup, options.Mode);
        Assert.Equal((3, 2), (options.Starts, options.IdleS));
        Assert.Equal(["ours", "etcd-ours", "etcd-default"], options.TargetNames());

        Assert.True(BenchOptions.TryParse(["startup"], out var defaults, out _));
        Assert.Equal((10, 5), (defaults.Starts, defaults.IdleS));
        Assert.False(BenchOptions.TryParse(["startup", "--starts", "0"], out _, out error));
        Assert.Equal("--starts must be an integer from 1 to 1000 (got '0')", error);
    }

    [Fact]
    public async Task Runner_RestartsTheFollowersInTurn_AndTimesEachStart()
    {
        var output = new StringWriter();
        var result = await new StartupRunner(new FakeTarget(), "t", 4, TimeSpan.Zero, output).RunAsync(CancellationToken.None);

        Assert.Equal("fake", result.Target);
        Assert.Equal(4, result.ReadyMs.Count);
        Assert.Equal(result.ReadyMs.Max(), result.ReadyMaxMs);
        // The fake's leader is node 1: nodes 2 and 3 take turns.
        var restarted = output.ToString().Split('\n').Where(l => l.Contains("serving", StringComparison.Ordinal)).Select(l => l.Split("node ")[1][0]).ToArray();
        Assert.Equal(['2', '3', '2', '3'], restarted);
    }

    [Fact]
    public void Table_PutsStartTimesAndMemorySideBySide()
    {
        const long Mib = 1024 * 1024;
        StartupResult[] results =
        [
            new("ours", 900, 5, [40, 50, 60], 50, 60, [new ProcessMemory(1, 10, 100 * Mib, 80 * Mib, 120 * Mib), new ProcessMemory(2, 11, 110 * Mib, 90 * Mib, 120 * Mib)]),
            new("etcd-ours", 450, 5, [20, 25, 30], 25, 30, [new ProcessMemory(1, 20, 50 * Mib, 20 * Mib, 60 * Mib), new ProcessMemory(2, 21, 55 * Mib, 30 * Mib, 60 * Mib)]),
        ];
        var table = Tables.Startup(results, ["ours", "etcd-ours"]);

        Assert.Contains("startup (follower starts: ours 3, etcd-ours 3)", table, StringComparison.Ordinal);
        Assert.Contains("| follower start to serving p50 (ms) | 50.0 | 25.0 | 0.50 |", table, StringComparison.Ordinal);
        Assert.Contains("| idle resident node 2 (MiB) | 110.0 | 55.0 | 0.50 |", table, StringComparison.Ordinal);
        Assert.Contains("| idle resident anonymous, most of a node (MiB) | 90.0 | 30.0 | 0.33 |", table, StringComparison.Ordinal);
    }
}
