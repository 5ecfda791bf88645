namespace Raft.Checking;

/// <summary>
/// One key's operations made ready for <see cref="LinearizationSearch"/>: failed operations and lost reads dropped,
/// lost writes somebody observed turned into writes that must take effect before their first observer answered
/// (and every write's deadline brought forward to its first observer's answer),
/// lost operations that can change nothing observable dropped, the rest left pending forever.
/// </summary>
internal sealed class KeySearchInput
{
    private KeySearchInput(SearchOp[] completed, SearchOp[] pending)
    {
        Completed = completed;
        Pending = pending;
    }

    public IReadOnlyList<SearchOp> Completed { get; }

    public IReadOnlyList<SearchOp> Pending { get; }

    /// <param name="ops">The key's operations with their ids, in any order.</param>
    /// <param name="versionKeys">For every version learned anywhere in the history, the key of the write it names.</param>
    public static KeySearchInput Prepare(string key, IReadOnlyList<(int Id, RegisterOp Op)> ops, IReadOnlyDictionary<ulong, string> versionKeys)
    {
        // What this key's own operations teach: each write's version, and for each version the earliest answer
        // that saw it (the write holding it took effect before that).
        var learned = new Dictionary<ulong, ulong>();
        var firstSeen = new Dictionary<ulong, long>();
        foreach (var (_, op) in ops)
        {
            if (op.Outcome == RegisterOutcome.Ok && (op.IsWrite || op.Kind == RegisterOpKind.Get))
            {
                learned.TryAdd(op.Value, op.Version);
            }

            if (!op.IsCompleted)
            {
                continue;
            }

            var returnKey = ReturnKey(op);
            foreach (var seen in VersionsSeen(op))
            {
                firstSeen[seen] = Math.Min(firstSeen.GetValueOrDefault(seen, long.MaxValue), returnKey);
            }
        }

        var learnedVersions = learned.Values.ToHashSet();
        var completed = new List<SearchOp>();
        var pending = new List<SearchOp>();
        var unobserved = new List<SearchOp>();
        var hasOrphan = false;
        foreach (var (id, op) in ops)
        {
            if (op.Outcome == RegisterOutcome.Failed || (op.Outcome == RegisterOutcome.Unknown && op.Kind == RegisterOpKind.Get))
            {
                continue;
            }

            // A version this key's writes might hold without anyone having tied it to a value.
            var orphan = !learnedVersions.Contains(op.Version) && !(versionKeys.TryGetValue(op.Version, out var owner) && owner != key);
            var invokeKey = 2 * op.InvokedAt;
            if (op.IsCompleted)
            {
                hasOrphan |= orphan && op.Version != 0 && op.Outcome != RegisterOutcome.NotFound && op.Kind != RegisterOpKind.Get;
                var returnKey = ReturnKey(op);
                if (op.IsWrite && op.Outcome == RegisterOutcome.Ok && firstSeen.TryGetValue(op.Version, out var seenBy))
                {
                    // Its version was seen before its own answer came: it took effect before that.
                    returnKey = Math.Min(returnKey, Math.Max(seenBy, invokeKey + 1));
                }

                completed.Add(new SearchOp(id, op.Kind, Effect(op.Outcome), op.Value, op.ExpectedVersion, op.Version, orphan, invokeKey, returnKey));
                continue;
            }

            if (op.IsWrite && learned.TryGetValue(op.Value, out var version))
            {
                // Somebody read this lost write's value, so it took effect, before the first answer that saw it. Seen
                // before it was invoked, it cannot be placed in time, and the search says so.
                var deadline = Math.Max(firstSeen[version], invokeKey + 1);
                completed.Add(new SearchOp(id, op.Kind, SearchEffect.Ok, op.Value, op.ExpectedVersion, version, false, invokeKey, deadline));
                continue;
            }

            // A lost operation that nobody observed. Conditional ones can act only on a version somebody learned.
            var conditional = op.Kind is RegisterOpKind.PutIfVersion or RegisterOpKind.DeleteIfVersion;
            if (conditional && op.ExpectedVersion != 0 && !learnedVersions.Contains(op.ExpectedVersion))
            {
                continue;
            }

            if (op.Kind == RegisterOpKind.DeleteIfVersion && op.ExpectedVersion == 0)
            {
                continue;
            }

            var pendingOp = new SearchOp(id, op.Kind, SearchEffect.Any, op.IsWrite ? RegisterState.Unobserved : 0, conditional ? op.ExpectedVersion : 0, 0, false, invokeKey, long.MaxValue);
            (op.IsWrite ? unobserved : pending).Add(pendingOp);
        }

        // An unobserved write leaves a state no completed operation can see, except one reporting a version no
        // known write holds: without such an orphan version, never taking effect explains everything it could.
        if (hasOrphan)
        {
            pending.AddRange(unobserved);
        }

        return new KeySearchInput([.. completed], [.. pending]);
    }

    private static long ReturnKey(RegisterOp op) => (2 * op.CompletedAt) + 1;

    private static SearchEffect Effect(RegisterOutcome outcome) => outcome switch
    {
        RegisterOutcome.Ok => SearchEffect.Ok,
        RegisterOutcome.PreconditionFailed => SearchEffect.PreconditionFailed,
        _ => SearchEffect.NotFound,
    };

    // The versions a completed operation saw as the key's current one when it took effect.
    private static IEnumerable<ulong> VersionsSeen(RegisterOp op)
    {
        switch (op.Kind, op.Outcome)
        {
            case (RegisterOpKind.Get, RegisterOutcome.Ok):
            case (RegisterOpKind.Delete or RegisterOpKind.DeleteIfVersion, RegisterOutcome.Ok):
            case (_, RegisterOutcome.PreconditionFailed) when op.Version != 0:
                yield return op.Version;
                break;
            case (RegisterOpKind.PutIfVersion, RegisterOutcome.Ok) when op.ExpectedVersion != 0:
                yield return op.ExpectedVersion;
                break;
        }
    }
}
