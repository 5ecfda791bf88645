using System.Globalization;
using System.Text;

namespace Raft.FailoverBench.Report;

/// <summary>Markdown tables: one per scenario with every target side by side, and ratios of each etcd target to ours.</summary>
internal static partial class Tables
{
    private static readonly (string Label, Func<Summary, double> Pick)[] StatColumns =
    [
        ("min", s => s.Min), ("p50", s => s.P50), ("p90", s => s.P90), ("p99", s => s.P99), ("max", s => s.Max),
    ];

    public static string Failover(IReadOnlyList<TrialResult> trials, IReadOnlyList<string> targets, IReadOnlyList<string> scenarios)
    {
        ArgumentNullException.ThrowIfNull(trials);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(scenarios);
        var text = new StringBuilder();
        foreach (var scenario in scenarios)
        {
            var byTarget = targets.ToDictionary(t => t, t => trials.Where(r => r.Target == t && r.Scenario == scenario).ToArray());
            if (byTarget.Values.All(r => r.Length == 0))
            {
                continue;
            }

            var ratioTargets = RatioTargets(targets);
            var counts = string.Join(", ", targets.Select(t => $"{t} {byTarget[t].Length}"));
            text.Append(CultureInfo.InvariantCulture, $"{scenario} (trials: {counts})\n\n");
            text.Append("| metric | ").AppendJoin(" | ", targets);
            foreach (var t in ratioTargets)
            {
                text.Append(CultureInfo.InvariantCulture, $" | {t} ÷ ours");
            }

            text.Append(" |\n| --- |").Append(string.Concat(Enumerable.Repeat(" --: |", targets.Count + ratioTargets.Count))).Append('\n');
            // The watch rows appear once a trial had a watch (results of runs before it had none).
            var watched = byTarget.Values.Any(r => r.Any(t => t.WatchNode is not null));
            List<(string Metric, Func<TrialResult, double?> Pick, bool Ratios)> metrics =
            [
                ("write gap", r => r.WriteGapMs, true),
                ("read gap", r => r.ReadGapMs, true),
                scenario == "replace" ? ("replaced after", r => r.ReplacedAfterMs, true) : ("leader after", r => r.LeaderAfterMs, true),
            ];
            if (watched)
            {
                // A difference may be negative or near zero: a ratio of two would say nothing.
                metrics.Add(("watch gap", r => r.WatchGapMs, true));
                metrics.Add(("watch gap − write gap", r => r.WatchGapOverWriteGapMs, false));
            }

            foreach (var (metric, pick, ratios) in metrics)
            {
                var summaries = targets.ToDictionary(t => t, t => Summary.Of(byTarget[t].Select(pick).OfType<double>()));
                foreach (var (label, stat) in StatColumns)
                {
                    var values = targets.ToDictionary(t => t, t => summaries[t] is { } s ? stat(s) : (double?)null);
                    Row(text, $"{metric} {label} (ms)", targets, ratioTargets, values, ratios: ratios);
                }
            }

            Row(text, "failed writes (total)", targets, ratioTargets, targets.ToDictionary(t => t, t => (double?)byTarget[t].Sum(r => r.FailedWrites)), integers: true);
            Row(text, "failed reads (total)", targets, ratioTargets, targets.ToDictionary(t => t, t => (double?)byTarget[t].Sum(r => r.FailedReads)), integers: true);
            if (watched)
            {
                Row(text, "watch changes delivered (total)", targets, ratioTargets, targets.ToDictionary(t => t, t => (double?)byTarget[t].Sum(r => r.WatchChanges ?? 0)), integers: true, ratios: false);
                Row(text, "watch streams resumed (total)", targets, ratioTargets, targets.ToDictionary(t => t, t => (double?)byTarget[t].Sum(r => r.WatchReconnects ?? 0)), integers: true, ratios: false);
            }

            text.Append("| trials with ≥ 1 failed write |");
            foreach (var t in targets)
            {
                text.Append(CultureInfo.InvariantCulture, $" {byTarget[t].Count(r => r.FailedWrites > 0)}/{byTarget[t].Length} |");
            }

            text.Append(string.Concat(Enumerable.Repeat(" |", ratioTargets.Count))).Append('\n');
            var missing = targets.Sum(t => byTarget[t].Count(r => r.WriteGapMs is null));
            if (missing > 0)
            {
                text.Append("| trials without a write after the fault |");
                foreach (var t in targets)
                {
                    text.Append(CultureInfo.InvariantCulture, $" {byTarget[t].Count(r => r.WriteGapMs is null)} |");
                }

                text.Append(string.Concat(Enumerable.Repeat(" |", ratioTargets.Count))).Append('\n');
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    public static string Load(IReadOnlyList<LoadResult> load, IReadOnlyList<string> targets)
    {
        ArgumentNullException.ThrowIfNull(load);
        ArgumentNullException.ThrowIfNull(targets);
        var ratioTargets = RatioTargets(targets);
        var text = new StringBuilder("| clients | operation |");
        foreach (var t in targets)
        {
            text.Append(CultureInfo.InvariantCulture, $" {t} ops/s | {t} p50 ms | {t} p99 ms |");
        }

        foreach (var t in ratioTargets)
        {
            text.Append(CultureInfo.InvariantCulture, $" ops/s {t} ÷ ours | p50 {t} ÷ ours | p99 {t} ÷ ours |");
        }

        text.Append("\n| --: | --- |").Append(string.Concat(Enumerable.Repeat(" --: |", (3 * targets.Count) + (3 * ratioTargets.Count)))).Append('\n');
        foreach (var group in load.GroupBy(r => (r.Concurrency, r.Operation)).OrderBy(g => g.Key.Concurrency).ThenByDescending(g => g.Key.Operation))
        {
            var row = targets.ToDictionary(t => t, t => group.FirstOrDefault(r => r.Target == t));
            text.Append(CultureInfo.InvariantCulture, $"| {group.Key.Concurrency} | {group.Key.Operation} |");
            foreach (var t in targets)
            {
                text.Append(CultureInfo.InvariantCulture, $" {Number(row[t]?.PerSecond, 0)} | {Number(row[t]?.P50Ms, 2)} | {Number(row[t]?.P99Ms, 2)} |");
            }

            foreach (var t in ratioTargets)
            {
                text.Append(CultureInfo.InvariantCulture, $" {Ratio(row[t]?.PerSecond, row["ours"]?.PerSecond)} | {Ratio(row[t]?.P50Ms, row["ours"]?.P50Ms)} | {Ratio(row[t]?.P99Ms, row["ours"]?.P99Ms)} |");
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    /// <summary>
    /// Per load phase and target, the elections (how far the highest term rose) and the most leader changes one node
    /// counted; empty when no target counted them.
    /// </summary>
    public static string LoadElections(IReadOnlyList<LoadResult> load, IReadOnlyList<string> targets)
    {
        ArgumentNullException.ThrowIfNull(load);
        ArgumentNullException.ThrowIfNull(targets);
        if (load.All(r => r.Elections is null))
        {
            return string.Empty;
        }

        var text = new StringBuilder("| clients | operation |");
        foreach (var t in targets)
        {
            text.Append(CultureInfo.InvariantCulture, $" {t} elections | {t} leader changes |");
        }

        text.Append("\n| --: | --- |").Append(string.Concat(Enumerable.Repeat(" --: |", 2 * targets.Count))).Append('\n');
        foreach (var group in load.GroupBy(r => (r.Concurrency, r.Operation)).OrderBy(g => g.Key.Concurrency).ThenByDescending(g => g.Key.Operation))
        {
            var row = targets.ToDictionary(t => t, t => group.FirstOrDefault(r => r.Target == t));
            text.Append(CultureInfo.InvariantCulture, $"| {group.Key.Concurrency} | {group.Key.Operation} |");
            foreach (var t in targets)
            {
                text.Append(CultureInfo.InvariantCulture, $" {Number(row[t]?.Elections, 0)} | {Number(row[t]?.LeaderChanges, 0)} |");
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    public static string Ratio(double? numerator, double? denominator) =>
        numerator is { } n && denominator is { } d && d > 0 ? (n / d).ToString("F2", CultureInfo.InvariantCulture) : "–";

    private static IReadOnlyList<string> RatioTargets(IReadOnlyList<string> targets) =>
        targets.Contains("ours") ? [.. targets.Where(t => t != "ours")] : [];

    private static void Row(
        StringBuilder text, string label, IReadOnlyList<string> targets, IReadOnlyList<string> ratioTargets, Dictionary<string, double?> values, bool integers = false, bool ratios = true)
    {
        text.Append(CultureInfo.InvariantCulture, $"| {label} |");
        foreach (var t in targets)
        {
            text.Append(CultureInfo.InvariantCulture, $" {Number(values[t], integers ? 0 : 1)} |");
        }

        foreach (var t in ratioTargets)
        {
            text.Append(ratios ? $" {Ratio(values[t], values["ours"])} |" : " |");
        }

        text.Append('\n');
    }

    private static string Number(double? value, int decimals) =>
        value is { } v ? v.ToString(decimals == 0 ? "F0" : $"F{decimals}", CultureInfo.InvariantCulture) : "–";
}
