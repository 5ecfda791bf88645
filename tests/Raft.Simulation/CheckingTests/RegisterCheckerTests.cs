using Raft.Simulation.Checking;
using Xunit.Abstractions;

namespace Raft.Simulation.CheckingTests;

/// <summary>
/// Linearizability of one register with versions and compare-and-set, on small hand-made histories. Positions are
/// the global event order; <c>[a, b]</c> in a comment is an operation invoked at a and answered at b.
/// </summary>
public sealed class RegisterCheckerTests(ITestOutputHelper output)
{
    // Rejected.

    [Fact]
    public void Stale_read_a_get_after_an_acknowledged_put_returns_the_older_value()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .Put(c: 1, 2, 2, 3, v: 11)
            .Get(c: 2, 4, 5, 1, v: 10)
            .Check();

        AssertViolation(result, "#2 c2 get -> ok 1 v10");
    }

    [Fact]
    public void Lost_write_an_acknowledged_put_never_seen_while_later_reads_see_the_older_value()
    {
        // Put(2) is acknowledged, yet every read after it, concurrent with other work or not, sees 1.
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .Put(c: 2, 2, 2, 5, v: 11)
            .Get(c: 3, 3, 4, 1, v: 10)
            .Get(c: 1, 6, 7, 1, v: 10)
            .Get(c: 3, 8, 9, 1, v: 10)
            .Check();

        // The first impossible answer is the read at [6, 7]: the one at [3, 4] ran before the put had answered.
        AssertViolation(result, "#3 c1 get -> ok 1 v10 [6, 7]");
    }

    [Fact]
    public void A_read_of_a_failed_writes_value()
    {
        var result = new HistoryBuilder()
            .PutFailed(c: 1, 7, 0, 1)
            .Get(c: 2, 2, 3, 7, v: 5)
            .Check();

        AssertViolation(result, "failed: it was definitely not applied");
    }

    [Fact]
    public void A_read_of_a_value_nobody_wrote()
    {
        AssertViolation(new HistoryBuilder().Get(c: 1, 0, 1, 9, v: 3).Check(), "no operation wrote");
    }

    [Fact]
    public void Reads_that_go_back_in_time_during_a_slow_write()
    {
        // While Put(2) [2, 10] is in flight, one read sees it and a later read sees the value it replaced.
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .Put(c: 2, 2, 2, 10, v: 11)
            .Get(c: 3, 3, 4, 2, v: 11)
            .Get(c: 3, 5, 6, 1, v: 10)
            .Check();

        AssertViolation(result, "#3 c3 get -> ok 1 v10");
    }

    [Fact]
    public void A_read_that_finds_nothing_after_an_acknowledged_put()
    {
        AssertViolation(new HistoryBuilder().Put(c: 1, 1, 0, 1, v: 10).GetNotFound(c: 2, 2, 3).Check(), "#1 c2 get -> not-found");
    }

    [Fact]
    public void A_compare_and_set_that_succeeds_against_an_overwritten_version()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .Put(c: 2, 2, 2, 3, v: 11)
            .PutIf(c: 1, expected: 10, 3, 4, 5, v: 12)
            .Check();

        AssertViolation(result, "#2 c1 put-if-version(3, expect v10)");
    }

    [Fact]
    public void Two_concurrent_compare_and_sets_on_one_version_both_succeed()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutIf(c: 2, expected: 10, 2, 2, 5, v: 11)
            .PutIf(c: 3, expected: 10, 3, 3, 6, v: 12)
            .Check();

        AssertViolation(result, "not linearizable");
    }

    [Fact]
    public void A_failed_precondition_that_reports_a_version_the_key_never_had()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutIfRefused(c: 2, expected: 5, 2, 2, 3, current: 9)
            .Check();

        AssertViolation(result, "precondition-failed (current v9)");
    }

    [Fact]
    public void A_read_of_a_deleted_value()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .Delete(c: 1, 2, 3, removed: 10)
            .Get(c: 2, 4, 5, 1, v: 10)
            .Check();

        AssertViolation(result, "#2 c2 get -> ok 1 v10");
    }

    [Fact]
    public void A_value_seen_at_two_versions()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .Get(c: 2, 2, 3, 1, v: 12)
            .Check();

        AssertViolation(result, "value 1 is seen at v10");
    }

    [Fact]
    public void A_write_invoked_after_a_larger_version_was_seen_on_another_key()
    {
        // Versions are log indexes: a write proposed after index 10 committed lands above 10, whatever its key.
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10, on: "a")
            .Put(c: 2, 2, 2, 3, v: 5, on: "b")
            .Check();

        AssertViolation(result, "#1 c2 put(2) -> ok v5 [2, 3] on \"b\" took v5");
    }

    [Fact]
    public void A_lost_write_read_before_it_was_invoked()
    {
        var result = new HistoryBuilder()
            .Get(c: 1, 0, 1, 5, v: 3)
            .PutLost(c: 2, 5, at: 2)
            .Check();

        AssertViolation(result, "before #1 c2 put(5) -> unknown");
    }

    [Fact]
    public void An_unobserved_lost_write_cannot_explain_a_version_the_client_expects()
    {
        // The lost put's version nobody observed, so a compare-and-set expecting v14 cannot have met it.
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutLost(c: 1, 2, at: 2)
            .PutIf(c: 2, expected: 14, 3, 5, 6, v: 15)
            .Check();

        AssertViolation(result, "not linearizable");
    }

    // Accepted.

    [Theory]
    [InlineData(1UL, 10UL)]
    [InlineData(2UL, 11UL)]
    public void A_read_concurrent_with_a_put_may_see_either_value(ulong value, ulong version)
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .Put(c: 2, 2, 2, 6, v: 11)
            .Get(c: 3, 3, 4, value, version)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void Concurrent_puts_take_effect_in_version_order_not_invocation_order()
    {
        // Put(2) was invoked first but got the larger version; reads agree with the versions.
        var result = new HistoryBuilder()
            .Put(c: 1, 2, 0, 5, v: 21)
            .Put(c: 2, 3, 1, 4, v: 20)
            .Get(c: 3, 2, 3, 3, v: 20)
            .Get(c: 3, 6, 7, 2, v: 21)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void A_lost_put_that_took_effect_late_after_other_writes_completed()
    {
        // Put(5) lost its answer at once; it was applied after Put(6), as the read at [5, 6] shows.
        var result = new HistoryBuilder()
            .PutLost(c: 1, 5, at: 0)
            .Put(c: 2, 6, 1, 2, v: 11)
            .Get(c: 3, 3, 4, 6, v: 11)
            .Get(c: 3, 5, 6, 5, v: 12)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void A_lost_put_that_never_took_effect()
    {
        var result = new HistoryBuilder()
            .PutLost(c: 1, 5, at: 0)
            .Put(c: 2, 6, 1, 2, v: 11)
            .Get(c: 3, 3, 4, 6, v: 11)
            .Get(c: 3, 100, 101, 6, v: 11)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void A_failed_put_whose_value_nobody_reads()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutFailed(c: 2, 2, 2, 3)
            .Get(c: 3, 4, 5, 1, v: 10)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void Compare_and_set_successes_and_failures()
    {
        var result = new HistoryBuilder()
            .PutIf(c: 1, expected: 0, 1, 0, 1, v: 10)
            .PutIfRefused(c: 2, expected: 0, 9, 2, 3, current: 10)
            .PutIf(c: 1, expected: 10, 2, 4, 5, v: 11)
            .PutIfRefused(c: 2, expected: 10, 8, 6, 7, current: 11)
            .DeleteIfRefused(c: 2, expected: 10, 8, 9, current: 11)
            .DeleteIf(c: 1, expected: 11, 10, 11, removed: 11)
            .PutIfRefused(c: 2, expected: 11, 7, 12, 13, current: 0)
            .DeleteIfNotFound(c: 2, 14, 15)
            .PutIf(c: 1, expected: 0, 3, 16, 17, v: 15)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void Concurrent_compare_and_sets_on_one_version_one_wins_and_the_other_sees_it()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutIf(c: 2, expected: 10, 2, 2, 5, v: 11)
            .PutIfRefused(c: 3, expected: 10, 3, 3, 6, current: 11)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void Deletes_and_reads_of_an_absent_key()
    {
        var result = new HistoryBuilder()
            .DeleteNotFound(c: 1, 0, 1)
            .GetNotFound(c: 2, 2, 3)
            .Put(c: 1, 1, 4, 5, v: 10)
            .Delete(c: 2, 6, 7, removed: 10)
            .GetNotFound(c: 1, 8, 9)
            .DeleteNotFound(c: 2, 10, 11)
            .Put(c: 1, 2, 12, 13, v: 14)
            .Get(c: 2, 14, 15, 2, v: 14)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void A_lost_delete_that_took_effect_between_two_reads()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .DeleteLost(c: 1, at: 2)
            .Get(c: 2, 3, 4, 1, v: 10)
            .GetNotFound(c: 2, 5, 6)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void A_version_learned_from_a_read_of_a_lost_put()
    {
        // Nobody heard back from Put(5), but a read returned it at v7, and a compare-and-set used that.
        var result = new HistoryBuilder()
            .PutLost(c: 1, 5, at: 0)
            .Get(c: 2, 1, 2, 5, v: 7)
            .PutIf(c: 2, expected: 7, 6, 3, 4, v: 8)
            .Get(c: 1, 5, 6, 6, v: 8)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void A_lost_compare_and_set_read_later()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutIfLost(c: 2, expected: 10, 2, at: 2)
            .Get(c: 3, 3, 4, 1, v: 10)
            .Get(c: 3, 5, 6, 2, v: 12)
            .Check();

        AssertPass(result);
    }

    [Fact]
    public void An_unobserved_lost_put_explains_a_version_no_read_ever_saw()
    {
        // The lost Put(2) took v14 and nobody read it; the failed precondition and the delete saw v14.
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutLost(c: 1, 2, at: 2)
            .PutIfRefused(c: 2, expected: 0, 3, 5, 6, current: 14)
            .Delete(c: 2, 7, 8, removed: 14)
            .GetNotFound(c: 3, 9, 10)
            .Check();

        AssertPass(result);

        // Without the lost put, v14 names no write.
        var without = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutIfRefused(c: 2, expected: 0, 3, 5, 6, current: 14)
            .Check();
        AssertViolation(without, "current v14");
    }

    [Fact]
    public void An_unobserved_lost_put_once_its_version_is_reported_keeps_it()
    {
        // The failed precondition fixes the lost Put(2) at v14: Put(3), concurrent, took v12, so it came before
        // Put(2), and the read after both cannot see it.
        var below = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutLost(c: 1, 2, at: 2)
            .PutIfRefused(c: 2, expected: 0, 9, 3, 6, current: 14)
            .Put(c: 3, 3, 4, 8, v: 12)
            .Get(c: 2, 9, 10, 3, v: 12)
            .Check();
        AssertViolation(below, "not linearizable");

        var above = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutLost(c: 1, 2, at: 2)
            .PutIfRefused(c: 2, expected: 0, 9, 3, 6, current: 14)
            .Put(c: 3, 3, 4, 8, v: 15)
            .Get(c: 2, 9, 10, 3, v: 15)
            .Check();
        AssertPass(above);

        // One unobserved write cannot be at two versions; two can.
        var one = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutLost(c: 1, 2, at: 2)
            .PutIfRefused(c: 2, expected: 0, 9, 3, 4, current: 14)
            .PutIfRefused(c: 2, expected: 0, 8, 5, 6, current: 15)
            .Check();
        AssertViolation(one, "not linearizable");
        var two = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .PutLost(c: 1, 2, at: 2)
            .PutLost(c: 3, 3, at: 2)
            .PutIfRefused(c: 2, expected: 0, 9, 3, 4, current: 14)
            .PutIfRefused(c: 2, expected: 0, 8, 5, 6, current: 15)
            .Check();
        AssertPass(two);
    }

    [Fact]
    public void Keys_are_independent()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10, on: "a")
            .Put(c: 2, 2, 2, 3, v: 11, on: "b")
            .Get(c: 3, 4, 5, 1, v: 10, on: "a")
            .Get(c: 3, 6, 7, 2, v: 11, on: "b")
            .Check();

        AssertPass(result);
        Assert.Equal(["a", "b"], result.Keys.Select(k => k.Key));
    }

    // Explanations.

    [Fact]
    public void A_violation_names_the_key_the_first_impossible_answer_and_what_ran_beside_it()
    {
        var builder = new HistoryBuilder("user/7");
        long t = 0;
        ulong version = 1;
        for (var i = 1UL; i <= 50; i++, t += 4)
        {
            builder.Put(c: 1, i, t, t + 1, v: version++);
            builder.Get(c: 2, t + 2, t + 3, i, v: version - 1);
        }

        // Put(51) with a concurrent read and a lost put, then a read of value 50 after Put(51) answered.
        builder.Put(c: 1, 51, t, t + 3, v: version);
        builder.PutLost(c: 4, 1_000, at: t + 1);
        builder.Get(c: 2, t + 2, t + 4, 50, v: version - 1);
        builder.Get(c: 3, t + 5, t + 6, 50, v: version - 1);

        var result = builder.Check();

        AssertViolation(result, "key \"user/7\": not linearizable");
        Assert.Contains("The shortest failing prefix ends with the answer of #103 c3 get -> ok 50 v50", result.Explanation, StringComparison.Ordinal);
        Assert.Contains("Concurrent with it: 0 answered, 1 lost (latest first):\n    #101 c4 put(1000) -> unknown [201, never answered]", result.Explanation, StringComparison.Ordinal);
        Assert.Contains("#100 c1 put(51) -> ok v51", result.Explanation, StringComparison.Ordinal);

        var concurrent = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .Put(c: 2, 2, 2, 9, v: 11)
            .Get(c: 3, 3, 4, 2, v: 11)
            .PutLost(c: 4, 3, at: 5)
            .PutFailed(c: 5, 4, 5, 6)
            .Get(c: 3, 6, 7, 1, v: 10)
            .Check();
        AssertViolation(concurrent, "Concurrent with it: 1 answered, 1 lost (latest first):");
        Assert.Contains("#1 c2 put(2) -> ok v11 [2, 9]", concurrent.Explanation, StringComparison.Ordinal);
        Assert.Contains("#3 c4 put(3) -> unknown [5, never answered]", concurrent.Explanation, StringComparison.Ordinal);
        Assert.DoesNotContain("put(4)", concurrent.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_prefix_search_a_violation_names_the_operation_the_search_could_not_place()
    {
        var result = new HistoryBuilder()
            .Put(c: 1, 1, 0, 1, v: 10)
            .Put(c: 1, 2, 2, 3, v: 11)
            .Get(c: 2, 4, 5, 1, v: 10)
            .Check(new RegisterCheckOptions { FindShortestFailingPrefix = false });

        AssertViolation(result, "No order of the operations lets #1 c1 put(2) -> ok v11 [2, 3] take effect by its answer.");
        Assert.Contains("would leave v10 for good, while 1 operation(s) not yet placed still need it:\n    #2 c2 get -> ok 1 v10 [4, 5]", result.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_histories_are_refused_loudly()
    {
        Assert.Throws<ArgumentException>(() => new HistoryBuilder().Put(c: 1, 1, 0, 1, v: 10).Put(c: 2, 1, 2, 3, v: 11).Check());
        Assert.Throws<ArgumentException>(() => new HistoryBuilder().Put(c: 1, 0, 0, 1, v: 10).Check());
        Assert.Throws<ArgumentException>(() => new HistoryBuilder().Put(c: 1, 1, 5, 4, v: 10).Check());
        Assert.Throws<ArgumentException>(() => new HistoryBuilder().Get(c: 1, 0, 1, 1, v: 0).Check());
    }

    [Fact]
    public void The_recorder_turns_invocations_and_answers_into_operations()
    {
        var history = new RegisterHistory();
        var put = history.Invoke(client: 1, "k", RegisterOpKind.Put, at: 1, value: 5);
        var get = history.Invoke(client: 2, "k", RegisterOpKind.Get, at: 2);
        var lost = history.Invoke(client: 3, "k", RegisterOpKind.Delete, at: 3);
        history.Complete(put, RegisterOutcome.Ok, at: 4, version: 9);
        history.Complete(get, RegisterOutcome.Ok, at: 5, version: 9, value: 5);

        Assert.Equal(RegisterOutcome.Unknown, history.Operations[lost].Outcome);
        Assert.Equal("c2 get -> ok 5 v9 [2, 5]", history.Operations[get].Describe());
        Assert.Throws<InvalidOperationException>(() => history.Complete(put, RegisterOutcome.Ok, at: 6, version: 9));
        Assert.Equal(CheckVerdict.Pass, RegisterChecker.Check(history.Operations).Verdict);
    }

    private void AssertViolation(RegisterCheckResult result, string expected)
    {
        output.WriteLine(result.ToString());
        Assert.Equal(CheckVerdict.Violation, result.Verdict);
        Assert.Contains(expected, result.Explanation, StringComparison.Ordinal);
    }

    private static void AssertPass(RegisterCheckResult result)
    {
        Assert.True(result.Verdict == CheckVerdict.Pass, result.ToString());
    }
}
