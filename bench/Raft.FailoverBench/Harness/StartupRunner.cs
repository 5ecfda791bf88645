using System.Diagnostics;
using System.Globalization;
using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>
/// How long a node takes to serve, and how much memory an idle one holds, through <see cref="IBenchTarget"/> alone.
/// The cluster is started (timed until a node claims leadership), left idle, and each node's resident memory read from
/// <c>/proc</c>; then, <c>starts</c> times, a follower is killed with <c>kill -9</c> and started again on its data, and
/// timed from the call that starts its process until the node itself answers a linearizable read (of a key never
/// written: "not found" is an answer), polled every few milliseconds. Followers take turns; the leader is left alone so
/// that no election is timed.
/// </summary>
internal sealed class StartupRunner(IBenchTarget target, string runId, int starts, TimeSpan idle, TextWriter output)
{
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan AskTimeout = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(2);

    public async Task<StartupResult> RunAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await target.StartAsync(cancellationToken).ConfigureAwait(false);
        var clusterStartMs = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);
        await Task.Delay(idle, cancellationToken).ConfigureAwait(false);
        var memory = Enumerable.Range(1, target.Nodes).Select(n => ProcessMemory.Read(n, target.Pid(n))).OfType<ProcessMemory>().ToList();
        await output.WriteLineAsync(string.Create(
            CultureInfo.InvariantCulture,
            $"{target.Name}: leader {clusterStartMs:F0} ms after start; idle {idle.TotalSeconds:F0} s, resident {string.Join(", ", memory.Select(m => $"node {m.Node} {Mib(m.RssBytes):F1} MiB"))}")).ConfigureAwait(false);

        var ready = new List<double>();
        var probeKey = $"startup/{runId}/never-written";
        for (var start = 1; start <= starts; start++)
        {
            var leader = await ClusterProbe.FindLeaderAsync(target, TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false)
                ?? throw new BenchException($"{target.Name} startup: no node claims leadership before start {start}");
            var followers = Enumerable.Range(1, target.Nodes).Where(n => n != leader).ToArray();
            if (followers.Length == 0)
            {
                throw new BenchException($"{target.Name} startup: a cluster of one node has no follower to restart");
            }

            var node = followers[(start - 1) % followers.Length];
            await target.CrashAsync(node, cancellationToken).ConfigureAwait(false);
            var ms = await RestartUntilServingAsync(node, probeKey, cancellationToken).ConfigureAwait(false)
                ?? throw new BenchException($"{target.Name} startup: node {node} did not answer a linearizable read within {ReadyLimit.TotalSeconds:F0} s of its start");
            ready.Add(ms);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{target.Name} start {start}/{starts}: node {node} serving {ms:F1} ms after its start")).ConfigureAwait(false);
        }

        var summary = Summary.Of(ready);
        return new StartupResult(
            target.Name,
            clusterStartMs,
            idle.TotalSeconds,
            [.. ready.Select(r => Math.Round(r, 1))],
            summary is null ? null : Math.Round(summary.P50, 1),
            summary is null ? null : Math.Round(summary.Max, 1),
            memory);
    }

    private async Task<double?> RestartUntilServingAsync(int node, string probeKey, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await target.RestartAsync(node, cancellationToken).ConfigureAwait(false);
        while (Stopwatch.GetElapsedTime(started) < ReadyLimit)
        {
            if ((await target.GetAsync(node, probeKey, AskTimeout, cancellationToken).ConfigureAwait(false)).Ok)
            {
                return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }

        return null;
    }

    private static double Mib(long bytes) => bytes / (1024.0 * 1024.0);
}
