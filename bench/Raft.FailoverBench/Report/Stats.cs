namespace Raft.FailoverBench.Report;

/// <summary>Min, nearest-rank percentiles and max of a sample.</summary>
internal sealed record Summary(int Count, double Min, double P50, double P90, double P99, double Max)
{
    public static Summary? Of(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var sorted = values.Order().ToArray();
        return sorted.Length == 0
            ? null
            : new Summary(sorted.Length, sorted[0], Stats.Percentile(sorted, 50), Stats.Percentile(sorted, 90), Stats.Percentile(sorted, 99), sorted[^1]);
    }
}

internal static class Stats
{
    /// <summary>
    /// The nearest-rank percentile of an ascending sample: the smallest value with at least <paramref name="percent"/>
    /// percent of the sample at or below it (rank ⌈p/100 · n⌉). Always a value of the sample.
    /// </summary>
    public static double Percentile(IReadOnlyList<double> sorted, double percent)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Count == 0)
        {
            throw new ArgumentException("an empty sample has no percentiles", nameof(sorted));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(percent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percent, 100);
        var rank = (int)Math.Ceiling(percent / 100 * sorted.Count);
        return sorted[Math.Clamp(rank, 1, sorted.Count) - 1];
    }
}
