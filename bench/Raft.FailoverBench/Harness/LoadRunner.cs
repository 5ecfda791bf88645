using System.Diagnostics;
using System.Globalization;
using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>
/// Throughput and latency at a given concurrency: that many clients, one request in flight each, all sent to the
/// leader, for a fixed duration; first writes of new keys, then linearizable reads of keys written in the write phase.
/// Each concurrency starts with a warm-up of the same writes that is not counted, so that neither the client's nor the
/// servers' first calls (code not yet compiled, connections not yet open) are timed; every target gets the same one.
/// </summary>
internal sealed partial class LoadRunner(IBenchTarget target, string runId, TimeSpan duration, TimeSpan warmup, TimeSpan requestTimeout, TextWriter output)
{
    public async Task<IReadOnlyList<LoadResult>> RunAsync(int concurrency, CancellationToken cancellationToken)
    {
        var leader = await ClusterProbe.FindLeaderAsync(target, TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false)
            ?? throw new BenchException($"{target.Name} load: no node claims leadership");
        if (warmup > TimeSpan.Zero)
        {
            await RunPhaseAsync(concurrency, warmup, async (client, seq, token) =>
                (await target.PutAsync(leader, $"warmup/{runId}/{concurrency}/{client}/{seq}", "w", requestTimeout, token).ConfigureAwait(false)).Ok,
                cancellationToken).ConfigureAwait(false);
        }

        var written = new List<string>[concurrency];
        var beforeWrites = await ElectionCountsAsync(cancellationToken).ConfigureAwait(false);
        var write = await RunPhaseAsync(concurrency, duration, async (client, seq, token) =>
        {
            var key = $"load/{runId}/{concurrency}/{client}/{seq}";
            var outcome = await target.PutAsync(leader, key, key, requestTimeout, token).ConfigureAwait(false);
            if (outcome.Ok)
            {
                (written[client] ??= []).Add(key);
            }

            return outcome.Ok;
        }, cancellationToken).ConfigureAwait(false);
        var afterWrites = await ElectionCountsAsync(cancellationToken).ConfigureAwait(false);
        var keys = written.Where(k => k is not null).SelectMany(k => k).ToArray();
        if (keys.Length == 0)
        {
            throw new BenchException($"{target.Name} load: no write succeeded at concurrency {concurrency}");
        }

        var read = await RunPhaseAsync(concurrency, duration, async (client, seq, token) =>
        {
            // A fixed stride spreads the clients over the keys without a random generator.
            var key = keys[(int)(((ulong)seq * 2_654_435_761UL + (ulong)client * 40_503UL) % (ulong)keys.Length)];
            var outcome = await target.GetAsync(leader, key, requestTimeout, token).ConfigureAwait(false);
            return outcome is { Ok: true, Found: true };
        }, cancellationToken).ConfigureAwait(false);
        var afterReads = await ElectionCountsAsync(cancellationToken).ConfigureAwait(false);

        var results = new[]
        {
            Result("write", concurrency, write, ElectionCount.Between(beforeWrites, afterWrites)),
            Result("read", concurrency, read, ElectionCount.Between(afterWrites, afterReads)),
        };
        foreach (var r in results)
        {
            var elections = r.Elections is null ? string.Empty : $", {r.Elections} elections, {r.LeaderChanges} leader changes seen";
            await output.WriteLineAsync(string.Create(
                CultureInfo.InvariantCulture,
                $"{r.Target} load {r.Operation} x{r.Concurrency}: {r.PerSecond:F0}/s, p50 {r.P50Ms:F2} ms, p99 {r.P99Ms:F2} ms, {r.Errors} errors{elections}")).ConfigureAwait(false);
        }

        return results;
    }

    /// <summary>Every node's term and leader changes now, null for a node that did not answer; empty where the target does not count them.</summary>
    private async Task<IReadOnlyList<ElectionCount?>> ElectionCountsAsync(CancellationToken cancellationToken)
    {
        if (target is not IElectionCountTarget counted)
        {
            return [];
        }

        var counts = new ElectionCount?[target.Nodes];
        for (var node = 1; node <= target.Nodes; node++)
        {
            counts[node - 1] = await counted.ElectionCountAsync(node, TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        }

        return counts;
    }

    private LoadResult Result(string operation, int concurrency, (List<double> Latencies, long Errors, double Seconds) phase, (long Elections, long LeaderChanges)? elections)
    {
        var summary = Summary.Of(phase.Latencies);
        return new LoadResult(
            target.Name,
            concurrency,
            operation,
            Math.Round(phase.Seconds, 3),
            phase.Latencies.Count,
            phase.Errors,
            Math.Round(phase.Latencies.Count / phase.Seconds, 1),
            summary is null ? null : Math.Round(summary.P50, 3),
            summary is null ? null : Math.Round(summary.P99, 3),
            elections?.Elections,
            elections?.LeaderChanges);
    }

    private static async Task<(List<double> Latencies, long Errors, double Seconds)> RunPhaseAsync(
        int concurrency, TimeSpan length, Func<int, long, CancellationToken, Task<bool>> operation, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var end = started + (long)(length.TotalSeconds * Stopwatch.Frequency);
        var clients = Enumerable.Range(0, concurrency).Select(client => Task.Run(async () =>
        {
            var latencies = new List<double>();
            long errors = 0;
            for (long seq = 1; Stopwatch.GetTimestamp() < end; seq++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var start = Stopwatch.GetTimestamp();
                if (await operation(client, seq, cancellationToken).ConfigureAwait(false))
                {
                    latencies.Add(Gaps.Ms(start, Stopwatch.GetTimestamp()));
                }
                else
                {
                    errors++;
                }
            }

            return (latencies, errors);
        }, cancellationToken)).ToArray();
        var done = await Task.WhenAll(clients).ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return ([.. done.SelectMany(d => d.latencies)], done.Sum(d => d.errors), seconds);
    }
}
