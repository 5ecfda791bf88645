namespace Raft.Checking;

/// <summary>What a checker concluded about a history.</summary>
internal enum CheckVerdict : byte
{
    /// <summary>The history satisfies the property.</summary>
    Pass,

    /// <summary>The history breaks the property; the explanation shows where.</summary>
    Violation,

    /// <summary>The checker ran out of its step budget before deciding: neither a pass nor a violation.</summary>
    Inconclusive,
}

/// <summary>A checker's verdict with a readable explanation (empty on a pass).</summary>
internal sealed record CheckResult(CheckVerdict Verdict, string Explanation)
{
    public static CheckResult Passed { get; } = new(CheckVerdict.Pass, string.Empty);

    public bool IsPass => Verdict == CheckVerdict.Pass;

    private const int ViolationsShownMax = 20;

    /// <summary>A pass when <paramref name="violations"/> is empty, else a violation listing the first of them.</summary>
    public static CheckResult FromViolations(IReadOnlyList<string> violations, string property)
    {
        if (violations.Count == 0)
        {
            return Passed;
        }

        var shown = violations.Take(ViolationsShownMax).ToList();
        if (violations.Count > ViolationsShownMax)
        {
            shown.Add($"and {violations.Count - ViolationsShownMax} more");
        }

        return new CheckResult(CheckVerdict.Violation, $"{property}: {violations.Count} violation(s){Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", shown));
    }

    public override string ToString() => IsPass ? "pass" : $"{Verdict}: {Explanation}";
}
