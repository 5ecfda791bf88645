using System.Diagnostics;

namespace Raft.FailoverBench.Harness;

/// <summary>One write attempt: a new key each time; <see cref="Error"/> null means it was acknowledged at <see cref="Index"/>.</summary>
/// <param name="Start">When the request was sent (<see cref="Stopwatch.GetTimestamp"/>).</param>
/// <param name="End">When the answer (or the failure) arrived.</param>
internal sealed record WriteRecord(int Writer, long Seq, string Key, string Value, int Node, long Start, long End, string? Error, ulong Index)
{
    public bool Ok => Error is null;
}

/// <summary>One linearizable read attempt of the reader.</summary>
internal sealed record ReadRecord(string Key, int Node, long Start, long End, string? Error, ulong Index)
{
    public bool Ok => Error is null;
}

/// <summary>Gap arithmetic over a recorded trace, in milliseconds.</summary>
internal static class Gaps
{
    public static double Ms(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    /// <summary>
    /// The client-visible outage around <paramref name="fault"/>: the longest silence between consecutive successful
    /// answers (by arrival time), from the last success before the fault to the end of the trace. A trace ends a few
    /// hundred milliseconds after service resumed, so this is the gap the fault caused; answers that arrive just after
    /// the fault instant from a leader that had not died yet (the kill lands a little later, or the answer was already
    /// on its way) cannot hide the outage that follows them. Null when there is no success before the fault or none
    /// after it.
    /// </summary>
    public static double? Compute(IEnumerable<long> successTimes, long fault)
    {
        ArgumentNullException.ThrowIfNull(successTimes);
        var sorted = successTimes.Order().ToArray();
        var lastBefore = Array.FindLastIndex(sorted, t => t < fault);
        if (lastBefore < 0 || lastBefore == sorted.Length - 1)
        {
            return null;
        }

        var longest = 0.0;
        for (var i = lastBefore + 1; i < sorted.Length; i++)
        {
            longest = Math.Max(longest, Ms(sorted[i - 1], sorted[i]));
        }

        return longest;
    }

    public static double? WriteGap(IEnumerable<WriteRecord> writes, long fault) =>
        Compute(writes.Where(w => w.Ok).Select(w => w.End), fault);

    public static double? ReadGap(IEnumerable<ReadRecord> reads, long fault) =>
        Compute(reads.Where(r => r.Ok).Select(r => r.End), fault);

    /// <summary>
    /// The watcher's outage around <paramref name="fault"/>, as <see cref="Compute"/> over the arrivals of its changes:
    /// the longest silence between deliveries from the last one before the fault on, so a change the old leader had
    /// committed that arrives just after the fault cannot hide the silence that follows it.
    /// </summary>
    public static double? WatchGap(IEnumerable<DeliveredChange> delivered, long fault) =>
        Compute(delivered.Select(d => d.At), fault);

    /// <summary>How many failed attempts of each kind, sorted by kind.</summary>
    public static SortedDictionary<string, int> ErrorCounts(IEnumerable<string?> errors)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var error in errors)
        {
            if (error is not null)
            {
                counts[error] = counts.GetValueOrDefault(error) + 1;
            }
        }

        return counts;
    }
}
