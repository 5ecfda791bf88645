using System.Diagnostics;
using Raft.FailoverBench.Report;

namespace Raft.FailoverBench.Harness;

internal sealed partial class ScaleRunner
{
    private const int SnapshotPhaseWriters = 4;
    private const int MinQuietWrites = 2_000;
    private static readonly TimeSpan SnapshotPollInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan SeriesBucket = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan TailMin = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan TailMax = TimeSpan.FromSeconds(60);

    // A node waits for a log of a quarter of its last snapshot's size before the next one (Node:SnapshotMinLogPercent),
    // which the steady writers take about a minute to write at 1 GiB.
    private static readonly TimeSpan WaitForLeaderSnapshotMin = TimeSpan.FromSeconds(240);

    /// <summary>
    /// <see cref="SnapshotPhaseWriters"/> steady writers for <see cref="ScalePlan.SnapshotPhase"/> (longer, up to three
    /// times that or <see cref="WaitForLeaderSnapshotMin"/>, until a snapshot of the leader has completed and
    /// <see cref="MinQuietWrites"/> writes were made while no node wrote one), while every node's snapshot histogram is polled to
    /// find when snapshots were written. Writes are then split by whether the leader was writing a snapshot while
    /// they were in flight, only a follower was, or none was.
    /// </summary>
    private async Task<SnapshotPhaseResult> SnapshotPhaseAsync(int leader, CancellationToken cancellationToken)
    {
        await LogAsync($"snapshots: {SnapshotPhaseWriters} steady writers for {plan.SnapshotPhase.TotalSeconds:F0} s while the nodes take their periodic snapshots").ConfigureAwait(false);
        var before = await StateOfAsync(leader, cancellationToken).ConfigureAwait(false);
        await using var poller = new SnapshotPoller(target, SnapshotPollInterval);
        var steady = Steady("snapshots", SnapshotPhaseWriters, leader);
        poller.Start();
        var started = Stopwatch.GetTimestamp();
        long stopped;
        try
        {
            steady.Start();
            await Task.Delay(plan.SnapshotPhase, cancellationToken).ConfigureAwait(false);
            var wait = TimeSpan.FromTicks(Math.Max(3 * plan.SnapshotPhase.Ticks, WaitForLeaderSnapshotMin.Ticks));
            while (!LeaderSnapshotAndQuietWrites(poller, steady, leader) && Stopwatch.GetElapsedTime(started) < wait)
            {
                await Task.Delay(500, cancellationToken).ConfigureAwait(false);
            }

            await steady.StopAsync().ConfigureAwait(false);
            stopped = Stopwatch.GetTimestamp();

            // A snapshot begun while writes were in flight may still be being written: poll on for about twice the
            // longest one seen (no new one starts without new writes).
            var longest = poller.Windows().Select(w => Stopwatch.GetElapsedTime(w.Start, w.End)).DefaultIfEmpty(TimeSpan.Zero).Max();
            var tail = TimeSpan.FromTicks(Math.Clamp(2 * longest.Ticks, TailMin.Ticks, TailMax.Ticks));
            await Task.Delay(tail, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await steady.StopAsync().ConfigureAwait(false);
            await poller.StopAsync().ConfigureAwait(false);
        }

        var after = await StateOfAsync(leader, cancellationToken).ConfigureAwait(false);
        var windows = poller.Windows();
        var writes = steady.Writes();
        var timings = writes.ToLookup(w => SnapshotWindows.Classify(w.Start, w.End, leader, windows));
        var leaderWindows = windows.Where(w => w.Node == leader).ToArray();
        var (fsyncsDuring, fsyncsOutside) = SnapshotWindows.Fsyncs(poller.Samples(leader), leaderWindows);
        var result = new SnapshotPhaseResult(
            SnapshotPhaseWriters,
            Seconds(started, stopped),
            leaderWindows.Length,
            leaderWindows.Length == 0 ? null : Math.Round(leaderWindows.Max(w => Stopwatch.GetElapsedTime(w.Start, w.End).TotalSeconds), 3),
            [.. windows.OrderBy(w => w.Start).Select(w => new SnapshotWindowResult(w.Node, w.Node == leader, Seconds(started, w.Start), Seconds(started, w.End)))],
            LatencySummary.Of(timings[SnapshotTiming.DuringLeaderSnapshot]),
            LatencySummary.Of(timings[SnapshotTiming.DuringFollowerSnapshotOnly]),
            LatencySummary.Of(timings[SnapshotTiming.Outside]),
            fsyncsDuring,
            fsyncsOutside,
            before.Term,
            after.Term,
            leader,
            after.LeaderId,
            SnapshotWindows.Series(writes, started, SeriesBucket, leader, windows));
        await LogAsync(SnapshotLine(result)).ConfigureAwait(false);
        if (result.Elected)
        {
            Violation($"an election while snapshots were taken: leader {result.LeaderBefore} in term {result.TermBefore} before, leader {result.LeaderAfter} in term {result.TermAfter} after");
        }

        if (result.LeaderSnapshots == 0)
        {
            Warning($"the leader took no snapshot in {result.Seconds:F0} s of steady writes: lower --Node:SnapshotEveryEntries (after --) to measure writes during one");
        }

        return result;
    }

    // Enough to compare: a snapshot of the leader has completed, and enough writes were made while no node was writing
    // one (all three nodes tend to take theirs at about the same index, so these come before or after them).
    private static bool LeaderSnapshotAndQuietWrites(SnapshotPoller poller, SteadyWriter steady, int leader)
    {
        var windows = poller.Windows();
        if (!windows.Any(w => w.Node == leader))
        {
            return false;
        }

        // Writes that ended after the last poll may still fall in a window not yet seen; they are not counted here.
        return steady.Writes().Count(w => SnapshotWindows.Classify(w.Start, w.End, leader, windows) == SnapshotTiming.Outside) >= MinQuietWrites;
    }

    private static string SnapshotLine(SnapshotPhaseResult r) =>
        $"snapshots: {r.LeaderSnapshots} by the leader in {r.Seconds:F1} s (longest window {r.LongestLeaderWindowS:F2} s), {r.Windows.Count - r.LeaderSnapshots} by followers; " +
        $"writes during a leader snapshot {r.DuringLeaderSnapshot.Ok} ok, {r.DuringLeaderSnapshot.Failed} failed, p50 {r.DuringLeaderSnapshot.P50Ms:F2} ms, p99 {r.DuringLeaderSnapshot.P99Ms:F2} ms; " +
        $"during none {r.Outside.Ok} ok, {r.Outside.Failed} failed, p50 {r.Outside.P50Ms:F2} ms, p99 {r.Outside.P99Ms:F2} ms; p99 ratio {r.P99Ratio:F2}; " +
        $"leader's log fsyncs during its snapshots: {r.LeaderFsyncsDuringLeaderSnapshot.Fsyncs}, mean {r.LeaderFsyncsDuringLeaderSnapshot.MeanMs:F2} ms, {r.LeaderFsyncsDuringLeaderSnapshot.Over100Ms} over 100 ms; " +
        $"outside: {r.LeaderFsyncsOutside.Fsyncs}, mean {r.LeaderFsyncsOutside.MeanMs:F2} ms, {r.LeaderFsyncsOutside.Over100Ms} over 100 ms; term {r.TermBefore}→{r.TermAfter}";
}
