namespace Raft.FailoverBench.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void Defaults_AreOursAllScenariosTwentyTrials()
    {
        Assert.True(BenchOptions.TryParse([], out var options, out _));
        Assert.Equal(BenchMode.Failover, options.Mode);
        Assert.Equal(["ours"], options.TargetNames());
        Assert.Equal(["crash", "hang", "switchover"], options.Scenarios);
        Assert.Equal(20, options.Trials);
        Assert.Equal(1, options.Writers);
        Assert.Equal(250, options.RequestTimeoutMs);
        Assert.Equal(15001, options.BasePort);
        Assert.Equal(17001, options.PeerBasePort);
    }

    [Fact]
    public void Everything_Parses()
    {
        Assert.True(BenchOptions.TryParse(
            ["--target", "both", "--scenarios", "switchover,crash", "--trials", "5", "--writers", "2", "--write-via", "follower", "--request-timeout-ms", "400",
             "--base-port", "16001", "--peer-base-port", "18001", "--out", "/tmp/fb", "--", "--Node:FastFailover=false"],
            out var options,
            out _));
        Assert.Equal(["ours", "etcd-ours", "etcd-default"], options.TargetNames());
        Assert.Equal(["crash", "switchover"], options.Scenarios);
        Assert.True(BenchOptions.TryParse(["--scenarios", "replace,crash"], out var replace, out _));
        Assert.Equal(["crash", "replace"], replace.Scenarios);
        Assert.Equal((5, 2, true, 400, 16001, 18001), (options.Trials, options.Writers, options.WriteViaFollower, options.RequestTimeoutMs, options.BasePort, options.PeerBasePort));
        Assert.Equal("/tmp/fb", options.OutDirectory);
        Assert.Equal(["--Node:FastFailover=false"], options.NodeArguments);
    }

    [Fact]
    public void Targets_AreAUnionInTableOrder()
    {
        Assert.True(BenchOptions.TryParse(["--target", "all"], out var all, out _));
        Assert.Equal(["ours", "etcd-ours", "etcd-default", "dotnext"], all.TargetNames());
        Assert.True(BenchOptions.TryParse(["--target", "dotnext, ours"], out var list, out _));
        Assert.Equal(["ours", "dotnext"], list.TargetNames());
        Assert.True(BenchOptions.TryParse(["--target", "dotnext"], out var dotnext, out _));
        Assert.Equal(["dotnext"], dotnext.TargetNames());
        Assert.False(dotnext.UsesEtcd);
        Assert.True(BenchOptions.TryParse(["load", "--target", "all", "--one-node"], out var load, out _));
        Assert.Equal(["ours", "etcd-ours", "dotnext", "ours-1node"], load.TargetNames());
        Assert.True(load.UsesEtcd);
    }

    [Fact]
    public void Contention_IsAnOptionOfFailoverAndLoad()
    {
        Assert.True(BenchOptions.TryParse([], out var off, out _));
        Assert.False(off.Contention);
        Assert.True(BenchOptions.TryParse(["--contention", "--trials", "5"], out var failover, out var error), error);
        Assert.True(failover.Contention);
        Assert.Equal(5, failover.Trials);
        Assert.True(BenchOptions.TryParse(["load", "--contention"], out var load, out error), error);
        Assert.True(load.Contention);

        Assert.False(BenchOptions.TryParse(["scale", "--contention"], out _, out error));
        Assert.Equal("--contention is an option of the failover, load and startup modes", error);
    }

    [Fact]
    public void LowLatency_PutsItsTimingBeforeTheNodeOptions()
    {
        Assert.True(BenchOptions.TryParse(["--", "--Node:FastFailover=false"], out var off, out _));
        Assert.Equal(["--Node:FastFailover=false"], off.OurNodeArguments);
        Assert.Null(off.TimingProfile);

        Assert.True(BenchOptions.TryParse(["load", "--low-latency", "--", "--Node:ElectionTimeoutMs=150"], out var on, out var error), error);
        Assert.Equal(["--Node:HeartbeatIntervalMs=10", "--Node:ElectionTimeoutMs=100", "--Node:ElectionTimeoutMs=150"], on.OurNodeArguments);
        Assert.Equal("low-latency: heartbeat 10 ms, election timeout 100 ms (ours and etcd-ours)", on.TimingProfile);
        Assert.Equal((10, 100), (Targets.EtcdProfile.LowLatency.HeartbeatMs, Targets.EtcdProfile.LowLatency.ElectionMs));
        Assert.Equal("etcd-ours", Targets.EtcdProfile.LowLatency.Name);

        Assert.False(BenchOptions.TryParse(["scale", "--low-latency"], out _, out error));
        Assert.Equal("--low-latency is an option of the failover, load and startup modes", error);
    }

    [Fact]
    public void LoadMode_Parses()
    {
        Assert.True(BenchOptions.TryParse(["load", "--duration-s", "5", "--concurrency", "1,16,64", "--target", "both"], out var options, out _));
        Assert.Equal(BenchMode.Load, options.Mode);
        Assert.Equal(5, options.DurationS);
        Assert.Equal(2, options.WarmupS);
        Assert.Equal([1, 16, 64], options.Concurrency);
        Assert.Equal(["ours", "etcd-ours"], options.TargetNames());

        Assert.True(BenchOptions.TryParse(["load", "--warmup-s", "0"], out var cold, out _));
        Assert.Equal(0, cold.WarmupS);
    }

    [Fact]
    public void Watchers_AreRowsInTheOrderGiven_AfterARowWithout()
    {
        Assert.True(BenchOptions.TryParse(["load"], out var none, out _));
        Assert.Empty(none.Watchers);

        Assert.True(BenchOptions.TryParse(["load", "--concurrency", "64", "--watchers", "idle:1000, busy:100,idle:10000"], out var options, out var error), error);
        Assert.Equal([new WatcherRow(WatcherKind.Idle, 1000), new WatcherRow(WatcherKind.Busy, 100), new WatcherRow(WatcherKind.Idle, 10_000)], options.Watchers);
        Assert.Equal(["none", "idle 1000", "busy 100", "idle 10000"], [WatcherRow.None.Label, .. options.Watchers.Select(w => w.Label)]);

        Assert.True(BenchOptions.TryParse(["load", "--target", "both", "--watchers", "busy:1"], out var both, out error), error);
        Assert.Equal([new WatcherRow(WatcherKind.Busy, 1)], both.Watchers);
    }

    [Theory]
    [InlineData("load --watchers idle", "--watchers: the N of idle:N must be an integer from 1 to 10000 (got 'idle')")]
    [InlineData("load --watchers idle:", "--watchers: the N of idle:N must be an integer from 1 to 10000 (got 'idle:')")]
    [InlineData("load --watchers busy:0", "--watchers: the N of busy:N must be an integer from 1 to 10000 (got 'busy:0')")]
    [InlineData("load --watchers busy:-5", "--watchers: the N of busy:N must be an integer from 1 to 10000 (got 'busy:-5')")]
    [InlineData("load --watchers idle:10001", "--watchers: the N of idle:N must be an integer from 1 to 10000 (got 'idle:10001')")]
    [InlineData("load --watchers idle:1k", "--watchers: the N of idle:N must be an integer from 1 to 10000 (got 'idle:1k')")]
    [InlineData("load --watchers lazy:3", "--watchers takes idle:N and busy:N, comma-separated (got 'lazy:3'")]
    [InlineData("load --watchers none", "--watchers takes idle:N and busy:N, comma-separated (got 'none'; a row without watchers is always measured first)")]
    [InlineData("load --watchers 1000", "--watchers takes idle:N and busy:N, comma-separated (got '1000'")]
    [InlineData("load --watchers ,", "--watchers needs at least one of idle:N and busy:N")]
    [InlineData("load --watchers", "--watchers needs a value")]
    [InlineData("--watchers idle:10", "--watchers is an option of the load mode")]
    [InlineData("scale --watchers idle:10", "--watchers is an option of the load mode")]
    [InlineData("load --target etcd --watchers idle:10", "--watchers measures our cluster only: use --target ours or both")]
    public void BadWatchers_AreRefusedWithAReason(string args, string expected)
    {
        Assert.False(BenchOptions.TryParse(args.Split(' '), out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void ScaleMode_Parses_WithItsOwnDefaults()
    {
        Assert.True(BenchOptions.TryParse(["scale"], out var defaults, out _));
        Assert.Equal(BenchMode.Scale, defaults.Mode);
        Assert.Equal([100], defaults.DataMib);
        Assert.Equal((4096, 64, 25, 5, 5000), (defaults.ValueBytes, defaults.FillWriters, defaults.SnapshotPhaseS, defaults.BaselineS, defaults.RequestTimeoutMs));
        Assert.Equal(["ours"], defaults.TargetNames());

        Assert.True(BenchOptions.TryParse(
            ["scale", "--data-mib", "100,1024", "--value-bytes", "1024", "--fill-writers", "16", "--snapshot-phase-s", "10", "--baseline-s", "2",
             "--request-timeout-ms", "2000", "--target", "both", "--keep-data", "--", "--Node:SnapshotEveryEntries=2000"],
            out var options,
            out _));
        Assert.Equal([100, 1024], options.DataMib);
        Assert.Equal((1024, 16, 10, 2, 2000), (options.ValueBytes, options.FillWriters, options.SnapshotPhaseS, options.BaselineS, options.RequestTimeoutMs));
        Assert.Equal(["ours", "etcd-ours"], options.TargetNames());
        Assert.True(options.KeepData);
        Assert.Equal(["--Node:SnapshotEveryEntries=2000"], options.NodeArguments);
    }

    [Fact]
    public void EtcdAlone_InScaleMode_IsEtcdWithOurTiming()
    {
        Assert.True(BenchOptions.TryParse(["scale", "--target", "etcd"], out var options, out _));
        Assert.Equal(["etcd-ours"], options.TargetNames());
    }

    [Theory]
    [InlineData("--trials 0", "--trials must be an integer from 1")]
    [InlineData("--trials x", "--trials must be an integer from 1")]
    [InlineData("--target mongo", "--target must be ours, etcd, both, dotnext or all, or a comma-separated list of them (got 'mongo')")]
    [InlineData("--target 1", "--target must be ours, etcd, both, dotnext or all")]
    [InlineData("--target ours,,dotnext", "--target must be ours, etcd, both, dotnext or all")]
    [InlineData("--target dotnext --scenarios crash,replace", "the replace scenario is not supported by dotnext")]
    [InlineData("--target all --scenarios replace", "the replace scenario is not supported by dotnext")]
    [InlineData("scale --target dotnext", "the scale mode is not supported by dotnext")]
    [InlineData("load --target dotnext --watchers idle:10", "--watchers measures our cluster only")]
    [InlineData("--scenarios crash,meteor", "--scenarios takes a comma-separated list")]
    [InlineData("--concurrency 1,,x", "--concurrency must be an integer")]
    [InlineData("--warmup-s -1", "--warmup-s takes a number of seconds from 0 to 600")]
    [InlineData("--warmup-s 601", "--warmup-s takes a number of seconds from 0 to 600")]
    [InlineData("--base-port 80", "--base-port must be a port")]
    [InlineData("--base-port 16001 --peer-base-port 16010", "at least 30 apart")]
    [InlineData("--write-via candidate", "--write-via must be leader or follower (got 'candidate')")]
    [InlineData("load --write-via follower", "--write-via is an option of the failover trials")]
    [InlineData("--frobnicate 1", "unknown option --frobnicate")]
    [InlineData("--trials", "--trials needs a value")]
    [InlineData("crash", "unexpected argument 'crash'")]
    [InlineData("scale --data-mib 0", "--data-mib must be an integer from 1 to 65536")]
    [InlineData("scale --data-mib 100,x", "--data-mib must be an integer from 1 to 65536")]
    [InlineData("scale --data-mib ,", "--data-mib needs at least one number")]
    [InlineData("scale --value-bytes 2000000", "--value-bytes must be an integer from 1 to 1048576")]
    [InlineData("scale --fill-writers 0", "--fill-writers must be an integer from 1")]
    [InlineData("scale --snapshot-phase-s -1", "--snapshot-phase-s must be an integer from 1")]
    [InlineData("scale --baseline-s", "--baseline-s needs a value")]
    public void BadArguments_AreRefusedWithAReason(string args, string expected)
    {
        Assert.False(BenchOptions.TryParse(args.Split(' '), out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}
