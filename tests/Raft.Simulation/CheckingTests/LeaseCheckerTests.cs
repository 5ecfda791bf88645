using Raft.Core;
using Raft.KeyValue;
using Raft.Simulation.Checking;
using Xunit.Abstractions;

namespace Raft.Simulation.CheckingTests;

/// <summary>
/// Leases and their keys: an end deletes exactly the lease's keys, the same on every replica; an expiry never comes
/// before its holder may stop counting on the lease, less the clock skew the leaders may have; an unkept lease ends in
/// time. Times are ms: the store's in leader time, the rest in true time.
/// </summary>
public sealed class LeaseCheckerTests(ITestOutputHelper output)
{
    // Accepted.

    [Fact]
    public void A_lease_kept_alive_then_left_expires_after_its_holders_belief_and_every_replica_deletes_its_keys()
    {
        var checker = new LeaseChecker(skewSpreadMs: 0);
        checker.OnGranted(lease: 10, ttlMs: 300, expiresAtMs: 1_300, atMs: 1_000);
        checker.OnBelieved(10, untilMs: 1_300);
        checker.OnKeyWritten(11, "a", lease: 10);
        checker.OnKeyWritten(12, "b", lease: 10);
        checker.OnKeptAlive(10, expiresAtMs: 1_400, atMs: 1_100);
        checker.OnBelieved(10, untilMs: 1_400);
        checker.OnEnded(20, LeaseEndKind.Expired, [10], ["b", "a"], atMs: 1_400);
        checker.OnReplicaEnded(replica: 2, 20, ["a", "b"]);

        AssertPass(checker);
        Assert.Equal((1, 1, 2, 1), (checker.Granted, checker.Expired, checker.KeysDeleted, checker.ReplicaEnds));
    }

    [Fact]
    public void An_expiry_within_the_skew_allowance_of_the_belief_passes_and_is_counted()
    {
        var checker = new LeaseChecker(skewSpreadMs: 100);
        checker.OnGranted(10, 300, 1_300, 1_000);
        checker.OnBelieved(10, 1_300);
        checker.OnEnded(20, LeaseEndKind.Expired, [10], [], atMs: 1_220);

        AssertPass(checker);
        Assert.Equal(1, checker.WithinSkew);
    }

    [Fact]
    public void A_revoke_ends_a_lease_whenever_its_holder_asks_and_a_key_moved_to_another_lease_stays()
    {
        var checker = new LeaseChecker(0);
        checker.OnGranted(10, 300, 1_300, 1_000);
        checker.OnGranted(11, 300, 1_310, 1_010);
        checker.OnBelieved(10, 1_300);
        checker.OnKeyWritten(12, "a", 10);
        checker.OnKeyWritten(13, "a", 11);
        checker.OnKeyWritten(14, "b", 10);
        checker.OnEnded(15, LeaseEndKind.Revoked, [10], ["b"], atMs: 1_050);

        AssertPass(checker);
        Assert.Equal(["a"], checker.BoundKeys);
    }

    [Fact]
    public void A_lease_nobody_keeps_alive_may_live_until_its_deadline_after_the_cluster_healed()
    {
        var checker = new LeaseChecker(skewSpreadMs: 50);
        checker.OnGranted(10, ttlMs: 300, 1_300, atMs: 1_000);
        checker.OnExtended(10, expiresAtMs: 1_500);

        // Healed at 2 000: 2 000 + 300 (ttl) + 50 (skew) + 200 (extended) + 100 (allowance).
        checker.CheckEnded(nowMs: 2_650, healedAtMs: 2_000, allowanceMs: 100);
        checker.OnEnded(30, LeaseEndKind.Expired, [10], [], atMs: 2_650);

        AssertPass(checker);
    }

    // Rejected.

    [Fact]
    public void An_expiry_before_the_holder_may_stop_believing_in_its_lease()
    {
        var checker = new LeaseChecker(skewSpreadMs: 40);
        checker.OnGranted(10, 300, 1_300, 1_000);
        checker.OnBelieved(10, 1_300);
        checker.OnKeyWritten(11, "a", 10);
        checker.OnEnded(20, LeaseEndKind.Expired, [10], ["a"], atMs: 1_200);

        AssertViolation(checker, "lease 10 expired at index 20, applied at 1200, 60 ms before its holder could stop believing it live (until 1300, less 40 ms of clock skew)");
    }

    [Fact]
    public void A_keep_alive_answered_after_the_expiry_that_it_should_have_prevented()
    {
        // The keep-alive applied before the expiry; its answer reached the holder after it.
        var checker = new LeaseChecker(0);
        checker.OnGranted(10, 300, 1_300, 1_000);
        checker.OnBelieved(10, 1_300);
        checker.OnEnded(20, LeaseEndKind.Expired, [10], [], atMs: 1_300);
        checker.OnBelieved(10, 1_500);

        AssertViolation(checker, "lease 10 expired at index 20, applied at 1300, 200 ms before its holder could stop believing it live (until 1500");
    }

    [Fact]
    public void A_keep_alive_refused_while_the_holder_could_still_believe_its_lease_live()
    {
        var checker = new LeaseChecker(0);
        checker.OnGranted(10, 300, 1_300, 1_000);
        checker.OnBelieved(10, 1_300);
        checker.OnKeepAliveRefused(15, 10, atMs: 1_250);

        AssertViolation(checker, "lease 10: a keep-alive at index 15, applied at 1250, found it run out 50 ms before its holder could stop believing it live");
    }

    [Fact]
    public void An_end_that_deletes_other_keys_than_those_bound_to_the_lease()
    {
        var checker = new LeaseChecker(0);
        checker.OnGranted(10, 300, 1_300, 1_000);
        checker.OnKeyWritten(11, "a", 10);
        checker.OnKeyWritten(12, "b", 10);
        checker.OnEnded(20, LeaseEndKind.Revoked, [10], ["a", "c"], atMs: 1_100);

        AssertViolation(checker, "index 20 (Revoked of lease 10) deleted [a, c], but the keys bound were [a, b]");
    }

    [Fact]
    public void A_replica_that_deletes_other_keys_at_an_end()
    {
        var checker = new LeaseChecker(0);
        checker.OnGranted(10, 300, 1_300, 1_000);
        checker.OnKeyWritten(11, "a", 10);
        checker.OnEnded(20, LeaseEndKind.Revoked, [10], ["a"], atMs: 1_100);
        checker.OnReplicaEnded(3, 20, []);
        checker.OnReplicaEnded(2, 21, []);

        var result = AssertViolation(checker, "replica 3 deleted [] at index 20, where the first replica deleted [a]");
        Assert.Contains("replica 2 ended a lease at index 21, where the first replica to apply it ended none", result.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_of_a_live_lease_deleted_without_the_lease_ending_and_a_key_bound_to_an_ended_lease()
    {
        var checker = new LeaseChecker(0);
        checker.OnGranted(10, 300, 1_300, 1_000);
        checker.OnKeyWritten(11, "a", 10);
        checker.OnKeyDeleted(12, "a");
        checker.OnEnded(13, LeaseEndKind.Revoked, [10], [], atMs: 1_100);
        checker.OnKeyWritten(14, "b", 10);

        var result = AssertViolation(checker, "index 12 deleted \"a\", bound to live lease 10, without ending the lease");
        Assert.Contains("index 14 bound \"b\" to lease 10, which is ended at index 13", result.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void A_lease_still_live_past_its_deadline_after_the_cluster_healed()
    {
        var checker = new LeaseChecker(skewSpreadMs: 50);
        checker.OnGranted(10, ttlMs: 300, 1_300, atMs: 1_000);
        checker.OnKeyWritten(11, "a", 10);
        checker.CheckEnded(nowMs: 2_451, healedAtMs: 2_000, allowanceMs: 100);

        AssertViolation(checker, "lease 10 (ttl 300 ms, end 1300, bound keys [a]) still lives 451 ms after nobody kept it alive and the cluster healed, past its deadline by 1 ms");
    }

    [Fact]
    public void A_take_over_that_moves_an_end_back()
    {
        var checker = new LeaseChecker(0);
        checker.OnGranted(10, 300, 1_300, 1_000);
        checker.OnExtended(10, 1_200);

        AssertViolation(checker, "lease 10: a take-over moved its end back from 1300 to 1200");
    }

    // The store itself, its leader's duty and holders who keep alive every third of the time to live.

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void The_stores_leases_pass_with_leader_clocks_skewed_within_the_spread(ulong seed)
    {
        var (checker, ends) = DriveStore(seed, skewMs: 60, allowedSpreadMs: 120, stepAfterMs: 0);

        AssertPass(checker);
        Assert.True(ends > 20, $"only {ends} leases ended");
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void The_stores_leases_fail_when_a_leaders_clock_steps_beyond_the_spread(ulong seed)
    {
        // Halfway, the leader's clock jumps 400 ms ahead while the checker still allows for 120 ms of spread.
        var (checker, _) = DriveStore(seed, skewMs: 60, allowedSpreadMs: 120, stepAfterMs: 20_000);

        AssertViolation(checker, "before its holder could stop believing it live");
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void The_stores_leases_end_before_a_belief_not_corrected_for_the_skew_when_leader_clocks_differ(ulong seed)
    {
        // A lease kept alive through a leader whose clock is behind, then ended by one whose clock is ahead.
        var (checker, _) = DriveStore(seed, skewMs: 60, allowedSpreadMs: 0, stepAfterMs: 0);

        AssertViolation(checker, "less 0 ms of clock skew");
    }

    // Two holders against one store through 40 s of true time: leaders change every few hundred ms, each with its own
    // clock skew in [-skew, skew]; every command is stamped as the driver stamps it (its wall clock, never below the
    // store's); the leader's duty ends leases whose time ran out by its clock. Holders keep alive every third of the
    // time to live, or stop now and then. After stepAfterMs (0: never), a leader's clock runs 400 ms further ahead.
    private static (LeaseChecker Checker, int Ends) DriveStore(ulong seed, long skewMs, long allowedSpreadMs, long stepAfterMs)
    {
        var random = new SeededRandom(seed);
        var deleted = new List<string>();
        var store = new KvStore(new KvStoreOptions
        {
            KeyChanged = (in KvChange change) =>
            {
                if (change.Value is null)
                {
                    deleted.Add(change.Key.ToString());
                }
            },
        });
        store.Apply(1, KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Leases));
        var checker = new LeaseChecker(allowedSpreadMs);
        var holders = new (ulong Lease, long TtlMs, long NextMs, long BelievedUntilMs)[2];
        var leaderSkew = 0L;
        var ends = 0;
        for (long now = 1_000_000; now < 1_040_000; now += 1 + random.Next(10))
        {
            if (random.Chance(0.02))
            {
                leaderSkew = random.Next(-(int)skewMs, (int)skewMs + 1) + (stepAfterMs != 0 && now > 1_000_000 + stepAfterMs && random.Chance(0.5) ? 400 : 0);
            }

            var stamp = Math.Max(now + leaderSkew, store.ClockMs);
            KvApplyResult Apply(byte[] command)
            {
                KvCommandCodec.TryStampTime(command, stamp);
                deleted.Clear();
                return store.Apply(store.AppliedIndex + 1, command);
            }

            for (var h = 0; h < holders.Length; h++)
            {
                ref var holder = ref holders[h];
                if (now < holder.NextMs)
                {
                    continue;
                }

                if (holder.Lease == 0 || random.Chance(0.1))
                {
                    holder.TtlMs = 50 + random.Next(300);
                    var granted = Apply(KvCommandCodec.EncodeLeaseGrant(holder.TtlMs, default));
                    checker.OnGranted(granted.Lease, granted.TtlMs, granted.ExpiresAtMs, now);
                    holder.Lease = granted.Lease;
                    holder.BelievedUntilMs = now + holder.TtlMs;
                    checker.OnBelieved(holder.Lease, holder.BelievedUntilMs);
                    var key = $"h{h}/{random.Next(3)}";
                    if (Apply(KvCommandCodec.EncodePut(key, [1], null, default, holder.Lease)).Status == KvApplyStatus.Ok)
                    {
                        checker.OnKeyWritten(store.AppliedIndex, key, holder.Lease);
                    }
                }
                else
                {
                    var kept = Apply(KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, holder.Lease, default));
                    if (kept.Status == KvApplyStatus.Ok)
                    {
                        checker.OnKeptAlive(holder.Lease, kept.ExpiresAtMs, now);
                        holder.BelievedUntilMs = now + holder.TtlMs;
                        checker.OnBelieved(holder.Lease, holder.BelievedUntilMs);
                    }
                    else
                    {
                        if (checker.ExpiresAtMs(holder.Lease) is not null)
                        {
                            checker.OnKeepAliveRefused(store.AppliedIndex, holder.Lease, now);
                        }

                        holder.Lease = 0;
                    }
                }

                holder.NextMs = now + (holder.TtlMs / 3);
            }

            var due = new List<byte[]>();
            store.CollectDueCommands(stamp, due);
            foreach (var command in due)
            {
                KvCommandCodec.TryDecode(command, out var expire);
                var named = new ulong[KvCommandCodec.LeaseIdCount(expire.Value)];
                for (var i = 0; i < named.Length; i++)
                {
                    named[i] = KvCommandCodec.LeaseIdAt(expire.Value, i);
                }

                Apply(command);
                var ended = named.Where(id => checker.ExpiresAtMs(id) is not null && !store.TryGetLease(id, long.MinValue, out _)).ToArray();
                checker.OnEnded(store.AppliedIndex, LeaseEndKind.Expired, ended, deleted.ToArray(), now);
                ends += ended.Length;
            }
        }

        return (checker, ends);
    }

    private static void AssertPass(LeaseChecker checker)
    {
        var result = checker.Check();
        Assert.True(result.IsPass, result.ToString());
    }

    private CheckResult AssertViolation(LeaseChecker checker, string expected)
    {
        var result = checker.Check();
        output.WriteLine(result.ToString());
        Assert.Equal(CheckVerdict.Violation, result.Verdict);
        Assert.Contains(expected, result.Explanation, StringComparison.Ordinal);
        return result;
    }
}
