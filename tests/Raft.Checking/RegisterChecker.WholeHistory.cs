namespace Raft.Checking;

internal static partial class RegisterChecker
{
    private const int ViolationsShownMax = 20;

    // What the history shows without any search. Fills versionKeys: for every version tied to a value, the key
    // of the value's write.
    private static List<string> CheckWholeHistory(IReadOnlyList<RegisterOp> history, Dictionary<ulong, string> versionKeys)
    {
        var violations = new List<string>();
        var writers = new Dictionary<ulong, int>();
        for (var i = 0; i < history.Count; i++)
        {
            if (history[i].IsWrite)
            {
                writers[history[i].Value] = i;
            }
        }

        var versionOfValue = new Dictionary<ulong, (ulong Version, int Id)>();
        var valueOfVersion = new Dictionary<ulong, (ulong Value, int Id)>();
        for (var i = 0; i < history.Count; i++)
        {
            var op = history[i];
            var tiesValueToVersion = op.Outcome == RegisterOutcome.Ok && (op.IsWrite || op.Kind == RegisterOpKind.Get);
            if (!tiesValueToVersion)
            {
                continue;
            }

            if (op.Kind == RegisterOpKind.Get && ReadProblem(history, writers, i) is { } problem)
            {
                violations.Add(problem);
            }

            if (versionOfValue.TryGetValue(op.Value, out var seen) && seen.Version != op.Version)
            {
                violations.Add($"value {op.Value} is seen at v{seen.Version} by {Name(history, seen.Id)} and at v{op.Version} by {Name(history, i)}: a write takes one version, so it was applied twice or a read returned a version that is not its write's");
            }
            else
            {
                versionOfValue.TryAdd(op.Value, (op.Version, i));
            }

            if (valueOfVersion.TryGetValue(op.Version, out var other) && other.Value != op.Value)
            {
                violations.Add($"v{op.Version} names two writes, of value {other.Value} ({Name(history, other.Id)}) and of value {op.Value} ({Name(history, i)}): a version is a log index, and an index holds one write");
            }
            else
            {
                valueOfVersion.TryAdd(op.Version, (op.Value, i));
            }
        }

        foreach (var (value, (version, _)) in versionOfValue)
        {
            if (writers.TryGetValue(value, out var writer))
            {
                versionKeys.TryAdd(version, history[writer].Key);
            }
        }

        if (violations.Count == 0)
        {
            CheckVersionsFollowRealTime(history, versionOfValue, violations);
        }

        if (violations.Count > ViolationsShownMax)
        {
            var more = violations.Count - ViolationsShownMax;
            violations.RemoveRange(ViolationsShownMax, more);
            violations.Add($"and {more} more");
        }

        return violations;
    }

    private static string? ReadProblem(IReadOnlyList<RegisterOp> history, Dictionary<ulong, int> writers, int read)
    {
        var op = history[read];
        if (!writers.TryGetValue(op.Value, out var writer))
        {
            return $"{Name(history, read)} read value {op.Value}, which no operation wrote";
        }

        var write = history[writer];
        if (write.Outcome == RegisterOutcome.Failed)
        {
            return $"{Name(history, read)} read value {op.Value}, written only by {Name(history, writer)}, which failed: it was definitely not applied";
        }

        if (!string.Equals(write.Key, op.Key, StringComparison.Ordinal))
        {
            return $"{Name(history, read)} read on key \"{op.Key}\" the value {op.Value} that {Name(history, writer)} wrote to key \"{write.Key}\"";
        }

        return op.CompletedAt < write.InvokedAt
            ? $"{Name(history, read)} read value {op.Value} before {Name(history, writer)}, its only write, was invoked"
            : null;
    }

    // Versions are log indexes: a write proposed after some answer saw version v was committed is placed above v,
    // whatever the keys. So a write invoked after an answer that saw v takes a version above v.
    private static void CheckVersionsFollowRealTime(IReadOnlyList<RegisterOp> history, Dictionary<ulong, (ulong Version, int Id)> versionOfValue, List<string> violations)
    {
        var seen = new List<(long At, ulong Version, int Id)>();
        var written = new List<(long At, ulong Version, int Id)>();
        for (var i = 0; i < history.Count; i++)
        {
            var op = history[i];
            if (op.IsCompleted && op.Version != 0)
            {
                seen.Add((op.CompletedAt, op.Version, i));
            }

            if (op.IsWrite && op.Outcome == RegisterOutcome.Ok)
            {
                written.Add((op.InvokedAt, op.Version, i));
            }
            else if (op.IsWrite && op.Outcome == RegisterOutcome.Unknown && versionOfValue.TryGetValue(op.Value, out var learned))
            {
                written.Add((op.InvokedAt, learned.Version, i));
            }
        }

        seen.Sort();
        written.Sort();
        var next = 0;
        (ulong Version, int Id) highest = (0, -1);
        foreach (var (at, version, id) in written)
        {
            for (; next < seen.Count && seen[next].At < at; next++)
            {
                if (seen[next].Version > highest.Version)
                {
                    highest = (seen[next].Version, seen[next].Id);
                }
            }

            if (highest.Version >= version)
            {
                violations.Add($"{Name(history, id)} took v{version}, yet it was invoked after {Name(history, highest.Id)} had seen v{highest.Version}: versions are log indexes, and a write proposed after an index is committed lands above it");
            }
        }
    }

    private static string Name(IReadOnlyList<RegisterOp> history, int id) => $"#{id} {history[id].Describe()} on \"{history[id].Key}\"";
}
