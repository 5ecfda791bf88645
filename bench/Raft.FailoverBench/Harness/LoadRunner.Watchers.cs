using System.Diagnostics;
using System.Globalization;
using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>
/// The watcher rows: whether watches slow the node down. Each row is the write phase of <see cref="RunAsync"/> again (its
/// warm-up, then its measured window, every write a new key, to the leader), on keys of its own, with its watches opened
/// before the warm-up and closed after the window: first none, then each row asked for. Idle watches, spread over the
/// nodes, watch a prefix nothing writes; busy watches watch the row's keys, and each must receive every acknowledged
/// write of the row (warm-up and window) exactly once, in index order, or the run fails.
/// </summary>
internal sealed partial class LoadRunner
{
    private const int OpensInFlightMax = 64;

    private static readonly TimeSpan WatchOpenTimeout = TimeSpan.FromSeconds(10);

    // How long after the window busy watches may take to receive the last acknowledged write before they are checked.
    private static readonly TimeSpan CatchUpLimit = TimeSpan.FromSeconds(60);

    // Violations printed per row; the count says how many more there were.
    private const int ViolationsListedMax = 10;

    /// <param name="watchHttp">The one client of every watch: a connection per watch, no timeout of its own.</param>
    public async Task<IReadOnlyList<WatcherLoadResult>> RunWatchersAsync(int concurrency, IReadOnlyList<WatcherRow> rows, HttpClient watchHttp, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(watchHttp);
        var watchable = target as IWatchTarget ?? throw new InvalidOperationException($"{target.Name} serves no watches");
        var results = new List<WatcherLoadResult>();
        IReadOnlyList<WatcherRow> all = [WatcherRow.None, .. rows];
        for (var row = 0; row < all.Count; row++)
        {
            results.Add(await RunWatcherRowAsync(watchable, row, all[row], concurrency, watchHttp, cancellationToken).ConfigureAwait(false));
        }

        return results;
    }

    private async Task<WatcherLoadResult> RunWatcherRowAsync(
        IWatchTarget watchable, int row, WatcherRow watchers, int concurrency, HttpClient watchHttp, CancellationToken cancellationToken)
    {
        var leader = await ClusterProbe.FindLeaderAsync(target, TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false)
            ?? throw new BenchException($"{target.Name} load: no node claims leadership");
        var rowPrefix = $"watch/{runId}/{row}/";
        var writePrefix = rowPrefix + "w/";
        var busy = watchers.Kind == WatcherKind.Busy;
        var watches = await OpenWatchesAsync(watchable, watchers.Count, busy ? writePrefix : rowPrefix + "quiet/", busy, watchHttp, cancellationToken).ConfigureAwait(false);
        var acknowledged = new List<WatchedWrite>[concurrency];
        (List<double> Latencies, long Errors, double Seconds) window;
        List<WatchedWrite> writes;
        double? caughtUpAfterMs = null;
        try
        {
            long lastNumber = 0;
            Func<int, long, CancellationToken, Task<bool>> write = async (client, _, token) =>
            {
                // Every attempt a new key, numbered across the clients, that a busy watch reads its number back from.
                var number = (ulong)Interlocked.Increment(ref lastNumber);
                var key = writePrefix + number.ToString(CultureInfo.InvariantCulture);
                var outcome = await target.PutAsync(leader, key, key, requestTimeout, token).ConfigureAwait(false);
                if (outcome.Ok)
                {
                    (acknowledged[client] ??= []).Add(new WatchedWrite(outcome.Index, number));
                }

                return outcome.Ok;
            };
            if (warmup > TimeSpan.Zero)
            {
                await RunPhaseAsync(concurrency, warmup, write, cancellationToken).ConfigureAwait(false);
            }

            window = await RunPhaseAsync(concurrency, duration, write, cancellationToken).ConfigureAwait(false);
            var windowEnd = Stopwatch.GetTimestamp();
            writes = [.. acknowledged.Where(a => a is not null).SelectMany(a => a).OrderBy(w => w.Index)];
            if (window.Latencies.Count == 0)
            {
                throw new BenchException($"{target.Name} load: no write succeeded at concurrency {concurrency} with watchers {watchers.Label}");
            }

            if (busy)
            {
                caughtUpAfterMs = await WaitForWatchesAsync(watches, writes[^1].Index, windowEnd, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await Task.WhenAll(watches.Select(w => w.DisposeAsync().AsTask())).ConfigureAwait(false);
        }

        var violations = new List<string>();
        var passed = 0;
        foreach (var watch in watches)
        {
            var problem = watch.Failure ?? (busy ? WatchCheck.Check(writes, watch.Seen) : null);
            if (problem is null)
            {
                passed++;
            }
            else
            {
                violations.Add($"{target.Name} load x{concurrency}, watchers {watchers.Label}: watch {watch.Number} on node {watch.Node}: {problem}");
            }
        }

        var result = new WatcherLoadResult(
            target.Name,
            watchers.Label,
            watchers.Count,
            Result("write", concurrency, window, null),
            writes.Count,
            [.. watches.Select(w => (long)w.Seen.Count)],
            watches.Sum(w => w.ProgressLines),
            passed,
            caughtUpAfterMs is { } ms ? Math.Round(ms, 1) : null,
            violations);
        await ReportAsync(result, watchers.Kind).ConfigureAwait(false);
        return result;
    }

    // Opens the watches, spread over the nodes, a bounded number at a time; returns once every one is open.
    private static async Task<IReadOnlyList<BenchWatch>> OpenWatchesAsync(
        IWatchTarget watchable, int count, string prefix, bool busy, HttpClient watchHttp, CancellationToken cancellationToken)
    {
        var watches = new BenchWatch?[count];
        try
        {
            await Parallel.ForEachAsync(
                Enumerable.Range(0, count),
                new ParallelOptions { MaxDegreeOfParallelism = OpensInFlightMax, CancellationToken = cancellationToken },
                async (i, token) =>
                {
                    var node = (i % watchable.Nodes) + 1;
                    watches[i] = await BenchWatch.OpenAsync(watchHttp, watchable.WatchUri(node, prefix), i + 1, node, prefix, busy, WatchOpenTimeout, token).ConfigureAwait(false);
                }).ConfigureAwait(false);
        }
        catch
        {
            await Task.WhenAll(watches.OfType<BenchWatch>().Select(w => w.DisposeAsync().AsTask())).ConfigureAwait(false);
            throw;
        }

        return [.. watches.OfType<BenchWatch>()];
    }

    // Until every busy watch has received the last acknowledged write (or failed): how long after the window that took,
    // or null when one had not within CatchUpLimit (the check then says what it missed).
    private static async Task<double?> WaitForWatchesAsync(IReadOnlyList<BenchWatch> watches, ulong lastIndex, long windowEnd, CancellationToken cancellationToken)
    {
        var limit = windowEnd + (long)(CatchUpLimit.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var behind = watches.Count(w => w.SeenThrough < lastIndex && w.Failure is null);
            if (behind == 0)
            {
                return watches.Any(w => w.Failure is not null) ? null : Gaps.Ms(windowEnd, Stopwatch.GetTimestamp());
            }

            if (Stopwatch.GetTimestamp() > limit)
            {
                return null;
            }

            await Task.Delay(2, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReportAsync(WatcherLoadResult result, WatcherKind kind)
    {
        var w = result.Write;
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"{result.Target} load write x{w.Concurrency}, watchers {result.Watchers}: {w.PerSecond:F0}/s, p50 {w.P50Ms:F2} ms, p99 {w.P99Ms:F2} ms, {w.Errors} errors");
        var changes = result.ChangesPerWatch;
        var detail = kind switch
        {
            WatcherKind.Busy => string.Create(
                CultureInfo.InvariantCulture,
                $"; {result.WatchesPassed}/{result.WatcherCount} watches received all {result.AcknowledgedWrites} acknowledged writes once, in index order (changes per watch {changes.Min()} to {changes.Max()}), the last {Caught(result.CaughtUpAfterMs)} after the window"),
            WatcherKind.Idle => string.Create(
                CultureInfo.InvariantCulture,
                $"; {result.WatchesPassed}/{result.WatcherCount} watches stayed open with progress lines only ({result.ProgressLines} of them)"),
            _ => string.Empty,
        };
        await output.WriteLineAsync(line + detail).ConfigureAwait(false);
        foreach (var violation in result.Violations.Take(ViolationsListedMax))
        {
            await output.WriteLineAsync("  FAILED: " + violation).ConfigureAwait(false);
        }

        if (result.Violations.Count > ViolationsListedMax)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  FAILED: and {result.Violations.Count - ViolationsListedMax} more watches")).ConfigureAwait(false);
        }

        static string Caught(double? ms) => ms is { } v ? string.Create(CultureInfo.InvariantCulture, $"{v:F0} ms") : "never";
    }
}
