using System.Diagnostics;
using System.Globalization;
using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>
/// Runs the failover trials of one scenario against one running cluster. A trial: find the leader, open a watch of the
/// trial's keys on a node the fault leaves alone, run the workload ~300 ms, inject the fault, wait until writes and
/// reads succeed again, run ~300 ms more, stop the workload, wait until the watch has delivered the last acknowledged
/// write and close it, heal (restart a crashed node), wait until the cluster is whole, then read back every
/// acknowledged write and check that the watch delivered each once, in order.
/// </summary>
internal sealed class FailoverRunner(IBenchTarget target, string runId, int writers, TimeSpan requestTimeout, TextWriter output, bool writeViaFollower = false)
{
    public static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(300);
    public static readonly TimeSpan HangDuration = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RecoveryTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan LeaderTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan HealthyTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan WatchPlacedTimeout = TimeSpan.FromSeconds(20);

    // How long after the workload stopped the watch may take to deliver the last acknowledged write before it is checked.
    private static readonly TimeSpan WatchCatchUpLimit = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Where a trial's watch is opened: the node two after the leader, which no scenario stops (a crash, hang or
    /// switchover hits the leader; a replacement kills the node after it).
    /// </summary>
    public static int WatchNode(int leader, int nodes) => ((leader + 1) % nodes) + 1;

    /// <summary>
    /// Where the writers start with <c>--write-via follower</c>: the watch's node, which no scenario stops. In a
    /// switchover it may or may not be the node the leader hands over to (the leader picks the most up-to-date follower).
    /// </summary>
    public static int WriteNode(int leader, int nodes) => WatchNode(leader, nodes);

    public async Task<TrialResult> RunTrialAsync(string scenario, int trial, int trials, CancellationToken cancellationToken)
    {
        var leader = await ClusterProbe.FindLeaderAsync(target, LeaderTimeout, cancellationToken).ConfigureAwait(false)
            ?? throw new BenchException($"{target.Name} {scenario} {trial}: no node claims leadership");
        var keyPrefix = $"fb/{runId}/{scenario}-{trial}";
        var workload = new Workload(target, writers, requestTimeout, keyPrefix, leader, writeViaFollower ? WriteNode(leader, target.Nodes) : 0);
        // Opened before the first write, so every write of the trial is one the watch must deliver; closed once it has
        // delivered the last acknowledged one (and on the way out whatever happens).
        await using var watch = target is IFailoverWatchTarget watchable
            ? await TrialWatch.OpenAsync(watchable, WatchNode(leader, target.Nodes), keyPrefix + "/", WatchPlacedTimeout, cancellationToken).ConfigureAwait(false)
            : null;
        long fault;
        double? replacedAfter = null;
        Task<(int Node, long At)?> newLeader;
        var recovered = false;
        var watchCaughtUp = true;
        var started = Stopwatch.GetTimestamp();
        workload.Start();
        try
        {
            // Gaps are measured from the last success before the fault, so both clients must have had one (on a busy
            // machine the first requests to a fresh cluster can take longer than the settling time).
            var warmed = Task.WhenAll(workload.WhenSucceededAfter(started, write: true), workload.WhenSucceededAfter(started, write: false));
            if (await Task.WhenAny(warmed, Task.Delay(RecoveryTimeout, cancellationToken)).ConfigureAwait(false) != warmed)
            {
                throw new BenchException($"{target.Name} {scenario} {trial}: no write and read succeeded within {RecoveryTimeout.TotalSeconds:F0} s before the fault");
            }

            await Task.Delay(Settle, cancellationToken).ConfigureAwait(false);

            // A replacement keeps the leader: nothing to watch for.
            newLeader = scenario == "replace"
                ? Task.FromResult<(int Node, long At)?>(null)
                : ClusterProbe.WatchForNewLeaderAsync(target, leader, LeaderTimeout, cancellationToken);
            fault = Stopwatch.GetTimestamp();
            var transferred = await InjectAsync(scenario, leader, cancellationToken).ConfigureAwait(false);
            if (scenario == "replace")
            {
                replacedAfter = Gaps.Ms(fault, Stopwatch.GetTimestamp());
            }
            if (scenario == "hang")
            {
                var left = HangDuration - Stopwatch.GetElapsedTime(fault);
                await Task.Delay(left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
                target.Resume(leader);
            }

            // Service has resumed once a write and a read sent after the new leader was seen have succeeded: an answer
            // from the old leader in its last moments does not count.
            var seen = await newLeader.ConfigureAwait(false);
            var since = seen?.At ?? fault;
            var resumed = Task.WhenAll(workload.WhenSucceededAfter(since, write: true), workload.WhenSucceededAfter(since, write: false));
            recovered = await Task.WhenAny(resumed, Task.Delay(RecoveryTimeout, cancellationToken)).ConfigureAwait(false) == resumed;
            if (!transferred)
            {
                await output.WriteLineAsync($"{target.Name} {scenario} {trial}/{trials}: the leader refused the transfer").ConfigureAwait(false);
            }

            await Task.Delay(Settle, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await workload.StopAsync().ConfigureAwait(false);
        }

        if (watch is not null)
        {
            var lastAcknowledged = workload.Writes().Where(w => w.Ok).Select(w => w.Index).DefaultIfEmpty().Max();
            watchCaughtUp = await watch.WaitThroughAsync(lastAcknowledged, WatchCatchUpLimit, cancellationToken).ConfigureAwait(false);
            await watch.DisposeAsync().ConfigureAwait(false);
        }

        var elected = await newLeader.ConfigureAwait(false);
        if (scenario == "crash")
        {
            await target.RestartAsync(leader, cancellationToken).ConfigureAwait(false);
        }

        if (!await ClusterProbe.WaitHealthyAsync(target, $"fb/{runId}/probe", HealthyTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw new BenchException($"{target.Name} {scenario} {trial}: the cluster was not whole again within {HealthyTimeout.TotalSeconds:F0} s after the trial");
        }

        var writes = workload.Writes();
        var reads = workload.Reads();
        var delivered = watch?.Delivered ?? [];
        var watchProblem = watch is null ? null : WatchCheck.CheckTrial(writes, delivered);
        if (watchProblem is not null)
        {
            var caughtUp = watchCaughtUp ? string.Empty : $"; it had not delivered the last acknowledged write {WatchCatchUpLimit.TotalSeconds:F0} s after the workload stopped";
            var breaks = watch!.Breaks.Count == 0 ? string.Empty : $"; its streams: {string.Join("; ", watch.Breaks)}";
            watchProblem = $"the watch opened on node {watch.Node}: {watchProblem}{caughtUp}{breaks}";
        }

        var violations = workload.Violations().Concat(
            await Verifier.VerifyAsync(target, writes, TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false))
            .Concat(watchProblem is null ? [] : [watchProblem])
            .Select(v => $"{target.Name} {scenario} trial {trial}: {v}")
            .ToList();
        if (!recovered)
        {
            await output.WriteLineAsync($"{target.Name} {scenario} {trial}/{trials}: writes or reads did not resume within {RecoveryTimeout.TotalSeconds:F0} s").ConfigureAwait(false);
        }

        var result = new TrialResult(
            target.Name,
            scenario,
            trial,
            leader,
            elected?.Node,
            Round(Gaps.WriteGap(writes, fault)),
            Round(Gaps.ReadGap(reads, fault)),
            elected is { } e ? Round(Gaps.Ms(fault, e.At)) : null,
            writes.Count(w => w.Ok),
            writes.Count(w => !w.Ok),
            reads.Count(r => r.Ok),
            reads.Count(r => !r.Ok),
            Gaps.ErrorCounts(writes.Select(w => w.Error)),
            Gaps.ErrorCounts(reads.Select(r => r.Error)),
            violations,
            [.. writes.Select(w => new LatencyPoint(Round(Gaps.Ms(fault, w.Start)), Round(Gaps.Ms(w.Start, w.End)), w.Ok, w.Node, w.Error))])
        {
            ReplacedAfterMs = replacedAfter is { } ms ? Round(ms) : null,
            WatchNode = watch?.Node,
            WatchGapMs = watch is null ? null : Round(Gaps.WatchGap(delivered, fault)),
            WatchChanges = watch is null ? null : delivered.Count,
            WatchReconnects = watch?.Reconnects,
            WatchDeliveries = watch is null ? null : WatchPoints(delivered, writes, fault),
        };
        await output.WriteLineAsync(ProgressLine(result, trials)).ConfigureAwait(false);
        return result;
    }

    public static string ProgressLine(TrialResult result, int trials)
    {
        ArgumentNullException.ThrowIfNull(result);
        var errors = result.WriteErrors.Count == 0 ? string.Empty : " (" + string.Join(", ", result.WriteErrors.Select(e => $"{e.Value} {e.Key}")) + ")";
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"{result.Target} {result.Scenario} {result.Trial}/{trials}: write gap {Ms(result.WriteGapMs)}, read gap {Ms(result.ReadGapMs)}, {(result.ReplacedAfterMs is { } replaced ? $"replaced after {Ms(replaced)}" : $"leader after {Ms(result.LeaderAfterMs)}")}, {result.FailedWrites} failed writes{errors}, {result.FailedReads} failed reads, {result.AcknowledgedWrites} writes verified{WatchPart(result)}");
        return result.Violations.Count == 0 ? line : line + $", {result.Violations.Count} VIOLATIONS";
    }

    // Each delivered change against the fault, and whether its write was acknowledged: a change that arrives before its
    // write's answer, or of a write whose client gave up, shows where the watch's outage and the writer's differ.
    private static List<WatchPoint> WatchPoints(IReadOnlyList<DeliveredChange> delivered, IReadOnlyList<WriteRecord> writes, long fault)
    {
        var acknowledged = writes.Where(w => w.Ok).Select(w => w.Key).ToHashSet(StringComparer.Ordinal);
        return [.. delivered.Select(d => new WatchPoint(Round(Gaps.Ms(fault, d.At)), d.Index, acknowledged.Contains(d.Key)))];
    }

    // ", watch gap 14.1 ms (+1.2 over the write gap) on node 3, 512 changes" and the streams resumed, if any; nothing without a watch.
    private static string WatchPart(TrialResult result)
    {
        if (result.WatchNode is not { } node)
        {
            return string.Empty;
        }

        var over = result.WatchGapOverWriteGapMs is { } o ? string.Create(CultureInfo.InvariantCulture, $" ({o:+0.0;-0.0;0.0} over the write gap)") : string.Empty;
        var reconnects = result.WatchReconnects is > 0 and var r ? string.Create(CultureInfo.InvariantCulture, $", resumed {r} times") : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $", watch gap {Ms(result.WatchGapMs)}{over} on node {node}, {result.WatchChanges} changes{reconnects}");
    }

    private async Task<bool> InjectAsync(string scenario, int leader, CancellationToken cancellationToken)
    {
        switch (scenario)
        {
            case "crash":
                await target.CrashAsync(leader, cancellationToken).ConfigureAwait(false);
                return true;
            case "hang":
                target.Pause(leader);
                return true;
            case "switchover":
                return await target.TransferLeadershipAsync(leader, cancellationToken).ConfigureAwait(false);
            case "replace":
                // A follower dies for good; the operator's procedure puts a new member in its place.
                var victim = (leader % target.Nodes) + 1;
                await target.CrashAsync(victim, cancellationToken).ConfigureAwait(false);
                await target.ReplaceAsync(victim, cancellationToken).ConfigureAwait(false);
                return true;
            default:
                throw new ArgumentOutOfRangeException(nameof(scenario), scenario, "unknown scenario");
        }
    }

    private static string Ms(double? value) => value is { } v ? string.Create(CultureInfo.InvariantCulture, $"{v:F1} ms") : "none";

    private static double Round(double value) => Math.Round(value, 3);

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 3) : null;
}
