using System.Globalization;
using System.Net;
using Raft.Checking;
using Raft.Protocol;

namespace Raft.Faults.Tests;

/// <summary>What a run does: its seed, how long faults are injected, and the cluster and workload sizes.</summary>
internal sealed record FaultRunOptions
{
    public required ulong Seed { get; init; }

    /// <summary>How long faults are injected, one after another, while the clients run.</summary>
    public required TimeSpan Duration { get; init; }

    public int Nodes { get; init; } = 3;

    public int Clients { get; init; } = 4;

    public int Keys { get; init; } = 3;

    /// <summary>Where the report, the history and the nodes' logs go; a new folder under the temp folder by default.</summary>
    public string? OutputDirectory { get; init; }
}

/// <summary>
/// One run of the suite: builds the <see cref="NetworkLab"/>, starts the nodes in it, runs the <see cref="Workload"/>
/// while a seeded schedule injects faults, heals everything, waits for the nodes to converge, and checks the history
/// with the simulator's checkers. Everything it made is removed when it ends, however it ends.
/// </summary>
internal static class FaultRun
{
    private static readonly TimeSpan StartPatience = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ConvergePatience = TimeSpan.FromSeconds(60);

    public static async Task<FaultRunReport> RunAsync(FaultRunOptions options, Action<string> log)
    {
        var directory = options.OutputDirectory ?? Path.Combine(Path.GetTempPath(), $"raft-faults-{options.Seed}-{Environment.ProcessId}");
        Directory.CreateDirectory(directory);
        foreach (var name in NetworkLab.RemoveLeftovers())
        {
            log($"removed {name}, left behind by a run that no longer exists");
        }

        log($"seed={options.Seed}: {options.Nodes} nodes, {options.Clients} clients on {options.Keys} keys, faults for {options.Duration.TotalSeconds:0} s; output in {directory}");
        NetworkLab? lab = null;
        NamespaceSockets? sockets = null;
        FaultCluster? cluster = null;
        using var teardown = Teardown.Register(() =>
        {
            cluster?.Dispose();
            sockets?.Dispose();
            lab?.Dispose();
        });

        lab = NetworkLab.Create(options.Nodes, log);
        sockets = new NamespaceSockets(NetworkLab.ClientNamespace);
        cluster = new FaultCluster(options.Nodes, directory, sockets);
        cluster.StartAll();
        var leader = await WaitForLeaderAsync(cluster, StartPatience);
        log($"node {leader} leads");

        var history = new FaultHistory();
        var workload = new Workload(history, cluster, sockets, options.Clients, options.Keys, options.Seed);
        using var stop = new CancellationTokenSource();
        var clients = workload.RunAsync(stop.Token);
        var schedule = new FaultSchedule(options.Seed, lab.CanDropPackets);
        var windows = new List<FaultWindow>();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            var faultsEnd = history.NowMs + (long)options.Duration.TotalMilliseconds;
            while ((history.NowMs < faultsEnd || !schedule.RoundComplete) && !clients.IsCompleted)
            {
                var kind = schedule.Next();
                var start = history.NowMs;
                var (target, heal) = await ApplyAsync(kind, lab, cluster, schedule.Random);
                log($"{start / 1000.0,8:0.0} s  {kind} {target}");
                await Task.Delay(schedule.HoldTime());
                heal();
                windows.Add(new FaultWindow(kind, target, start, history.NowMs));
                await Task.Delay(schedule.QuietTime());
            }
        }
        finally
        {
            await stop.CancelAsync();
            await clients.WaitAsync(Workload.OperationTimeout * 3);
        }

        // Heal everything, then make each node show what it holds once it has applied all that was committed.
        lab.Heal();
        for (var id = 1; id <= options.Nodes; id++)
        {
            cluster.Resume(id);
            if (!cluster.IsRunning(id))
            {
                cluster.Start(id);
            }
        }

        var problems = new List<string>();
        foreach (var key in await FinalReadsAsync(history, cluster, sockets, options))
        {
            problems.Add($"the final read of {key} got no answer within {ConvergePatience.TotalSeconds} s of the heal");
        }

        if (!await WaitForConvergenceAsync(cluster, ConvergePatience))
        {
            problems.Add($"the nodes did not converge within {ConvergePatience.TotalSeconds} s of the heal");
        }
        else
        {
            problems.AddRange(await CompareReplicasAsync(history, cluster, options.Keys));
        }

        log("checking the history ...");
        var registers = RegisterChecker.Check(history.Registers);
        if (registers.Verdict != CheckVerdict.Pass)
        {
            problems.Add($"linearizability ({registers.Verdict}): {registers.Explanation}");
        }

        var sessions = history.Sessions.Check();
        if (!sessions.IsPass)
        {
            problems.Add($"{sessions.Verdict}: {sessions.Explanation}");
        }

        var historyPath = Path.Combine(directory, "history.jsonl");
        history.Save(historyPath);
        var report = FaultRunReport.From(options, lab.FirewallNote, lab.CanDropPackets, history.Records, windows, registers, history.Sessions, sessions, problems, directory, historyPath);
        await File.WriteAllTextAsync(Path.Combine(directory, "report.txt"), report.ToString());
        return report;
    }

    private static async Task<(string Target, Action Heal)> ApplyAsync(FaultKind kind, NetworkLab lab, FaultCluster cluster, Random random)
    {
        var nodes = Enumerable.Range(1, cluster.Size).ToArray();
        switch (kind)
        {
            case FaultKind.PartitionMinority:
            {
                var shuffled = nodes.ToArray();
                random.Shuffle(shuffled);
                var minority = shuffled[..((cluster.Size - 1) / 2)];
                var majority = shuffled[minority.Length..];
                CutBetween(lab, minority, majority);
                return ($"{Names(minority)} | {Names(majority)}", lab.Heal);
            }

            case FaultKind.IsolateLeader:
            {
                var leader = await LeaderOrAnyAsync(cluster, random);
                CutBetween(lab, [leader], [.. nodes.Where(n => n != leader)]);
                return ($"leader n{leader} alone", lab.Heal);
            }

            case FaultKind.Bridge:
            {
                var shuffled = nodes.ToArray();
                random.Shuffle(shuffled);
                var bridge = shuffled[0];
                var rest = shuffled[1..];
                var left = rest[..(rest.Length / 2)];
                var right = rest[left.Length..];
                CutBetween(lab, left, right);
                return ($"{Names(left)} | {Names(right)}, bridged by n{bridge}", lab.Heal);
            }

            case FaultKind.LossOne:
            {
                var node = nodes[random.Next(nodes.Length)];
                lab.Drop(node, 0.25);
                return ($"25% on n{node}", lab.Heal);
            }

            case FaultKind.LossAll:
                foreach (var node in nodes)
                {
                    lab.Drop(node, 0.25);
                }

                return ("25% on every node", lab.Heal);

            case FaultKind.KillLeader:
            {
                var leader = await LeaderOrAnyAsync(cluster, random);
                cluster.Kill(leader);
                return ($"leader n{leader}", () => cluster.Start(leader));
            }

            case FaultKind.KillFollower:
            {
                var leader = await cluster.LeaderAsync(CancellationToken.None);
                var followers = nodes.Where(n => n != leader).ToArray();
                var node = followers[random.Next(followers.Length)];
                cluster.Kill(node);
                return ($"follower n{node}", () => cluster.Start(node));
            }

            default:
            {
                var leader = await cluster.LeaderAsync(CancellationToken.None);
                var node = leader != 0 && random.Next(2) == 0 ? leader : nodes[random.Next(nodes.Length)];
                cluster.Pause(node);
                return (node == leader ? $"leader n{node}" : $"n{node}", () => cluster.Resume(node));
            }
        }
    }

    private static void CutBetween(NetworkLab lab, int[] side, int[] other)
    {
        foreach (var a in side)
        {
            foreach (var b in other)
            {
                lab.Cut(a, b);
            }
        }
    }

    private static string Names(IEnumerable<int> nodes) => string.Join(' ', nodes.Order().Select(n => $"n{n}"));

    private static async Task<int> LeaderOrAnyAsync(FaultCluster cluster, Random random)
    {
        var leader = await cluster.LeaderAsync(CancellationToken.None);
        return leader != 0 ? leader : random.Next(1, cluster.Size + 1);
    }

    private static async Task<int> WaitForLeaderAsync(FaultCluster cluster, TimeSpan patience)
    {
        using var timeout = new CancellationTokenSource(patience);
        while (!timeout.IsCancellationRequested)
        {
            var leader = await cluster.LeaderAsync(timeout.Token);
            if (leader != 0)
            {
                return leader;
            }

            await Task.Delay(100, CancellationToken.None);
        }

        throw new TimeoutException($"no leader within {patience.TotalSeconds} s; see {cluster.LogPath(1)}");
    }

    // One linearizable read of every key after the heal, part of the history: what every acknowledged write must
    // show up in. Retried until answered, within the convergence bound; returns the keys whose read never was, since
    // without it a lost write could go unseen.
    private static async Task<List<string>> FinalReadsAsync(FaultHistory history, FaultCluster cluster, NamespaceSockets sockets, FaultRunOptions options)
    {
        using var kv = Workload.NewClient(cluster, sockets);
        var deadline = history.NowMs + (long)ConvergePatience.TotalMilliseconds;
        var unanswered = new List<string>();
        for (var k = 0; k < options.Keys; k++)
        {
            var key = Workload.Key(k);
            var answered = false;
            while (!answered && history.NowMs < deadline)
            {
                var invocation = history.Invoke(options.Clients, ClientOpKind.Read, key);
                try
                {
                    var entry = await kv.GetAsync(key);
                    if (entry is null)
                    {
                        history.Complete(invocation, RegisterOutcome.NotFound);
                    }
                    else
                    {
                        history.Complete(invocation, RegisterOutcome.Ok, entry.Version, Workload.ValueId(entry.Value));
                    }

                    answered = true;
                }
                catch (Exception e) when (e is Raft.Client.RaftKvException or HttpRequestException or OperationCanceledException)
                {
                    history.Complete(invocation, RegisterOutcome.Failed, error: e.Message);
                }
            }

            if (!answered)
            {
                unanswered.Add(key);
            }
        }

        return unanswered;
    }

    // Converged: a leader, and every node has applied at least what the leader had committed when asked.
    private static async Task<bool> WaitForConvergenceAsync(FaultCluster cluster, TimeSpan patience)
    {
        using var timeout = new CancellationTokenSource(patience);
        while (!timeout.IsCancellationRequested)
        {
            var leader = await cluster.LeaderAsync(timeout.Token);
            if (leader != 0 && await cluster.StatusAsync(leader, timeout.Token) is { } status)
            {
                var converged = true;
                for (var id = 1; id <= cluster.Size && converged; id++)
                {
                    converged = await cluster.StatusAsync(id, timeout.Token) is { } node && node.AppliedIndex >= status.CommitIndex;
                }

                if (converged)
                {
                    return true;
                }
            }

            await Task.Delay(100, CancellationToken.None);
        }

        return false;
    }

    // Every node's own copy of every key (a stale read on each): all must be the same, and each value at one version.
    private static async Task<List<string>> CompareReplicasAsync(FaultHistory history, FaultCluster cluster, int keys)
    {
        var problems = new List<string>();
        for (var k = 0; k < keys; k++)
        {
            var key = Workload.Key(k);
            var copies = new Dictionary<int, (ulong Value, ulong Version)>();
            for (var id = 1; id <= cluster.Size; id++)
            {
                var uri = new Uri(FaultCluster.Endpoint(id), $"/v1/kv/{Uri.EscapeDataString(key)}?consistency=stale");
                using var response = await cluster.Http.GetAsync(uri);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    copies[id] = (0, 0);
                }
                else
                {
                    response.EnsureSuccessStatusCode();
                    var version = ulong.Parse(response.Headers.GetValues(ApiHeaders.Version).First(), CultureInfo.InvariantCulture);
                    copies[id] = (Workload.ValueId(await response.Content.ReadAsByteArrayAsync()), version);
                }

                history.Sessions.OnApplied(id, key, copies[id].Value, copies[id].Version);
            }

            if (copies.Values.Distinct().Count() > 1)
            {
                problems.Add($"replicas differ on {key}: " + string.Join(", ", copies.Select(c => $"n{c.Key} {c.Value.Value}@v{c.Value.Version}")));
            }
        }

        return problems;
    }
}
