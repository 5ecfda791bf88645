namespace Raft.Checking;

/// <summary>Limits of <see cref="RegisterChecker"/>.</summary>
internal sealed record RegisterCheckOptions
{
    /// <summary>
    /// Applications of the model one search of one key may make before it gives up as
    /// <see cref="CheckVerdict.Inconclusive"/>. The memo holds at most one entry (about 100 bytes) per application;
    /// a linearizable history of n operations takes about 2n.
    /// </summary>
    public long StepBudget { get; init; } = 1_000_000;

    /// <summary>On a violation, search prefixes of the key's history for the shortest one that already fails.</summary>
    public bool FindShortestFailingPrefix { get; init; } = true;

    /// <summary>Operations listed as concurrent with the culprit, at most.</summary>
    public int ConcurrentShownMax { get; init; } = 16;
}

/// <summary>One key's part of a <see cref="RegisterCheckResult"/>.</summary>
internal sealed record KeyCheckResult(string Key, CheckVerdict Verdict, int Operations, long Steps, string Explanation);

/// <summary>The verdict on a whole history: the worst of its keys' (a violation anywhere, else inconclusive anywhere, else a pass).</summary>
internal sealed record RegisterCheckResult(CheckVerdict Verdict, string Explanation, IReadOnlyList<KeyCheckResult> Keys)
{
    public long Steps => Keys.Sum(k => k.Steps);

    public CheckResult ToCheckResult() => new(Verdict, Explanation);

    public override string ToString() => Verdict == CheckVerdict.Pass ? "pass" : $"{Verdict}: {Explanation}";
}

/// <summary>
/// Linearizability of a key-value history in which every key is a register with versions and compare-and-set,
/// as <c>KvStore</c> executes it. Keys are checked apart (linearizability is compositional); on each, a
/// <see cref="LinearizationSearch"/> looks for an order of the operations that respects real time and the
/// store's semantics.
/// </summary>
/// <remarks>
/// <para>Before searching, the whole history is checked for what needs no search: a value read that no write
/// wrote, or that only a failed write wrote; a value seen at two versions; two values at one version; and, since
/// versions are log indexes, a write invoked after some answer had seen version v that got a version no larger
/// than v (on any key).</para>
/// <para>Assumption: clients take expected versions only from (value, version) pairs they observed. So a write
/// whose version nobody observed (its answer was lost and no read returned its value) never matches a nonzero
/// expected version.</para>
/// </remarks>
internal static partial class RegisterChecker
{
    public static RegisterCheckResult Check(IReadOnlyList<RegisterOp> history, RegisterCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(history);
        options ??= new RegisterCheckOptions();
        Validate(history);

        var versionKeys = new Dictionary<ulong, string>();
        var global = CheckWholeHistory(history, versionKeys);
        if (global.Count > 0)
        {
            return new RegisterCheckResult(CheckVerdict.Violation, string.Join(Environment.NewLine, global), []);
        }

        var keys = new List<KeyCheckResult>();
        foreach (var group in Enumerable.Range(0, history.Count).GroupBy(i => history[i].Key, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var ops = group.Select(i => (i, history[i])).ToArray();
            keys.Add(CheckKey(group.Key, ops, versionKeys, options));
        }

        var verdict = keys.Any(k => k.Verdict == CheckVerdict.Violation) ? CheckVerdict.Violation
            : keys.Any(k => k.Verdict == CheckVerdict.Inconclusive) ? CheckVerdict.Inconclusive
            : CheckVerdict.Pass;
        var explanation = string.Join(Environment.NewLine, keys.Where(k => k.Verdict == verdict && verdict != CheckVerdict.Pass).Select(k => k.Explanation));
        return new RegisterCheckResult(verdict, explanation, keys);
    }

    private static KeyCheckResult CheckKey(string key, (int Id, RegisterOp Op)[] ops, Dictionary<ulong, string> versionKeys, RegisterCheckOptions options)
    {
        var outcome = Search(key, ops, versionKeys, options.StepBudget);
        var steps = outcome.Steps;
        switch (outcome.Verdict)
        {
            case CheckVerdict.Pass:
                return new KeyCheckResult(key, CheckVerdict.Pass, ops.Length, steps, string.Empty);
            case CheckVerdict.Inconclusive:
                return new KeyCheckResult(key, CheckVerdict.Inconclusive, ops.Length, steps, ExplainInconclusive(key, ops, outcome, options.StepBudget));
        }

        // The shortest failing prefix ends at some answer: prefixes that fail grow into histories that fail, so
        // bisect over the key's answers. A prefix the budget cannot decide counts as passing; the prefix
        // reported has always been seen to fail.
        var cuts = ops.Where(o => o.Op.IsCompleted).Select(o => o.Op.CompletedAt).Distinct().Order().ToArray();
        var culpritCut = long.MaxValue;
        var failing = outcome;
        var shorterUndecided = false;
        if (options.FindShortestFailingPrefix && cuts.Length > 0)
        {
            int lo = 0, hi = cuts.Length - 1;
            while (lo < hi)
            {
                var mid = (lo + hi) / 2;
                var prefixOutcome = Search(key, Prefix(ops, cuts[mid]), versionKeys, options.StepBudget);
                steps += prefixOutcome.Steps;
                if (prefixOutcome.Verdict == CheckVerdict.Violation)
                {
                    hi = mid;
                    failing = prefixOutcome;
                }
                else
                {
                    shorterUndecided |= prefixOutcome.Verdict == CheckVerdict.Inconclusive;
                    lo = mid + 1;
                }
            }

            culpritCut = cuts[hi];
        }

        var explanation = ExplainViolation(key, ops, failing, culpritCut, shorterUndecided, options);
        return new KeyCheckResult(key, CheckVerdict.Violation, ops.Length, steps, explanation);
    }

    private static SearchOutcome Search(string key, IReadOnlyList<(int Id, RegisterOp Op)> ops, Dictionary<ulong, string> versionKeys, long budget)
    {
        var input = KeySearchInput.Prepare(key, ops, versionKeys);
        return new LinearizationSearch(input.Completed, input.Pending).Run(budget);
    }

    // The history as it stood when position `cut` was reached: later invocations not yet made, later answers not
    // yet received.
    private static (int Id, RegisterOp Op)[] Prefix((int Id, RegisterOp Op)[] ops, long cut) =>
        [.. ops.Where(o => o.Op.InvokedAt <= cut).Select(o => o.Op.IsCompleted && o.Op.CompletedAt > cut
            ? (o.Id, o.Op with { Outcome = RegisterOutcome.Unknown, Version = 0, Value = o.Op.IsWrite ? o.Op.Value : 0 })
            : o)];

    private static void Validate(IReadOnlyList<RegisterOp> history)
    {
        var written = new HashSet<ulong>();
        for (var i = 0; i < history.Count; i++)
        {
            var op = history[i];
            string? problem = null;
            if (op.InvokedAt < 0 || op.InvokedAt > long.MaxValue / 4 || (op.Outcome != RegisterOutcome.Unknown && (op.CompletedAt <= op.InvokedAt || op.CompletedAt > long.MaxValue / 4)))
            {
                problem = "positions must satisfy 0 <= invocation < answer < 2^61";
            }
            else if (op.IsWrite && (op.Value is 0 or RegisterState.Unobserved || !written.Add(op.Value)))
            {
                problem = "a write's value must be unique in the history, and neither 0 nor ulong.MaxValue";
            }
            else if (op.Kind == RegisterOpKind.Get && op.Outcome == RegisterOutcome.Ok && (op.Value == 0 || op.Version == 0))
            {
                problem = "a get answered ok reads a nonzero value at a nonzero version";
            }
            else if (op.Outcome == RegisterOutcome.Ok && op.Kind != RegisterOpKind.Get && op.Version == 0)
            {
                problem = "a write or delete answered ok names a nonzero version";
            }
            else if (op.Kind is not (RegisterOpKind.PutIfVersion or RegisterOpKind.DeleteIfVersion) && (op.Outcome == RegisterOutcome.PreconditionFailed || op.ExpectedVersion != 0))
            {
                problem = "only conditional operations expect a version or fail a precondition";
            }
            else if (op.Outcome == RegisterOutcome.NotFound && (op.IsWrite || op.Version != 0 || (op.Kind == RegisterOpKind.Get && op.Value != 0)))
            {
                problem = "a not-found answer carries no value and no version, and never answers a write";
            }

            if (problem is not null)
            {
                throw new ArgumentException($"operation #{i} ({op.Describe()}) is malformed: {problem}", nameof(history));
            }
        }
    }
}
