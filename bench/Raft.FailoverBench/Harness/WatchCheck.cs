namespace Raft.FailoverBench.Harness;

/// <summary>What a busy watch must have seen of the writes of its row.</summary>
internal static class WatchCheck
{
    /// <summary>
    /// Null when <paramref name="seen"/> (one watch's changes, in the order they arrived) holds every write of
    /// <paramref name="acknowledged"/> exactly once, at the index it was acknowledged at, in index order; else what is
    /// wrong, the first thing found. Each log entry of the row is one put, so an index seen twice is a duplicate. A write
    /// seen but never acknowledged (a request that failed may still have committed) is fine, once.
    /// </summary>
    public static string? Check(IReadOnlyList<WatchedWrite> acknowledged, IReadOnlyList<WatchedWrite> seen)
    {
        ArgumentNullException.ThrowIfNull(acknowledged);
        ArgumentNullException.ThrowIfNull(seen);
        var writeAt = new Dictionary<ulong, ulong>(acknowledged.Count);
        foreach (var write in acknowledged)
        {
            if (!writeAt.TryAdd(write.Index, write.Write))
            {
                return $"writes {writeAt[write.Index]} and {write.Write} were both acknowledged at index {write.Index}";
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
                    ? $"index {index} arrived twice (write {seen[i - 1].Write}, then write {number})"
                    : $"index {index} (write {number}) arrived after index {seen[i - 1].Index}: out of order";
            }

            if (!writesSeen.Add(number))
            {
                return $"write {number} arrived twice, the second time at index {index}";
            }

            if (writeAt.TryGetValue(index, out var expected))
            {
                if (expected != number)
                {
                    return $"index {index} carried write {number}, but write {expected} was acknowledged at it";
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
        return $"{writeAt.Count - found} of {writeAt.Count} acknowledged writes never arrived, the first write {first.Write} at index {first.Index}";
    }
}
