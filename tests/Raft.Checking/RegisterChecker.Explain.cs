using System.Text;

namespace Raft.Checking;

internal static partial class RegisterChecker
{
    private static string ExplainViolation(string key, (int Id, RegisterOp Op)[] ops, SearchOutcome failing, long culpritCut, bool shorterUndecided, RegisterCheckOptions options)
    {
        var byId = ops.ToDictionary(o => o.Id, o => o.Op);
        var text = new StringBuilder();
        text.Append($"key \"{key}\": not linearizable ({ops.Length} operations on the key).");
        int culprit;
        if (culpritCut != long.MaxValue)
        {
            culprit = ops.First(o => o.Op.IsCompleted && o.Op.CompletedAt == culpritCut).Id;
            text.Append($"\n  The shortest failing prefix ends with the answer of #{culprit} {byId[culprit].Describe()}:");
            text.Append(shorterUndecided
                ? "\n  the history up to that answer has no linearization; some shorter prefix could not be decided within the step budget."
                : "\n  the history up to that answer has no linearization, the history up to any earlier answer has one.");
        }
        else
        {
            culprit = failing.Blocked;
            var due = byId[culprit].IsCompleted ? "by its answer" : "before the first answer that saw it";
            text.Append($"\n  No order of the operations lets #{culprit} {byId[culprit].Describe()} take effect {due}.");
        }

        // Failed operations and lost reads change nothing, so they are left out; lost operations may take effect
        // at any time after their invocation, so every one invoked before the culprit answered is concurrent.
        var op = byId[culprit];
        var end = op.IsCompleted ? op.CompletedAt : long.MaxValue;
        var concurrent = ops
            .Where(o => o.Id != culprit && o.Op.Outcome != RegisterOutcome.Failed && (o.Op.IsCompleted || o.Op.Kind != RegisterOpKind.Get))
            .Where(o => o.Op.InvokedAt < end && (!o.Op.IsCompleted || o.Op.CompletedAt > op.InvokedAt))
            .ToArray();
        var answered = concurrent.Where(o => o.Op.IsCompleted).OrderBy(o => o.Op.InvokedAt).ToArray();
        var lost = concurrent.Where(o => !o.Op.IsCompleted).OrderByDescending(o => o.Op.InvokedAt).ToArray();
        text.Append(concurrent.Length == 0
            ? "\n  Nothing that could take effect was concurrent with it."
            : $"\n  Concurrent with it: {answered.Length} answered, {lost.Length} lost (latest first):");
        foreach (var (id, other) in answered.Concat(lost).Take(options.ConcurrentShownMax))
        {
            text.Append($"\n    #{id} {other.Describe()}");
        }

        if (concurrent.Length > options.ConcurrentShownMax)
        {
            text.Append($"\n    and {concurrent.Length - options.ConcurrentShownMax} more");
        }

        AppendDeepest(text, byId, failing);
        return text.ToString();
    }

    private static string ExplainInconclusive(string key, (int Id, RegisterOp Op)[] ops, SearchOutcome outcome, long budget)
    {
        var text = new StringBuilder();
        text.Append($"key \"{key}\": undecided after {outcome.Steps} steps (budget {budget}) over {ops.Length} operations; raise {nameof(RegisterCheckOptions)}.{nameof(RegisterCheckOptions.StepBudget)} or check a shorter history.");
        AppendDeepest(text, ops.ToDictionary(o => o.Id, o => o.Op), outcome);
        return text.ToString();
    }

    private static void AppendDeepest(StringBuilder text, Dictionary<int, RegisterOp> byId, SearchOutcome outcome)
    {
        text.Append($"\n  The deepest attempt placed {outcome.Deepest} of {outcome.Completed} operations that had to take effect");
        if (outcome.Tail.Count > 0)
        {
            text.Append($"; its last {outcome.Tail.Count}, with the state each left:");
            foreach (var step in outcome.Tail)
            {
                text.Append($"\n    #{step.Source} {byId[step.Source].Describe()}  => {step.After}");
            }
        }

        if (outcome.Blocked < 0)
        {
            return;
        }

        text.Append($"\n  Then #{outcome.Blocked} {byId[outcome.Blocked].Describe()} was due, on state {outcome.BlockedState}");
        if (!outcome.BlockedFits)
        {
            text.Append(", where it cannot take effect as answered, and nothing left could bring a state where it can.");
        }
        else if (outcome.StillNeeded.Count > 0)
        {
            text.Append($": taking effect there would leave v{outcome.BlockedState.Version} for good, while {outcome.StillNeeded.Count} operation(s) not yet placed still need it:");
            foreach (var id in outcome.StillNeeded.Take(4))
            {
                text.Append($"\n    #{id} {byId[id].Describe()}");
            }
        }
        else
        {
            text.Append(", and every order of what was left failed further on.");
        }
    }
}
