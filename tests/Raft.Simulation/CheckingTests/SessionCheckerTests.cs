using System.Buffers.Binary;
using Raft.Core;
using Raft.KeyValue;
using Raft.Simulation.Checking;
using Xunit.Abstractions;

namespace Raft.Simulation.CheckingTests;

/// <summary>Exactly-once sessions: a retry answers what the first attempt did, and nothing is applied twice.</summary>
public sealed class SessionCheckerTests(ITestOutputHelper output)
{
    private static SessionAnswer PutAt10 => new(SessionAnswerStatus.Ok, Index: 10, Version: 10);

    [Fact]
    public void Retries_answered_as_the_first_attempt_and_values_at_one_version_pass()
    {
        var checker = new SessionChecker();
        checker.OnApplied(replica: 1, "k", value: 5, version: 10);
        checker.OnAnswer("a", 1, "k", 5, PutAt10);
        checker.OnApplied(replica: 2, "k", value: 5, version: 10);
        checker.OnAnswer("a", 1, "k", 5, PutAt10);

        // A replica restored from a snapshot holds the value at the same version again.
        checker.OnApplied(replica: 2, "k", value: 5, version: 10);
        checker.OnApplied(replica: 1, "k", value: 0, version: 0);

        Assert.True(checker.Check().IsPass, checker.Check().ToString());
    }

    [Fact]
    public void Two_answers_for_one_sequence_naming_different_indexes_mean_it_was_applied_twice()
    {
        var checker = new SessionChecker();
        checker.OnAnswer("a", 7, "k", 5, PutAt10);
        checker.OnAnswer("a", 7, "k", 5, new SessionAnswer(SessionAnswerStatus.Ok, Index: 14, Version: 14));

        AssertViolation(checker.Check(), "client a sequence 7 on key \"k\": answered Ok index 10 version 10, then Ok index 14 version 14: applied twice, at index 10 and at index 14");
    }

    [Fact]
    public void A_value_seen_at_two_versions_on_a_replica_was_applied_twice()
    {
        var checker = new SessionChecker();
        checker.OnApplied(replica: 3, "k", value: 5, version: 10);
        checker.OnApplied(replica: 3, "k", value: 6, version: 11);
        checker.OnApplied(replica: 3, "k", value: 5, version: 12);

        AssertViolation(checker.Check(), "replica 3 held value 5 of key \"k\" at v10 and later at v12: its write was applied twice");
    }

    [Fact]
    public void A_value_at_different_versions_on_two_replicas()
    {
        var checker = new SessionChecker();
        checker.OnApplied(replica: 1, "k", value: 5, version: 10);
        checker.OnApplied(replica: 2, "k", value: 5, version: 11);

        AssertViolation(checker.Check(), "value 5 of key \"k\" is at v10 on replica 1 but at v11 on replica 2");
    }

    [Fact]
    public void A_retry_answering_differently_from_the_first_attempt()
    {
        var checker = new SessionChecker();
        checker.OnAnswer("a", 3, "k", 0, new SessionAnswer(SessionAnswerStatus.Ok, Index: 20, Version: 12));
        checker.OnAnswer("a", 3, "k", 0, new SessionAnswer(SessionAnswerStatus.NotFound, Index: 20, Version: 0));

        AssertViolation(checker.Check(), "a retry must answer what the first attempt answered");
    }

    [Fact]
    public void A_client_told_one_version_for_a_value_the_replicas_hold_at_another()
    {
        var checker = new SessionChecker();
        checker.OnApplied(replica: 1, "k", value: 5, version: 11);
        checker.OnAnswer("a", 1, "k", 5, PutAt10);

        AssertViolation(checker.Check(), "told its value 5 is at v10, but replica 1 holds it at v11");
    }

    [Fact]
    public void A_refused_acquire_is_retried_afresh_and_may_be_granted_after()
    {
        var checker = new SessionChecker();
        checker.OnAnswer("w", 1, "lock", 0, new SessionAnswer(SessionAnswerStatus.LockHeld, Index: 4, Version: 0, ExpiresAtMs: 1_100));
        checker.OnAnswer("w", 1, "lock", 0, new SessionAnswer(SessionAnswerStatus.LockHeld, Index: 6, Version: 0, ExpiresAtMs: 1_200));
        var granted = new SessionAnswer(SessionAnswerStatus.Ok, Index: 9, Version: 0, FencingToken: 9, ExpiresAtMs: 1_300);
        checker.OnAnswer("w", 1, "lock", 0, granted);
        checker.OnAnswer("w", 1, "lock", 0, granted);

        Assert.True(checker.Check().IsPass, checker.Check().ToString());
    }

    [Fact]
    public void Reusing_a_sequence_for_a_different_write_is_refused_loudly()
    {
        var checker = new SessionChecker();
        checker.OnAnswer("a", 1, "k", 5, PutAt10);

        Assert.Throws<ArgumentException>(() => checker.OnAnswer("a", 1, "k", 6, PutAt10));
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void The_store_applies_retried_session_writes_once(ulong seed)
    {
        var result = RunStore(seed, new KvStoreOptions());

        Assert.True(result.IsPass, result.ToString());
    }

    [Fact]
    public void A_store_that_forgets_sessions_applies_retries_twice_and_is_caught()
    {
        // One session slot for three clients: a retry after another client's write finds its session evicted.
        var result = RunStore(1, new KvStoreOptions { SessionsMax = 1 });

        AssertViolation(result, "applied twice");
    }

    // Three replicas apply one log in which every session write appears one to three times (its retries, before
    // the client's next write); clients hear some attempts' answers, from any replica, always the last one's.
    private static CheckResult RunStore(ulong seed, KvStoreOptions options)
    {
        var random = new SeededRandom(seed);
        string[] clients = ["a", "b", "c"];
        var queues = clients.ToDictionary(c => c, _ => new Queue<(byte[] Command, ulong Sequence, string Key, ulong Value, bool Heard)>());
        ulong value = 0;
        foreach (var client in clients)
        {
            for (var sequence = 1UL; sequence <= 60; sequence++)
            {
                var key = "k" + random.Next(3);
                var put = random.Chance(0.7);
                var written = put ? ++value : 0;
                var bytes = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, written);
                var session = new KvSession(client, sequence);
                var command = put ? KvCommandCodec.EncodePut(key, bytes, null, session) : KvCommandCodec.EncodeDelete(key, null, session);
                var attempts = 1 + random.Next(3);
                for (var attempt = 1; attempt <= attempts; attempt++)
                {
                    queues[client].Enqueue((command, sequence, key, written, attempt == attempts || random.Chance(0.5)));
                }
            }
        }

        var replicas = Enumerable.Range(0, 3).Select(_ => new KvStore(options)).ToArray();
        var checker = new SessionChecker();
        ulong index = 0;
        long time = 1_000;
        while (queues.Values.Any(q => q.Count > 0))
        {
            var client = clients.Where(c => queues[c].Count > 0).ElementAt(random.Next(clients.Count(c => queues[c].Count > 0)));
            var (command, sequence, key, written, heard) = queues[client].Dequeue();
            KvCommandCodec.TryStampTime(command, time += 10);
            index++;
            var answerFrom = random.Next(replicas.Length);
            for (var r = 0; r < replicas.Length; r++)
            {
                var result = replicas[r].Apply(index, command);
                var (now, version) = replicas[r].TryGet(key, out var current) ? (BinaryPrimitives.ReadUInt64LittleEndian(current.Value), current.Version) : (0UL, 0UL);
                checker.OnApplied(r, key, now, version);
                if (heard && r == answerFrom)
                {
                    checker.OnAnswer(client, sequence, key, written, StoreFeed.ToSessionAnswer(result));
                }
            }
        }

        return checker.Check();
    }

    private void AssertViolation(CheckResult result, string expected)
    {
        output.WriteLine(result.ToString());
        Assert.Equal(CheckVerdict.Violation, result.Verdict);
        Assert.Contains(expected, result.Explanation, StringComparison.Ordinal);
    }
}
