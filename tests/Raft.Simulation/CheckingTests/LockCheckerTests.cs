using Raft.Core;
using Raft.KeyValue;
using Raft.Simulation.Checking;
using Xunit.Abstractions;

namespace Raft.Simulation.CheckingTests;

/// <summary>Locks in leader time: one holder at a time, tokens that only grow, answers the log bears out.</summary>
public sealed class LockCheckerTests(ITestOutputHelper output)
{
    // Accepted.

    [Fact]
    public void A_lock_changes_hands_once_its_lease_expired()
    {
        var checker = Feed(
            LockEvent.Granted("l", "a", token: 1, atMs: 1_000, untilMs: 1_100),
            LockEvent.Refused("l", "b", atMs: 1_050, holder: "a", holderUntilMs: 1_100),
            LockEvent.Granted("l", "b", token: 3, atMs: 1_100, untilMs: 1_200));
        checker.OnAnswer(new LockAnswer(LockEventKind.Granted, "l", "a", 1, 1_100));
        checker.OnAnswer(new LockAnswer(LockEventKind.Granted, "l", "b", 3, 1_200));

        AssertPass(checker);
    }

    [Fact]
    public void A_lock_changes_hands_after_a_release()
    {
        var checker = Feed(
            LockEvent.Granted("l", "a", token: 1, atMs: 1_000, untilMs: 1_100),
            LockEvent.Released("l", "a", token: 1, atMs: 1_050),
            LockEvent.Granted("l", "b", token: 4, atMs: 1_060, untilMs: 1_160));
        checker.OnAnswer(new LockAnswer(LockEventKind.Released, "l", "a", 1, 0));

        AssertPass(checker);
    }

    [Fact]
    public void Renewals_and_a_re_acquire_by_the_holder_keep_the_token_and_extend_the_lease()
    {
        var checker = Feed(
            LockEvent.Granted("l", "a", token: 1, atMs: 1_000, untilMs: 1_100),
            LockEvent.Renewed("l", "a", token: 1, atMs: 1_080, untilMs: 1_180),
            LockEvent.Granted("l", "a", token: 1, atMs: 1_150, untilMs: 1_250),
            LockEvent.Refused("l", "b", atMs: 1_200, holder: "a", holderUntilMs: 1_250),
            LockEvent.Granted("l", "b", token: 5, atMs: 1_250, untilMs: 1_350),
            LockEvent.Granted("other", "a", token: 2, atMs: 1_260, untilMs: 1_300));
        checker.OnAnswer(new LockAnswer(LockEventKind.Renewed, "l", "a", 1, 1_180));
        checker.OnAnswer(new LockAnswer(LockEventKind.Granted, "l", "a", 1, 1_250));

        AssertPass(checker);
    }

    // Rejected.

    [Fact]
    public void Two_holders_overlap()
    {
        var checker = Feed(
            LockEvent.Granted("l", "a", token: 1, atMs: 1_000, untilMs: 1_100),
            LockEvent.Granted("l", "b", token: 2, atMs: 1_050, untilMs: 1_150));

        var result = AssertViolation(checker, "event 1 (granted \"l\" to b token 2 at 1050 until 1150): granted while a holds it with token 1 until 1100");
        Assert.Contains("\"l\": a held it over [1000, 1100) (token 1) and b over [1050, 1150) (token 2): two holders at once", result.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void A_renewal_that_outlives_a_later_grant_overlaps_it()
    {
        // The renewal comes from a, who no longer holds the lock: b's hold began at 1 100.
        var checker = Feed(
            LockEvent.Granted("l", "a", token: 1, atMs: 1_000, untilMs: 1_100),
            LockEvent.Granted("l", "b", token: 2, atMs: 1_100, untilMs: 1_200),
            LockEvent.Renewed("l", "a", token: 1, atMs: 1_150, untilMs: 1_250));

        AssertViolation(checker, "renewed by a, who does not hold it (b holds it with token 2 until 1200)");
    }

    [Fact]
    public void A_token_that_goes_down()
    {
        var checker = Feed(
            LockEvent.Granted("l", "a", token: 5, atMs: 1_000, untilMs: 1_100),
            LockEvent.Granted("l", "b", token: 3, atMs: 1_200, untilMs: 1_300));

        AssertViolation(checker, "token 3 is not above 5, granted before: fencing tokens must only grow");
    }

    [Fact]
    public void A_renewal_that_changes_the_token()
    {
        var checker = Feed(
            LockEvent.Granted("l", "a", token: 5, atMs: 1_000, untilMs: 1_100),
            LockEvent.Renewed("l", "a", token: 6, atMs: 1_050, untilMs: 1_150));

        AssertViolation(checker, "the renewal changed the token from 5: a renewal keeps it");
    }

    [Fact]
    public void Leader_time_that_goes_back()
    {
        var checker = Feed(
            LockEvent.Granted("l", "a", token: 1, atMs: 1_000, untilMs: 1_100),
            LockEvent.Granted("m", "b", token: 2, atMs: 900, untilMs: 1_000));

        AssertViolation(checker, "leader time went back from 1000 (event 0) to 900");
    }

    [Fact]
    public void A_release_by_someone_who_does_not_hold_it_and_a_refusal_of_a_free_lock()
    {
        var checker = Feed(
            LockEvent.Granted("l", "a", token: 1, atMs: 1_000, untilMs: 1_100),
            LockEvent.Released("l", "b", token: 1, atMs: 1_010),
            LockEvent.Refused("l", "b", atMs: 1_200, holder: "a", holderUntilMs: 1_100));

        var result = AssertViolation(checker, "released by b with token 1, but a holds it with token 1 until 1100");
        Assert.Contains("refused, but nobody holds it", result.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void An_answer_no_applied_command_gave()
    {
        var checker = Feed(LockEvent.Granted("l", "a", token: 1, atMs: 1_000, untilMs: 1_100));
        checker.OnAnswer(new LockAnswer(LockEventKind.Granted, "l", "a", 1, 1_500));
        checker.OnAnswer(new LockAnswer(LockEventKind.Released, "l", "a", 1, 0));

        var result = AssertViolation(checker, "a was told it holds \"l\" with token 1 until 1500, but no grant or renewal of that was applied");
        Assert.Contains("a was told it released \"l\" with token 1, but no such release was applied", result.Explanation, StringComparison.Ordinal);
    }

    // The store itself.

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void The_stores_lock_commands_pass_including_lagging_leader_clocks_and_deduplicated_retries(ulong seed)
    {
        var (checker, events, deduplicated) = RunStore(seed);

        output.WriteLine($"{events} lock events, {deduplicated} deduplicated retries");
        Assert.True(events > 300 && deduplicated > 10, "the workload must exercise the locks and the sessions");
        AssertPass(checker);
    }

    // Owners acquire, renew and release two locks with random leases; a leader's clock sometimes lags by up to
    // 300 ms; some commands carry sessions and are retried. Events are fed as StoreFeed makes them.
    private static (LockChecker Checker, int Events, int Deduplicated) RunStore(ulong seed)
    {
        var random = new SeededRandom(seed);
        var store = new KvStore();
        var checker = new LockChecker();
        var sequences = new Dictionary<string, ulong>(StringComparer.Ordinal);
        ulong index = 0;
        long leaderTime = 10_000;
        var events = 0;
        var deduplicated = 0;
        (byte[] Command, KvCommandType Type, string Lock, string Owner)? retry = null;
        for (var i = 0; i < 600; i++)
        {
            leaderTime += random.Next(40);
            var stamp = random.Chance(0.1) ? leaderTime - random.Next(300) : leaderTime;
            (byte[] Command, KvCommandType Type, string Lock, string Owner) next;
            if (retry is { } again && random.Chance(0.5))
            {
                next = again;
                retry = null;
            }
            else
            {
                var type = random.Next(3) switch { 0 => KvCommandType.LockAcquire, 1 => KvCommandType.LockRenew, _ => KvCommandType.LockRelease };
                var (lockName, owner) = ("l" + random.Next(2), "o" + random.Next(3));
                var session = random.Chance(0.3) ? new KvSession(owner, sequences[owner] = sequences.GetValueOrDefault(owner) + 1) : default;
                next = (KvCommandCodec.EncodeLock(type, lockName, owner, 50 + random.Next(150), session), type, lockName, owner);
                retry = session.IsEmpty ? retry : next;
            }

            var (command, what) = (next.Command, (next.Type, next.Lock, next.Owner));
            KvCommandCodec.TryStampTime(command, stamp);
            if (random.Chance(0.2))
            {
                store.Skip(++index);
            }

            var result = store.Apply(++index, command);
            deduplicated += result.Index != index ? 1 : 0;
            if (StoreFeed.ToLockEvent(what.Type, what.Lock, what.Owner, result, index, store.ClockMs) is { } e)
            {
                checker.OnApplied(e);
                events++;
            }

            if (StoreFeed.ToLockAnswer(what.Type, what.Lock, what.Owner, result) is { } answer)
            {
                checker.OnAnswer(answer);
            }
        }

        return (checker, events, deduplicated);
    }

    private static LockChecker Feed(params LockEvent[] events)
    {
        var checker = new LockChecker();
        foreach (var e in events)
        {
            checker.OnApplied(e);
        }

        return checker;
    }

    private static void AssertPass(LockChecker checker)
    {
        var result = checker.Check();
        Assert.True(result.IsPass, result.ToString());
    }

    private CheckResult AssertViolation(LockChecker checker, string expected)
    {
        var result = checker.Check();
        output.WriteLine(result.ToString());
        Assert.Equal(CheckVerdict.Violation, result.Verdict);
        Assert.Contains(expected, result.Explanation, StringComparison.Ordinal);
        return result;
    }
}
