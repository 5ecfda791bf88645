using System.Diagnostics;
using Raft.FailoverBench.Report;

namespace Raft.FailoverBench.Harness;

internal sealed partial class ScaleRunner
{
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromMinutes(30);

    /// <summary>A full backup from the lowest-numbered follower while one steady writer writes, and the writer's latency before and during it.</summary>
    private async Task<BackupResult> BackupAsync(int leader, FillResult fill, string file, CancellationToken cancellationToken)
    {
        var follower = Enumerable.Range(1, target.Nodes).First(n => n != leader);
        var steady = Steady("backup", 1, leader);
        await StartSteadyAsync(steady, cancellationToken).ConfigureAwait(false);
        long started, finished;
        Targets.BackupOutcome outcome;
        try
        {
            started = Stopwatch.GetTimestamp();
            outcome = await target.BackupAsync(follower, file, cancellationToken).ConfigureAwait(false);
            finished = Stopwatch.GetTimestamp();
        }
        finally
        {
            await steady.StopAsync().ConfigureAwait(false);
        }

        var writes = steady.Writes();
        var seconds = Seconds(started, finished);
        var result = new BackupResult(
            follower,
            outcome.Error,
            seconds,
            outcome.Bytes,
            outcome.Error is null ? ScaleValues.MibPerSecond(fill.Bytes, seconds) : null,
            LatencySummary.Of(writes.Where(w => w.End < started)),
            LatencySummary.Of(writes.Where(w => w.End >= started && w.Start < finished)),
            outcome.Detail);
        await LogAsync(
            $"backup from node {follower}: {(result.Error is null ? $"{Mib(result.Bytes):F1} MiB in {seconds:F1} s ({result.MibPerSecond:F1} MiB/s of data)" : $"FAILED ({result.Error})")}; " +
            $"steady writer p50/p99 {result.SteadyBefore.P50Ms:F2}/{result.SteadyBefore.P99Ms:F2} ms before, {result.SteadyDuring.P50Ms:F2}/{result.SteadyDuring.P99Ms:F2} ms during, " +
            $"{result.SteadyBefore.Failed + result.SteadyDuring.Failed} failed").ConfigureAwait(false);
        if (result.Error is not null)
        {
            Warning($"the backup from node {follower} failed: {result.Error} {result.Detail}");
        }

        return result;
    }

    /// <summary>The restore tool on the backup into a new directory, timed; the backup and the directory are deleted afterwards unless the run keeps its data.</summary>
    private async Task<RestoreResult> RestoreAsync(string file, BackupResult backup, CancellationToken cancellationToken)
    {
        if (backup.Error is not null)
        {
            return new RestoreResult(-1, 0, "no backup to restore");
        }

        var directory = Path.Combine(workDirectory, $"{target.Name}-restored");
        var started = Stopwatch.GetTimestamp();
        var outcome = await target.RestoreAsync(file, directory, cancellationToken).ConfigureAwait(false);
        var result = new RestoreResult(outcome.ExitCode, Seconds(started, Stopwatch.GetTimestamp()), outcome.Output);
        await LogAsync($"restore: exit code {result.ExitCode} after {result.Seconds:F1} s").ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            Warning($"the restore failed with exit code {result.ExitCode}: {outcome.Output}");
        }

        if (!plan.KeepData)
        {
            TryDelete(directory);
            TryDelete(file);
        }

        return result;
    }

    /// <summary>
    /// A follower (the laggard, unless it leads now) killed and started again: ready once it says so and has applied
    /// the leader's commit index as of its start.
    /// </summary>
    private async Task<RestartResult> RestartAsync(int leader, CancellationToken cancellationToken)
    {
        var node = Laggard != leader ? Laggard : Enumerable.Range(1, target.Nodes).First(n => n != leader);
        await target.CrashAsync(node, cancellationToken).ConfigureAwait(false);
        var goal = (await StateOfAsync(leader, cancellationToken).ConfigureAwait(false)).CommitIndex;
        var started = Stopwatch.GetTimestamp();
        await target.RestartAsync(node, cancellationToken).ConfigureAwait(false);
        double? seconds = null;
        while (Stopwatch.GetElapsedTime(started) < ReadyLimit)
        {
            if (await target.IsReadyAsync(node, AskTimeout, cancellationToken).ConfigureAwait(false)
                && await target.StateAsync(node, AskTimeout, cancellationToken).ConfigureAwait(false) is { } state
                && state.AppliedIndex >= goal)
            {
                seconds = Seconds(started, Stopwatch.GetTimestamp());
                break;
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }

        var result = new RestartResult(node, goal, seconds);
        await LogAsync($"restart: node {node} {(seconds is { } s ? $"ready and at index {goal} {s:F2} s after its start" : "NOT ready")}").ConfigureAwait(false);
        if (seconds is null)
        {
            Violation($"node {node} was not ready with index {goal} applied within {ReadyLimit.TotalMinutes:F0} min of its restart");
        }

        return result;
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (IOException)
        {
            // Left for the run's own clean-up.
        }
    }
}
