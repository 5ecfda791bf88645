using System.Globalization;

namespace Raft.FailoverBench;

internal enum BenchMode
{
    Failover,
    Load,
    Scale,
    Startup,
}

/// <summary>A word of <c>--target</c>; a comma-separated list takes the union of their clusters.</summary>
internal enum TargetChoice
{
    Ours,
    Etcd,
    Both,
    DotNext,
    All,
}

/// <summary>What the watches of a load row with watchers do.</summary>
internal enum WatcherKind
{
    /// <summary>No watch open: the row the others are compared with.</summary>
    None,

    /// <summary>Watches of a prefix the load never writes: each receives progress lines only.</summary>
    Idle,

    /// <summary>Watches of the prefix the load writes: each receives, parses and checks every write.</summary>
    Busy,
}

/// <summary>One row of the load mode's watcher table: <see cref="Count"/> watches of <see cref="Kind"/> open while writers write.</summary>
internal readonly record struct WatcherRow(WatcherKind Kind, int Count)
{
    public static readonly WatcherRow None = new(WatcherKind.None, 0);

    /// <summary>As the tables and results.json name it: <c>none</c>, <c>idle 1000</c>, <c>busy 100</c>.</summary>
    public string Label => Kind == WatcherKind.None ? "none" : string.Create(CultureInfo.InvariantCulture, $"{Kind.ToString().ToLowerInvariant()} {Count}");
}

/// <summary>Parsed and validated command line.</summary>
internal sealed record BenchOptions
{
    public const string Usage =
        "usage: Raft.FailoverBench [load|scale|startup] [options] [-- node options]\n" +
        "  failover (default): crash, hang and switchover trials against 3-node clusters, with a client workload and a\n" +
        "         watch of its keys on a node the fault leaves alone (its longest silence, every acknowledged write checked)\n" +
        "  load: writes/s and latency at several concurrencies, then linearizable reads\n" +
        "  scale: per data size, a fill with a node down, its catch-up by snapshot, writes while a snapshot is taken,\n" +
        "         a backup from a follower, a restore, a restart to ready and each node's memory\n" +
        "  startup: per target, the cluster's start until a leader, each node's resident memory once the formed cluster has\n" +
        "         been idle, then followers killed (kill -9) and started again, each timed until it answers a linearizable read\n" +
        "options:\n" +
        "  --target LIST               which clusters, comma-separated of ours, etcd, both (ours and etcd), dotnext (a key-value\n" +
        "                              node on DotNext.Net.Cluster, bench/Raft.DotNextNode, with our timing) and all (every one)\n" +
        "                              (default ours); etcd runs etcd-ours (50/300 ms) and etcd-default (100/1000 ms), load and\n" +
        "                              scale run etcd-ours only; dotnext runs crash, hang, switchover (by resign) and load, not\n" +
        "                              replace, scale or watchers\n" +
        "  --scenarios LIST            failover: comma-separated of crash,hang,switchover,replace (default crash,hang,switchover);\n" +
        "                              replace kills a follower and replaces it with a new member (added as a learner,\n" +
        "                              promoted, the dead one removed)\n" +
        "  --trials N                  failover: trials per target and scenario (default 20)\n" +
        "  --writers N                 failover: concurrent writers, one write in flight each (default 1)\n" +
        "  --write-via leader|follower failover: where the writers send their first write of a trial: the leader (default),\n" +
        "                              or a follower no scenario stops, which passes writes on to the leader (ours forwards them,\n" +
        "                              etcd's gateway proposes through its leader); the reader stays on the leader\n" +
        "  --request-timeout-ms N      failover: client timeout per request (default 250); scale: of the steady writers\n" +
        "                              (default 5000)\n" +
        "  --duration-s N              load: seconds per concurrency and operation (default 10)\n" +
        "  --warmup-s N                load: seconds of the same writes before each concurrency's measured ones, not\n" +
        "                              counted, so neither the client's nor the servers' first calls are timed (default 2; 0: none)\n" +
        "  --concurrency LIST          load: comma-separated client counts (default 1,16,64)\n" +
        "  --watchers LIST             load, our three nodes only (etcd and ours-1node are skipped): after the other rows,\n" +
        "                              writes at the highest --concurrency again, first with no watch open, then once per item\n" +
        "                              of LIST, comma-separated: idle:N (N watches, spread over the nodes, of a prefix never\n" +
        "                              written: progress lines only) or busy:N (N watches of the prefix written, each parsing\n" +
        "                              every line, checked to see every acknowledged write once, in index order); N from 1 to\n" +
        "                              10000, e.g. idle:1000,busy:100; the same warm-up and duration as the other rows\n" +
        "  --data-mib LIST             scale: comma-separated data sizes in MiB, each on fresh clusters (default 100)\n" +
        "  --value-bytes N             scale: bytes of every value written (default 4096)\n" +
        "  --fill-writers N            scale: concurrent writers of the fill (default 64)\n" +
        "  --snapshot-phase-s N        scale: seconds of 4 steady writers while the leader takes snapshots (default 25;\n" +
        "                              longer, up to 4 min, until the leader has taken one)\n" +
        "  --baseline-s N              scale: seconds of the steady writer before node 3 restarts and before the backup (default 5)\n" +
        "  --starts N                  startup: follower restarts timed per target (default 10)\n" +
        "  --idle-s N                  startup: seconds the formed cluster idles before its memory is read (default 5)\n" +
        "  --base-port P               our HTTP ports P..P+2, etcd client ports P+10.. and P+20.., dotnext's P+5.. (default 15001)\n" +
        "  --peer-base-port Q          our peer ports Q..Q+2, etcd peer ports Q+10.. and Q+20.., dotnext's Q+5.. (default P+2000)\n" +
        "  --out DIR                   results.json and failover.svg go here (default ./failover-results)\n" +
        "  --server-dll PATH           the Raft.Server.dll to run (default: the one next to this tool), or a native\n" +
        "                              Raft.Server (dotnet publish src/Raft.Server -r linux-x64 -p:PublishAot=true)\n" +
        "  --keep-data                 keep the data directories and node logs (their path is printed at the end)\n" +
        "  --tls                       our clusters as the launcher's --tls starts them: HTTPS, mutual TLS between peers\n" +
        "  --contention                failover, load, startup: for the whole of each target's run (its start too), one busy loop per core\n" +
        "                              (/bin/sh -c 'while :; do :; done', at the bench's priority) competes for the processors;\n" +
        "                              started before the target's cluster, killed by id when its run ends\n" +
        "  --low-latency               failover, load, startup: ours with 10 ms heartbeats and a 100 ms election timeout\n" +
        "                              (--Node:HeartbeatIntervalMs=10 --Node:ElectionTimeoutMs=100, before the options after --),\n" +
        "                              etcd-ours with --heartbeat-interval 10 --election-timeout 100; etcd-default unchanged\n" +
        "  --one-node                  load: also measure a one-node cluster of ours (ours-1node, ports P+30 and Q+30), the\n" +
        "                              floor a three-node write is compared with\n" +
        "  -- ...                      anything after -- goes to every one of our nodes, e.g. -- --Node:FastFailover=false";

    /// <summary>The most watches one row opens (the watchers are this process; each node serves up to 10,000 by default).</summary>
    public const int WatchersMax = 10_000;

    public static readonly IReadOnlyList<string> AllScenarios = ["crash", "hang", "switchover", "replace"];

    /// <summary>What runs without <c>--scenarios</c>: every scenario but replace, which changes the cluster's members.</summary>
    public static readonly IReadOnlyList<string> DefaultScenarios = ["crash", "hang", "switchover"];

    public BenchMode Mode { get; init; } = BenchMode.Failover;

    /// <summary>The words of <c>--target</c>, in the order given.</summary>
    public IReadOnlyList<TargetChoice> Targets { get; init; } = [TargetChoice.Ours];

    public IReadOnlyList<string> Scenarios { get; init; } = DefaultScenarios;

    public int Trials { get; init; } = 20;

    public int Writers { get; init; } = 1;

    /// <summary>Failover: the writers' first node of a trial is a follower rather than the leader (<c>--write-via follower</c>).</summary>
    public bool WriteViaFollower { get; init; }

    public int? RequestTimeoutMsOption { get; init; }

    /// <summary>A failover client's deadline per request; in scale mode, a steady writer's (a write slower than this counts as failed).</summary>
    public int RequestTimeoutMs => RequestTimeoutMsOption ?? (Mode == BenchMode.Scale ? 5000 : 250);

    public int DurationS { get; init; } = 10;

    public int WarmupS { get; init; } = 2;

    public IReadOnlyList<int> Concurrency { get; init; } = [1, 16, 64];

    /// <summary>Load mode: the watcher rows after <see cref="WatcherRow.None"/>, in the order given; empty: no watcher rows.</summary>
    public IReadOnlyList<WatcherRow> Watchers { get; init; } = [];

    /// <summary>Scale mode: the data sizes, in MiB of values, each measured on clusters started afresh.</summary>
    public IReadOnlyList<int> DataMib { get; init; } = [100];

    public int ValueBytes { get; init; } = 4096;

    public int FillWriters { get; init; } = 64;

    public int SnapshotPhaseS { get; init; } = 25;

    public int BaselineS { get; init; } = 5;

    /// <summary>Startup mode: how many times a follower is killed and started again, each start timed.</summary>
    public int Starts { get; init; } = 10;

    /// <summary>Startup mode: seconds the formed cluster is left idle before each node's memory is read.</summary>
    public int IdleS { get; init; } = 5;

    public int BasePort { get; init; } = 15001;

    public int? PeerBasePortOption { get; init; }

    public int PeerBasePort => PeerBasePortOption ?? BasePort + 2000;

    public string OutDirectory { get; init; } = Path.GetFullPath("failover-results");

    public string? ServerDll { get; init; }

    public IReadOnlyList<string> NodeArguments { get; init; } = [];

    public bool Help { get; init; }

    /// <summary>Keep the clusters' data directories and node logs after the run instead of deleting them.</summary>
    public bool KeepData { get; init; }

    /// <summary>Run our clusters with HTTPS and peer TLS (one throwaway CA for the run, which the client trusts).</summary>
    public bool Tls { get; init; }

    /// <summary>Load mode: also run a one-node cluster of ours, to compare a replicated write with an unreplicated one.</summary>
    public bool OneNode { get; init; }

    /// <summary>Failover and load: one busy loop per core (<see cref="Harness.CpuContention"/>) runs beside each target for its whole run.</summary>
    public bool Contention { get; init; }

    /// <summary>Ours and etcd-ours at the low-latency profile (<see cref="LowLatencyHeartbeatMs"/>, <see cref="LowLatencyElectionMs"/>).</summary>
    public bool LowLatency { get; init; }

    public const int LowLatencyHeartbeatMs = 10;

    public const int LowLatencyElectionMs = 100;

    /// <summary>What results.json and the tables say of the timing when <see cref="LowLatency"/> is on; null otherwise.</summary>
    public string? TimingProfile => LowLatency
        ? string.Create(CultureInfo.InvariantCulture, $"low-latency: heartbeat {LowLatencyHeartbeatMs} ms, election timeout {LowLatencyElectionMs} ms (ours and etcd-ours)")
        : null;

    /// <summary>The options every node of ours gets: the profile's timing, then those after <c>--</c> (which win, coming last).</summary>
    public IReadOnlyList<string> OurNodeArguments => LowLatency
        ?
        [
            string.Create(CultureInfo.InvariantCulture, $"--Node:HeartbeatIntervalMs={LowLatencyHeartbeatMs}"),
            string.Create(CultureInfo.InvariantCulture, $"--Node:ElectionTimeoutMs={LowLatencyElectionMs}"),
            .. NodeArguments,
        ]
        : NodeArguments;

    public bool UsesEtcd => TargetNames().Any(t => t.StartsWith("etcd", StringComparison.Ordinal));

    public static bool TryParse(string[] args, out BenchOptions options, out string? error)
    {
        ArgumentNullException.ThrowIfNull(args);
        options = new BenchOptions();
        error = null;
        var i = 0;
        if (args.Length > 0 && args[0] is "load" or "failover" or "scale" or "startup")
        {
            options = options with { Mode = Enum.Parse<BenchMode>(args[0], ignoreCase: true) };
            i = 1;
        }

        for (; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                options = options with { NodeArguments = args[(i + 1)..] };
                break;
            }

            if (arg is "--help" or "-h")
            {
                options = options with { Help = true };
                continue;
            }

            if (arg == "--one-node")
            {
                options = options with { OneNode = true };
                continue;
            }

            if (arg == "--keep-data")
            {
                options = options with { KeepData = true };
                continue;
            }

            if (arg == "--contention")
            {
                options = options with { Contention = true };
                continue;
            }

            if (arg == "--low-latency")
            {
                options = options with { LowLatency = true };
                continue;
            }

            if (arg == "--tls")
            {
                options = options with { Tls = true };
                continue;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                error = $"unexpected argument '{arg}'";
                return false;
            }

            if (i + 1 >= args.Length)
            {
                error = $"{arg} needs a value";
                return false;
            }

            var value = args[++i];
            error = Apply(ref options, arg, value);
            if (error is not null)
            {
                return false;
            }
        }

        if (options.PeerBasePortOption is { } q && Math.Abs(q - options.BasePort) < 30)
        {
            error = "--base-port and --peer-base-port must be at least 30 apart (each target takes ports +0, +10 and +20 of both)";
            return false;
        }

        if (options.Mode == BenchMode.Failover && options.Writers < 1)
        {
            error = "--writers must be at least 1";
            return false;
        }

        if (options.WriteViaFollower && options.Mode != BenchMode.Failover)
        {
            error = "--write-via is an option of the failover trials";
            return false;
        }

        if (options.Watchers.Count > 0 && options.Mode != BenchMode.Load)
        {
            error = "--watchers is an option of the load mode (load --watchers ...)";
            return false;
        }

        if (options.Contention && options.Mode == BenchMode.Scale)
        {
            error = "--contention is an option of the failover, load and startup modes";
            return false;
        }

        if (options.LowLatency && options.Mode == BenchMode.Scale)
        {
            error = "--low-latency is an option of the failover, load and startup modes";
            return false;
        }

        if (options.Watchers.Count > 0 && !options.TargetNames().Contains("ours"))
        {
            error = "--watchers measures our cluster only: use --target ours or both";
            return false;
        }

        if (options.TargetNames().Contains(DotNextTarget) && options.Mode == BenchMode.Scale)
        {
            error = "the scale mode is not supported by dotnext: its node has no backup, restore or metrics; leave dotnext out of --target";
            return false;
        }

        if (options.TargetNames().Contains(DotNextTarget) && options.Mode == BenchMode.Failover && options.Scenarios.Contains("replace"))
        {
            error = "the replace scenario is not supported by dotnext: its node has a static member list; leave dotnext out of --target or replace out of --scenarios";
            return false;
        }

        return true;
    }

    private static string? Apply(ref BenchOptions options, string arg, string value)
    {
        switch (arg)
        {
            case "--target":
                var targets = new List<TargetChoice>();
                foreach (var word in value.Split(',', StringSplitOptions.TrimEntries))
                {
                    if (!Enum.TryParse<TargetChoice>(word, ignoreCase: true, out var target) || !Enum.IsDefined(target) || int.TryParse(word, CultureInfo.InvariantCulture, out _))
                    {
                        return $"--target must be ours, etcd, both, dotnext or all, or a comma-separated list of them (got '{value}')";
                    }

                    targets.Add(target);
                }

                options = options with { Targets = targets };
                return null;
            case "--scenarios":
                var scenarios = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (scenarios.Length == 0 || scenarios.Any(s => !AllScenarios.Contains(s)))
                {
                    return $"--scenarios takes a comma-separated list of crash, hang, switchover, replace (got '{value}')";
                }

                options = options with { Scenarios = [.. AllScenarios.Where(scenarios.Contains)] };
                return null;
            case "--trials":
                return Positive(arg, value, 10_000, out var trials) ?? Set(ref options, options with { Trials = trials });
            case "--writers":
                return Positive(arg, value, 256, out var writers) ?? Set(ref options, options with { Writers = writers });
            case "--write-via":
                if (value is not ("leader" or "follower"))
                {
                    return $"--write-via must be leader or follower (got '{value}')";
                }

                options = options with { WriteViaFollower = value == "follower" };
                return null;
            case "--request-timeout-ms":
                return Positive(arg, value, 60_000, out var timeout) ?? Set(ref options, options with { RequestTimeoutMsOption = timeout });
            case "--duration-s":
                return Positive(arg, value, 3_600, out var duration) ?? Set(ref options, options with { DurationS = duration });
            case "--warmup-s":
                if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var warmup) || warmup > 600)
                {
                    return $"--warmup-s takes a number of seconds from 0 to 600 (got '{value}')";
                }

                options = options with { WarmupS = warmup };
                return null;
            case "--concurrency":
                return PositiveList(arg, value, 4_096, out var levels) ?? Set(ref options, options with { Concurrency = levels });
            case "--watchers":
                return WatcherRows(value, out var watchers) ?? Set(ref options, options with { Watchers = watchers });
            case "--data-mib":
                return PositiveList(arg, value, 65_536, out var sizes) ?? Set(ref options, options with { DataMib = sizes });
            case "--value-bytes":
                return Positive(arg, value, 1 << 20, out var valueBytes) ?? Set(ref options, options with { ValueBytes = valueBytes });
            case "--fill-writers":
                return Positive(arg, value, 1_024, out var fillWriters) ?? Set(ref options, options with { FillWriters = fillWriters });
            case "--snapshot-phase-s":
                return Positive(arg, value, 3_600, out var snapshotPhase) ?? Set(ref options, options with { SnapshotPhaseS = snapshotPhase });
            case "--baseline-s":
                return Positive(arg, value, 600, out var baseline) ?? Set(ref options, options with { BaselineS = baseline });
            case "--starts":
                return Positive(arg, value, 1_000, out var starts) ?? Set(ref options, options with { Starts = starts });
            case "--idle-s":
                return Positive(arg, value, 600, out var idleS) ?? Set(ref options, options with { IdleS = idleS });
            case "--base-port":
                return Port(arg, value, out var basePort) ?? Set(ref options, options with { BasePort = basePort });
            case "--peer-base-port":
                return Port(arg, value, out var peerBasePort) ?? Set(ref options, options with { PeerBasePortOption = peerBasePort });
            case "--out":
                options = options with { OutDirectory = Path.GetFullPath(value) };
                return null;
            case "--server-dll":
                options = options with { ServerDll = Path.GetFullPath(value) };
                return null;
            default:
                return $"unknown option {arg}";
        }
    }

    private static string? Set(ref BenchOptions options, BenchOptions updated)
    {
        options = updated;
        return null;
    }

    private static string? Positive(string arg, string value, int max, out int result) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out result) && result >= 1 && result <= max
            ? null
            : $"{arg} must be an integer from 1 to {max} (got '{value}')";

    private static string? PositiveList(string arg, string value, int max, out IReadOnlyList<int> result)
    {
        var list = new List<int>();
        result = list;
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (Positive(arg, part, max, out var number) is { } bad)
            {
                return bad;
            }

            list.Add(number);
        }

        return list.Count == 0 ? $"{arg} needs at least one number" : null;
    }

    /// <summary><c>idle:N</c> and <c>busy:N</c>, comma-separated, each a row of its own.</summary>
    private static string? WatcherRows(string value, out IReadOnlyList<WatcherRow> rows)
    {
        var list = new List<WatcherRow>();
        rows = list;
        foreach (var item in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = item.IndexOf(':', StringComparison.Ordinal);
            var kind = colon < 0 ? item : item[..colon];
            if (kind is not ("idle" or "busy"))
            {
                return $"--watchers takes idle:N and busy:N, comma-separated (got '{item}'; a row without watchers is always measured first)";
            }

            if (colon < 0
                || !int.TryParse(item.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count)
                || count < 1 || count > WatchersMax)
            {
                return $"--watchers: the N of {kind}:N must be an integer from 1 to {WatchersMax} (got '{item}')";
            }

            list.Add(new WatcherRow(kind == "idle" ? WatcherKind.Idle : WatcherKind.Busy, count));
        }

        return list.Count == 0 ? "--watchers needs at least one of idle:N and busy:N" : null;
    }

    private static string? Port(string arg, string value, out int result) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out result) && result is >= 1024 and <= 65_000
            ? null
            : $"{arg} must be a port from 1024 to 65000 (got '{value}')";

    public const string DotNextTarget = "dotnext";

    /// <summary>The names of the clusters this run measures, in table order: ours, etcd's, dotnext, then ours-1node.</summary>
    public IReadOnlyList<string> TargetNames()
    {
        var etcd = Mode is BenchMode.Load or BenchMode.Scale ? (string[])["etcd-ours"] : ["etcd-ours", "etcd-default"];
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var choice in Targets)
        {
            names.UnionWith(choice switch
            {
                TargetChoice.Ours => ["ours"],
                TargetChoice.Etcd => etcd,
                TargetChoice.Both => ["ours", .. etcd],
                TargetChoice.DotNext => [DotNextTarget],
                _ => ["ours", .. etcd, DotNextTarget],
            });
        }

        if (Mode == BenchMode.Load && OneNode)
        {
            names.Add("ours-1node");
        }

        string[] order = ["ours", "etcd-ours", "etcd-default", DotNextTarget, "ours-1node"];
        return [.. order.Where(names.Contains)];
    }
}
