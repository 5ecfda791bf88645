namespace Raft.FailoverBench.Targets;

/// <summary>
/// A target whose nodes say their term and how many leader changes they have seen, so that a run can tell whether an
/// election happened while it ran. Like <see cref="IBenchTarget"/>, failure comes back as a value (null); only
/// cancelling <c>cancellationToken</c> throws.
/// </summary>
internal interface IElectionCountTarget
{
    /// <summary>Node <paramref name="node"/>'s term and its leader-change counter, as it reports them now; null when it did not answer.</summary>
    Task<ElectionCount?> ElectionCountAsync(int node, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>
/// A node's term and the leader changes it has seen since its process started (ours: <c>raft_leader_changes_total</c>;
/// etcd: <c>etcd_server_leader_changes_seen_total</c>). Every election, won or not, raises the term of the nodes that
/// hear of it; a pre-vote that fails raises nothing.
/// </summary>
internal readonly record struct ElectionCount(ulong Term, long LeaderChanges)
{
    public const string OursTerm = "raft_term";
    public const string OursLeaderChanges = "raft_leader_changes_total";
    public const string EtcdLeaderChanges = "etcd_server_leader_changes_seen_total";

    /// <summary>The counter <paramref name="counter"/> of a Prometheus text, or null when the text lacks it.</summary>
    public static long? Counter(string metricsText, string counter) =>
        PrometheusText.Parse(metricsText).TryGetValue(counter, out var value) ? (long)value : null;

    /// <summary>The term and leader changes of a node of ours, from its <c>/metrics</c>; null when either is missing.</summary>
    public static ElectionCount? FromOurMetrics(string metricsText)
    {
        var samples = PrometheusText.Parse(metricsText);
        return samples.TryGetValue(OursTerm, out var term) && samples.TryGetValue(OursLeaderChanges, out var changes)
            ? new ElectionCount((ulong)term, (long)changes)
            : null;
    }

    /// <summary>
    /// What happened between two readings of every node: the elections (how far the highest term rose) and the most
    /// leader changes one node saw. Null unless every node answered both times with the same process (a counter that
    /// went down belongs to a restarted node).
    /// </summary>
    public static (long Elections, long LeaderChanges)? Between(IReadOnlyList<ElectionCount?> before, IReadOnlyList<ElectionCount?> after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        if (before.Count != after.Count || before.Count == 0 || before.Any(c => c is null) || after.Any(c => c is null))
        {
            return null;
        }

        long changes = 0;
        for (var i = 0; i < before.Count; i++)
        {
            var seen = after[i]!.Value.LeaderChanges - before[i]!.Value.LeaderChanges;
            if (seen < 0)
            {
                return null;
            }

            changes = Math.Max(changes, seen);
        }

        var (termBefore, termAfter) = (before.Max(c => c!.Value.Term), after.Max(c => c!.Value.Term));
        return termAfter >= termBefore ? ((long)(termAfter - termBefore), changes) : null;
    }
}
