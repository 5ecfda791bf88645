using System.Diagnostics;
using System.Globalization;
using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>What the scale mode does at one data size.</summary>
/// <param name="SteadyTimeout">A steady writer's deadline per write: a write not acknowledged by then counts as failed.</param>
/// <param name="KeepData">Keep the backup and its restored directory (else deleted once the restore is timed).</param>
internal sealed record ScalePlan(int DataMib, int ValueBytes, int FillWriters, TimeSpan SnapshotPhase, TimeSpan Baseline, TimeSpan SteadyTimeout, bool KeepData);

/// <summary>
/// The scale mode against one started three-node cluster at one data size, in order: node 3 is killed and the data
/// is written with it down (the others take it in and compact their log past it); node 3 starts again and catches up,
/// by snapshot, under one steady writer; each node's memory; steady writers while the leader takes its periodic
/// snapshots (targets whose metrics show them); a backup from a follower under one steady writer; its restore; a
/// follower killed and started again until it is ready; each node's memory again; and last, acknowledged writes read
/// back. Violations: an acknowledged write missing or wrong, a catch-up that saw a failed write or an election or
/// never ended, an election while snapshots were taken.
/// </summary>
internal sealed partial class ScaleRunner(IScaleTarget target, ScalePlan plan, string keyPrefix, string workDirectory, TextWriter output)
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan LeaderTimeout = TimeSpan.FromSeconds(30);

    private readonly List<string> _violations = [];
    private readonly List<string> _warnings = [];

    // Every steady writer of the run, for the read-back at the end.
    private readonly List<SteadyWriter> _steadyWriters = [];

    /// <summary>The node that is down during the fill and catches up after it.</summary>
    private int Laggard => target.Nodes;

    private string Label => $"{target.Name} {plan.DataMib} MiB";

    public async Task<ScaleResult> RunAsync(CancellationToken cancellationToken)
    {
        await target.CrashAsync(Laggard, cancellationToken).ConfigureAwait(false);
        await LogAsync($"node {Laggard} stopped (kill -9) before the fill").ConfigureAwait(false);
        var leader = await LeaderAsync(cancellationToken).ConfigureAwait(false);
        var (fill, fillIndexes) = await FillAsync(leader, cancellationToken).ConfigureAwait(false);
        leader = await LeaderAsync(cancellationToken).ConfigureAwait(false);
        var catchUp = await CatchUpAsync(leader, fill, cancellationToken).ConfigureAwait(false);
        var memoryAfterCatchUp = Memory();
        await LogAsync("resident memory after the catch-up: " + Describe(memoryAfterCatchUp)).ConfigureAwait(false);
        leader = await LeaderAsync(cancellationToken).ConfigureAwait(false);
        var snapshots = (await StateOfAsync(leader, cancellationToken).ConfigureAwait(false)).SnapshotsTaken is null
            ? null
            : await SnapshotPhaseAsync(leader, cancellationToken).ConfigureAwait(false);
        leader = await LeaderAsync(cancellationToken).ConfigureAwait(false);
        var backupFile = Path.Combine(workDirectory, $"{target.Name}-backup.snap");
        var backup = await BackupAsync(leader, fill, backupFile, cancellationToken).ConfigureAwait(false);
        var restore = await RestoreAsync(backupFile, backup, cancellationToken).ConfigureAwait(false);
        var restart = await RestartAsync(leader, cancellationToken).ConfigureAwait(false);
        var memoryAtEnd = Memory();
        var verified = await VerifyAsync(fillIndexes, cancellationToken).ConfigureAwait(false);
        return new ScaleResult(
            target.Name, plan.DataMib, plan.ValueBytes, fill, catchUp, snapshots, backup, restore, restart,
            memoryAfterCatchUp, memoryAtEnd, verified, [.. _violations], [.. _warnings]);
    }

    private string FillKey(long seq) => string.Create(CultureInfo.InvariantCulture, $"{keyPrefix}/fill/{seq:D9}");

    private async Task<int> LeaderAsync(CancellationToken cancellationToken) =>
        await ClusterProbe.FindLeaderAsync(target, LeaderTimeout, cancellationToken).ConfigureAwait(false)
            ?? throw new BenchException($"{Label}: no node claims leadership within {LeaderTimeout.TotalSeconds:F0} s");

    /// <summary>The node's state, asked a few times: a node busy with a snapshot may answer late.</summary>
    private async Task<NodeState> StateOfAsync(int node, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (await target.StateAsync(node, AskTimeout, cancellationToken).ConfigureAwait(false) is { } state)
            {
                return state;
            }

            if (attempt == 10)
            {
                throw new BenchException($"{Label}: node {node} did not report its state in {attempt} attempts");
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    private SteadyWriter Steady(string phase, int writers, int leader)
    {
        var writer = new SteadyWriter(target, writers, plan.ValueBytes, plan.SteadyTimeout, $"{keyPrefix}/{phase}", leader);
        _steadyWriters.Add(writer);
        return writer;
    }

    /// <summary>Starts the writer and waits for its first acknowledged write, then <see cref="ScalePlan.Baseline"/>.</summary>
    private async Task StartSteadyAsync(SteadyWriter writer, CancellationToken cancellationToken)
    {
        writer.Start();
        var first = writer.FirstAcknowledged;
        if (await Task.WhenAny(first, Task.Delay(LeaderTimeout, cancellationToken)).ConfigureAwait(false) != first)
        {
            await writer.StopAsync().ConfigureAwait(false);
            throw new BenchException($"{Label}: the steady writer had no write acknowledged within {LeaderTimeout.TotalSeconds:F0} s");
        }

        await Task.Delay(plan.Baseline, cancellationToken).ConfigureAwait(false);
    }

    private List<ProcessMemory> Memory() =>
        [.. Enumerable.Range(1, target.Nodes).Select(n => ProcessMemory.Read(n, target.Pid(n))).OfType<ProcessMemory>()];

    private static string Describe(IEnumerable<ProcessMemory> memory) =>
        string.Join(", ", memory.Select(m => string.Create(CultureInfo.InvariantCulture, $"node {m.Node} {Mib(m.RssBytes):F0} MiB (anonymous {Mib(m.RssAnonBytes):F0}, peak {Mib(m.PeakRssBytes):F0})")));

    private static double Mib(long bytes) => bytes / (double)(1 << 20);

    private static double Seconds(long from, long to) => Math.Round(Stopwatch.GetElapsedTime(from, to).TotalSeconds, 3);

    private Task LogAsync(string line) => output.WriteLineAsync($"{Label}: {line}");

    private void Violation(string text) => _violations.Add($"{Label}: {text}");

    private void Warning(string text) => _warnings.Add($"{Label}: {text}");
}
