using System.Diagnostics;
using System.Globalization;
using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

internal sealed partial class ScaleRunner
{
    private static readonly TimeSpan FillTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CatchUpLimit = TimeSpan.FromMinutes(30);
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The data, written by <see cref="ScalePlan.FillWriters"/> writers with one write in flight each, every key new
    /// and written once. A failed write is counted and not retried (its key is left out of the read-back). Returns the
    /// index each key was acknowledged at, 0 for a failed one.
    /// </summary>
    private async Task<(FillResult Result, ulong[] Indexes)> FillAsync(int leader, CancellationToken cancellationToken)
    {
        var keys = ScaleValues.KeysFor(plan.DataMib, plan.ValueBytes);
        var indexes = new ulong[keys];
        var failuresMax = Math.Max(100, keys / 100);
        long next = 0, acknowledged = 0, failed = 0;
        var progressStep = Math.Max(1, keys / 10);
        var before = await StateOfAsync(leader, cancellationToken).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        await LogAsync($"fill: {keys} keys of {plan.ValueBytes} bytes by {plan.FillWriters} writers").ConfigureAwait(false);
        async Task WriteAsync()
        {
            var node = leader;
            long seq;
            while ((seq = Interlocked.Increment(ref next)) <= keys)
            {
                var key = FillKey(seq);
                var outcome = await target.PutAsync(node, key, ScaleValues.Value(key, 0, plan.ValueBytes), FillTimeout, cancellationToken).ConfigureAwait(false);
                if (outcome.Ok)
                {
                    indexes[seq - 1] = outcome.Index;
                    if (Interlocked.Increment(ref acknowledged) % progressStep == 0)
                    {
                        var done = Volatile.Read(ref acknowledged);
                        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                        await LogAsync($"fill: {done}/{keys} keys in {seconds:F1} s, {ScaleValues.MibPerSecond(done * plan.ValueBytes, seconds):F1} MiB/s").ConfigureAwait(false);
                    }
                }
                else if (Interlocked.Increment(ref failed) > failuresMax)
                {
                    throw new BenchException($"{Label}: more than {failuresMax} writes of the fill failed (the last: {outcome.Error})");
                }
                else
                {
                    node = Workload.NextNode(node, outcome.LeaderHint, target.Nodes);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, plan.FillWriters).Select(_ => Task.Run(WriteAsync, cancellationToken))).ConfigureAwait(false);
        var elapsed = Seconds(started, Stopwatch.GetTimestamp());
        var bytes = acknowledged * plan.ValueBytes;
        var after = await StateOfAsync(await LeaderAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        var result = new FillResult(
            keys, acknowledged, bytes, elapsed, ScaleValues.MibPerSecond(bytes, elapsed), failed, after.SnapshotsTaken, before.Term, after.Term, before.LeaderId, after.LeaderId);
        await LogAsync(
            $"fill: {acknowledged} keys ({bytes / (double)(1 << 20):F1} MiB) in {elapsed:F1} s, {result.MibPerSecond:F1} MiB/s, {failed} failed" +
            $"{(after.SnapshotsTaken is { } n ? $", {n} snapshots taken by the leader" : "")}; leader {result.LeaderBefore}→{result.LeaderAfter}, term {result.TermBefore}→{result.TermAfter}").ConfigureAwait(false);
        if (after.SnapshotsTaken == 0)
        {
            Warning($"the leader took no snapshot during the fill, so node {Laggard} may catch up from the log");
        }

        if (result.Elected)
        {
            Warning($"an election during the fill: leader {result.LeaderBefore} in term {result.TermBefore} before, leader {result.LeaderAfter} in term {result.TermAfter} after");
        }

        return (result, indexes);
    }

    /// <summary>
    /// Node <see cref="Laggard"/> starts again under one steady writer; it has caught up once it applied the leader's
    /// commit index as of its start. Every write must succeed and the leader stay the leader in the same term.
    /// </summary>
    private async Task<CatchUpResult> CatchUpAsync(int leader, FillResult fill, CancellationToken cancellationToken)
    {
        var steady = Steady("catch-up", 1, leader);
        await StartSteadyAsync(steady, cancellationToken).ConfigureAwait(false);
        var running = Enumerable.Range(1, target.Nodes).Where(n => n != Laggard).ToArray();
        long restarted;
        long? caughtUp = null;
        NodeState[] before;
        try
        {
            before = await Task.WhenAll(running.Select(n => StateOfAsync(n, cancellationToken))).ConfigureAwait(false);
            restarted = Stopwatch.GetTimestamp();
            await target.RestartAsync(Laggard, cancellationToken).ConfigureAwait(false);
            var goal = before[Array.IndexOf(running, leader)].CommitIndex;
            var lastProgress = restarted;
            while (Stopwatch.GetElapsedTime(restarted) < CatchUpLimit)
            {
                var state = await target.StateAsync(Laggard, AskTimeout, cancellationToken).ConfigureAwait(false);
                var now = Stopwatch.GetTimestamp();
                if (state is not null && state.AppliedIndex >= goal)
                {
                    caughtUp = now;
                    break;
                }

                if (Stopwatch.GetElapsedTime(lastProgress, now) >= ProgressEvery)
                {
                    lastProgress = now;
                    await LogAsync($"catch-up: node {Laggard} has applied {(state is null ? "(no answer)" : state.AppliedIndex.ToString(CultureInfo.InvariantCulture))} of {goal} after {Seconds(restarted, now):F0} s").ConfigureAwait(false);
                }

                await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await steady.StopAsync().ConfigureAwait(false);
        }

        var after = await Task.WhenAll(running.Select(n => StateOfAsync(n, cancellationToken))).ConfigureAwait(false);
        var laggard = await target.StateAsync(Laggard, AskTimeout, cancellationToken).ConfigureAwait(false);
        var (leaderBefore, leaderAfter) = (before[Array.IndexOf(running, leader)], after[Array.IndexOf(running, leader)]);
        var installed = await target.SnapshotsInstalledAsync(Laggard, cancellationToken).ConfigureAwait(false);
        var writes = steady.Writes();
        var seconds = caughtUp is { } end ? Seconds(restarted, end) : (double?)null;
        var ended = caughtUp ?? Stopwatch.GetTimestamp();

        // Counters of the running nodes grew by their difference; the restarted node's count from its start.
        long? Grown(Func<NodeState, long?> counter) => laggard is null ? null : counter(laggard) + after.Zip(before).Sum(p => counter(p.First) - counter(p.Second));
        var result = new CatchUpResult(
            Laggard,
            leaderBefore.CommitIndex,
            seconds,
            seconds is { } s ? ScaleValues.MibPerSecond(fill.Bytes, s) : null,
            leaderBefore.Term,
            Math.Max(after.Max(a => a.Term), laggard?.Term ?? 0),
            leaderBefore.LeaderId,
            leaderAfter.LeaderId,
            installed,
            leaderAfter.SnapshotTransfers - leaderBefore.SnapshotTransfers,
            Grown(n => n.SnapshotFailures),
            Grown(n => n.Campaigns),
            LatencySummary.Of(writes.Where(w => w.Start < restarted)),
            LatencySummary.Of(writes.Where(w => w.End >= restarted && w.Start < ended)));
        await LogAsync(CatchUpLine(result)).ConfigureAwait(false);
        if (!result.CaughtUp)
        {
            Violation($"node {Laggard} did not apply index {result.TargetIndex} within {CatchUpLimit.TotalMinutes:F0} min of its start (it reached {laggard?.AppliedIndex})");
        }

        if (result.Elected)
        {
            Violation($"an election during the catch-up: leader {result.LeaderBefore} in term {result.TermBefore} before, leader {result.LeaderAfter} in term {result.TermAfter} after");
        }

        if (result.SteadyBefore.Failed + result.SteadyDuring.Failed > 0)
        {
            var errors = Gaps.ErrorCounts(writes.Select(w => w.Error));
            Violation($"the steady writer saw {result.SteadyBefore.Failed + result.SteadyDuring.Failed} failed writes during the catch-up ({string.Join(", ", errors.Select(e => $"{e.Value} {e.Key}"))})");
        }

        if (installed == 0)
        {
            Warning($"node {Laggard} installed no snapshot: it caught up from the log");
        }

        return result;
    }

    private static string CatchUpLine(CatchUpResult r)
    {
        var snapshot = r.SnapshotsInstalled is { } n ? $", {n} snapshot(s) installed" : "";
        var caught = r.Seconds is { } s ? $"in {s:F1} s ({r.MibPerSecond:F1} MiB/s)" : "NOT caught up";
        return $"catch-up: node {r.Node} to index {r.TargetIndex} {caught}{snapshot}; leader {r.LeaderBefore}→{r.LeaderAfter}, term {r.TermBefore}→{r.TermAfter}; " +
            $"steady writer during: {r.SteadyDuring.Ok} ok, {r.SteadyDuring.Failed} failed, p50 {r.SteadyDuring.P50Ms:F2} ms, p99 {r.SteadyDuring.P99Ms:F2} ms, max {r.SteadyDuring.MaxMs:F2} ms";
    }
}
