using System.Globalization;
using System.Text;

namespace Raft.FailoverBench.Report;

internal static partial class Tables
{
    /// <summary>
    /// The load mode's watcher rows, one per row measured, in order, each compared with the row without watches of the
    /// same target: writes/s and latency, what each watch received and how many passed their check.
    /// </summary>
    public static string WatcherLoad(IReadOnlyList<WatcherLoadResult> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var text = new StringBuilder(
            "| clients | watchers | writes/s | p50 ms | p99 ms | writes/s ÷ none | p50 ÷ none | p99 ÷ none | changes per watch | watches passed | last watch caught up after (ms) |\n" +
            "| --: | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |\n");
        foreach (var row in rows)
        {
            var none = rows.FirstOrDefault(r => r.Target == row.Target && r.WatcherCount == 0)?.Write;
            var write = row.Write;
            var changes = row.WatcherCount == 0
                ? "–"
                : row.ChangesPerWatch.Min() == row.ChangesPerWatch.Max()
                    ? row.ChangesPerWatch[0].ToString(CultureInfo.InvariantCulture)
                    : string.Create(CultureInfo.InvariantCulture, $"{row.ChangesPerWatch.Min()}–{row.ChangesPerWatch.Max()}");
            var passed = row.WatcherCount == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{row.WatchesPassed}/{row.WatcherCount}");
            text.Append(CultureInfo.InvariantCulture, $"| {write.Concurrency} | {row.Watchers} | {Number(write.PerSecond, 0)} | {Number(write.P50Ms, 2)} | {Number(write.P99Ms, 2)} |");
            text.Append(CultureInfo.InvariantCulture, $" {Ratio(write.PerSecond, none?.PerSecond)} | {Ratio(write.P50Ms, none?.P50Ms)} | {Ratio(write.P99Ms, none?.P99Ms)} |");
            text.Append(CultureInfo.InvariantCulture, $" {changes} | {passed} | {Number(row.CaughtUpAfterMs, 1)} |\n");
        }

        return text.ToString();
    }
}
