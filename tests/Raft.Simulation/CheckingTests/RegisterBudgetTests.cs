using System.Diagnostics;
using Raft.Simulation.Checking;
using Xunit.Abstractions;

namespace Raft.Simulation.CheckingTests;

/// <summary>The search is bounded: a history it cannot decide within its budget is reported undecided, never passed.</summary>
public sealed class RegisterBudgetTests(ITestOutputHelper output)
{
    [Fact]
    public void A_pathological_history_is_inconclusive_within_the_step_budget_rather_than_hanging()
    {
        var result = Pathological(deletes: 24).Check();

        output.WriteLine(result.ToString());
        Assert.Equal(CheckVerdict.Inconclusive, result.Verdict);
        Assert.Equal(new RegisterCheckOptions().StepBudget, result.Steps);
        Assert.Contains("undecided after", result.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_history_small_enough_is_decided_and_a_tight_budget_makes_any_check_inconclusive()
    {
        var stopwatch = Stopwatch.StartNew();
        var small = Pathological(deletes: 10).Check();
        output.WriteLine($"{small.Verdict} in {small.Steps} steps, {stopwatch.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(CheckVerdict.Violation, small.Verdict);

        var tight = Pathological(deletes: 10).Check(new RegisterCheckOptions { StepBudget = 100 });
        Assert.Equal(CheckVerdict.Inconclusive, tight.Verdict);

        var valid = StoreHistories.Generate(1, new HistoryShape(1, 4, 500, 12, 0.05));
        Assert.Equal(CheckVerdict.Pass, RegisterChecker.Check(valid).Verdict);
        Assert.Equal(CheckVerdict.Inconclusive, RegisterChecker.Check(valid, new RegisterCheckOptions { StepBudget = 10 }).Verdict);
    }

    // Many concurrent deletes, each answered ok with a version no read ever tied to a value, so each must have
    // removed one of the lost puts nobody read, and one lost put too few. The deletes can go in any order and
    // every order fails only at the last, so the search meets every subset of them: 2^deletes nodes.
    private static HistoryBuilder Pathological(int deletes)
    {
        var builder = new HistoryBuilder();
        for (var i = 0; i < deletes - 1; i++)
        {
            builder.PutLost(c: 100 + i, (ulong)(1 + i), at: i);
        }

        for (var i = 0; i < deletes; i++)
        {
            builder.Delete(c: i, 1_000 + i, 2_000 + i, removed: (ulong)(500 + i));
        }

        return builder;
    }
}
