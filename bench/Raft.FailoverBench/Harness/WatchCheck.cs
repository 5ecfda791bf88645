using System.Globalization;

namespace Raft.FailoverBench.Harness;

/// <summary>What a watch must have seen of the writes it watched: a busy watch of the load mode, the watch of a failover trial.</summary>
internal static class WatchCheck
{
    /// <summary>
    /// Null when <paramref name="seen"/> (one watch's changes, in the order they arrived) holds every write of
    /// <paramref name="acknowledged"/> exactly once, at the index it was acknowledged at, in index order; else what is
    /// wrong, the first thing found. Each log entry of the row is one put, so an index seen twice is a duplicate. A write
    /// seen but never acknowledged (a request that failed may still have committed) is fine, once.
    /// </summary>
    /// <param name="name">How the answer names a write by its number (default <c>write N</c>).</param>
    public static string? Check(IReadOnlyList<WatchedWrite> acknowledged, IReadOnlyList<WatchedWrite> seen, Func<ulong, string>? name = null)
    {
        ArgumentNullException.ThrowIfNull(acknowledged);
        ArgumentNullException.ThrowIfNull(seen);
        name ??= number => string.Create(CultureInfo.InvariantCulture, $"write {number}");
        var writeAt = new Dictionary<ulong, ulong>(acknowledged.Count);
        foreach (var write in acknowledged)
        {
            if (!writeAt.TryAdd(write.Index, write.Write))
            {
                return $"{name(writeAt[write.Index])} and {name(write.Write)} were both acknowledged at index {write.Index}";
            }
        }

        var writesSeen = new HashSet<ulong>(seen.Count);
        var found = 0;
        for (var i = 0; i < seen.Count; i++)
        {
            var (index, number) = seen[i];
            if (i > 0 && index <= seen[i - 1].Index)
            {
                return index == seen[i - 1].Index
                    ? $"index {index} arrived twice ({name(seen[i - 1].Write)}, then {name(number)})"
                    : $"index {index} ({name(number)}) arrived after index {seen[i - 1].Index}: out of order";
            }

            if (!writesSeen.Add(number))
            {
                return $"{name(number)} arrived twice, the second time at index {index}";
            }

            if (writeAt.TryGetValue(index, out var expected))
            {
                if (expected != number)
                {
                    return $"index {index} carried {name(number)}, but {name(expected)} was acknowledged at it";
                }

                found++;
            }
        }

        if (found == writeAt.Count)
        {
            return null;
        }

        var indexesSeen = seen.Select(s => s.Index).ToHashSet();
        var first = acknowledged.Where(a => !indexesSeen.Contains(a.Index)).MinBy(a => a.Index);
        return $"{writeAt.Count - found} of {writeAt.Count} acknowledged writes never arrived, the first {name(first.Write)} at index {first.Index}";
    }

    /// <summary>
    /// What a failover trial's watch must have delivered of the trial's <paramref name="writes"/> (every attempt, in any
    /// order): <see cref="Check"/> over the acknowledged ones, each write numbered by its place among the attempts and
    /// named by its key; and nothing else: no deletion, no key no writer of the trial tried. Null when all is well.
    /// </summary>
    public static string? CheckTrial(IReadOnlyList<WriteRecord> writes, IReadOnlyList<DeliveredChange> delivered)
    {
        ArgumentNullException.ThrowIfNull(writes);
        ArgumentNullException.ThrowIfNull(delivered);
        var numbers = new Dictionary<string, ulong>(writes.Count, StringComparer.Ordinal);
        var acknowledged = new List<WatchedWrite>(writes.Count);
        for (var i = 0; i < writes.Count; i++)
        {
            var number = (ulong)i + 1;
            if (!numbers.TryAdd(writes[i].Key, number))
            {
                throw new ArgumentException($"key {writes[i].Key} was tried twice: every attempt of a trial writes a new key", nameof(writes));
            }

            if (writes[i].Ok)
            {
                acknowledged.Add(new WatchedWrite(writes[i].Index, number));
            }
        }

        var seen = new List<WatchedWrite>(delivered.Count);
        foreach (var change in delivered)
        {
            if (change.Deleted)
            {
                return $"a deletion of {change.Key} at index {change.Index}, but the trial deletes nothing";
            }

            if (!numbers.TryGetValue(change.Key, out var number))
            {
                return $"a change of {change.Key} at index {change.Index}, a key no writer of the trial tried";
            }

            seen.Add(new WatchedWrite(change.Index, number));
        }

        return Check(acknowledged, seen, number => $"write {writes[(int)number - 1].Key}");
    }
}
