namespace Raft.Core;

/// <summary>Majority arithmetic over the voters of one membership.</summary>
public static class Quorum
{
    /// <summary>Clusters this size or smaller sort on the stack.</summary>
    private const int StackVotersMax = 64;

    /// <summary>
    /// The largest value that at least a majority of <paramref name="values"/> reach or exceed:
    /// the commit index when the values are match indexes. Zero for an empty set.
    /// </summary>
    public static ulong MajorityValue(ReadOnlySpan<ulong> values)
    {
        if (values.IsEmpty)
        {
            return 0;
        }

        if (values.Length > StackVotersMax)
        {
            throw new ArgumentException($"at most {StackVotersMax} voters", nameof(values));
        }

        Span<ulong> sorted = stackalloc ulong[values.Length];
        values.CopyTo(sorted);
        sorted.Sort();

        // Ascending order: the element at n - quorum has exactly quorum elements at or above it.
        var quorum = (values.Length / 2) + 1;
        return sorted[values.Length - quorum];
    }
}
