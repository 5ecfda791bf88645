using System.Globalization;
using System.Text;

namespace Raft.FailoverBench.Report;

internal static partial class Tables
{
    private static readonly (string Label, Func<ScaleResult, double?> Pick, int Decimals, bool Ratio)[] ScaleRows =
    [
        ("fill: seconds", r => r.Fill.Seconds, 1, true),
        ("fill: MiB/s", r => r.Fill.MibPerSecond, 1, true),
        ("fill: failed writes", r => r.Fill.FailedWrites, 0, false),
        ("fill: elections (term changes)", r => r.Fill.TermAfter - r.Fill.TermBefore, 0, false),
        ("catch-up by snapshot: seconds", r => r.CatchUp.Seconds, 2, true),
        ("catch-up: MiB/s of data", r => r.CatchUp.MibPerSecond, 1, true),
        ("catch-up: snapshots node 3 installed", r => r.CatchUp.SnapshotsInstalled, 0, false),
        ("catch-up: elections (term changes)", r => r.CatchUp.TermAfter - r.CatchUp.TermBefore, 0, false),
        ("catch-up: steady writes acknowledged", r => r.CatchUp.SteadyDuring.Ok, 0, false),
        ("catch-up: steady writes failed", r => r.CatchUp.SteadyBefore.Failed + r.CatchUp.SteadyDuring.Failed, 0, false),
        ("catch-up: steady write p50 (ms)", r => r.CatchUp.SteadyDuring.P50Ms, 2, true),
        ("catch-up: steady write p99 (ms)", r => r.CatchUp.SteadyDuring.P99Ms, 2, true),
        ("catch-up: steady write max (ms)", r => r.CatchUp.SteadyDuring.MaxMs, 2, true),
        ("snapshots: taken by the leader", r => r.Snapshots?.LeaderSnapshots, 0, false),
        ("snapshots: longest leader snapshot (s)", r => r.Snapshots?.LongestLeaderWindowS, 2, false),
        ("snapshots: writes during a leader snapshot", r => r.Snapshots?.DuringLeaderSnapshot.Ok, 0, false),
        ("snapshots: write p50 during none (ms)", r => r.Snapshots?.Outside.P50Ms, 2, false),
        ("snapshots: write p99 during none (ms)", r => r.Snapshots?.Outside.P99Ms, 2, false),
        ("snapshots: write p50 during a leader snapshot (ms)", r => r.Snapshots?.DuringLeaderSnapshot.P50Ms, 2, false),
        ("snapshots: write p99 during a leader snapshot (ms)", r => r.Snapshots?.DuringLeaderSnapshot.P99Ms, 2, false),
        ("snapshots: p99 during ÷ during none (goal ≤ 2)", r => r.Snapshots?.P99Ratio, 2, false),
        ("snapshots: write p99 during a follower's only (ms)", r => r.Snapshots?.DuringFollowerSnapshotOnly.P99Ms, 2, false),
        ("snapshots: leader log fsync mean during its snapshots (ms)", r => r.Snapshots?.LeaderFsyncsDuringLeaderSnapshot.MeanMs, 2, false),
        ("snapshots: leader log fsync mean outside them (ms)", r => r.Snapshots?.LeaderFsyncsOutside.MeanMs, 2, false),
        ("snapshots: leader log fsyncs over 100 ms during its snapshots", r => r.Snapshots?.LeaderFsyncsDuringLeaderSnapshot.Over100Ms, 0, false),
        ("snapshots: leader log fsyncs over 100 ms outside them", r => r.Snapshots?.LeaderFsyncsOutside.Over100Ms, 0, false),
        ("snapshots: failed writes", r => r.Snapshots is { } s ? s.Outside.Failed + s.DuringLeaderSnapshot.Failed + s.DuringFollowerSnapshotOnly.Failed : null, 0, false),
        ("snapshots: elections (term changes)", r => r.Snapshots is { } s ? s.TermAfter - s.TermBefore : null, 0, false),
        ("backup: seconds", r => r.Backup.Error is null ? r.Backup.Seconds : null, 2, true),
        ("backup: MiB/s of data", r => r.Backup.MibPerSecond, 1, true),
        ("backup: file MiB", r => r.Backup.Error is null ? r.Backup.Bytes / (double)(1 << 20) : null, 1, true),
        ("backup: steady write p50 before (ms)", r => r.Backup.SteadyBefore.P50Ms, 2, true),
        ("backup: steady write p99 before (ms)", r => r.Backup.SteadyBefore.P99Ms, 2, true),
        ("backup: steady write p50 during (ms)", r => r.Backup.SteadyDuring.P50Ms, 2, true),
        ("backup: steady write p99 during (ms)", r => r.Backup.SteadyDuring.P99Ms, 2, true),
        ("backup: steady writes failed", r => r.Backup.SteadyBefore.Failed + r.Backup.SteadyDuring.Failed, 0, false),
        ("restore: seconds", r => r.Restore.ExitCode == 0 ? r.Restore.Seconds : null, 2, true),
        ("restore: exit code", r => r.Restore.ExitCode, 0, false),
        ("restart to ready: seconds", r => r.Restart.Seconds, 2, true),
        ("RSS after catch-up, largest node (MiB)", r => MaxMib(r.MemoryAfterCatchUp, m => m.RssBytes), 0, true),
        ("anonymous RSS after catch-up, largest node (MiB)", r => MaxMib(r.MemoryAfterCatchUp, m => m.RssAnonBytes), 0, true),
        ("peak RSS (VmHWM) at the end, largest node (MiB)", r => MaxMib(r.MemoryAtEnd, m => m.PeakRssBytes), 0, true),
    ];

    /// <summary>One table per data size, every target side by side, with each other target's ratio to ours where a ratio means something.</summary>
    public static string Scale(IReadOnlyList<ScaleResult> results, IReadOnlyList<string> targets)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(targets);
        var text = new StringBuilder();
        foreach (var size in results.GroupBy(r => (r.DataMib, r.ValueBytes)).OrderBy(g => g.Key.DataMib))
        {
            var byTarget = targets.ToDictionary(t => t, t => size.FirstOrDefault(r => r.Target == t));
            var present = targets.Where(t => byTarget[t] is not null).ToArray();
            var ratioTargets = RatioTargets(present);
            var keys = size.First().Fill.Keys;
            text.Append(CultureInfo.InvariantCulture, $"**{size.Key.DataMib} MiB** ({keys} keys of {size.Key.ValueBytes} bytes)\n\n");
            text.Append("| metric | ").AppendJoin(" | ", present);
            foreach (var t in ratioTargets)
            {
                text.Append(CultureInfo.InvariantCulture, $" | {t} ÷ ours");
            }

            text.Append(" |\n| --- |").Append(string.Concat(Enumerable.Repeat(" --: |", present.Length + ratioTargets.Count))).Append('\n');
            foreach (var (label, pick, decimals, ratio) in ScaleRows)
            {
                var values = present.ToDictionary(t => t, t => pick(byTarget[t]!));
                if (values.Values.All(v => v is null))
                {
                    continue;
                }

                text.Append(CultureInfo.InvariantCulture, $"| {label} |");
                foreach (var t in present)
                {
                    text.Append(CultureInfo.InvariantCulture, $" {Number(values[t], decimals)} |");
                }

                foreach (var t in ratioTargets)
                {
                    text.Append(CultureInfo.InvariantCulture, $" {(ratio ? Ratio(values[t], values["ours"]) : string.Empty)} |");
                }

                text.Append('\n');
            }

            text.Append("| RSS after catch-up, node 1 / 2 / 3 (MiB) |");
            foreach (var t in present)
            {
                text.Append(' ').AppendJoin(" / ", byTarget[t]!.MemoryAfterCatchUp.OrderBy(m => m.Node).Select(m => Number(m.RssBytes / (double)(1 << 20), 0))).Append(" |");
            }

            text.Append(string.Concat(Enumerable.Repeat(" |", ratioTargets.Count))).Append("\n\n");
        }

        return text.ToString();
    }

    private static double? MaxMib(IReadOnlyList<Harness.ProcessMemory> memory, Func<Harness.ProcessMemory, long> pick) =>
        memory.Count == 0 ? null : memory.Max(pick) / (double)(1 << 20);
}
