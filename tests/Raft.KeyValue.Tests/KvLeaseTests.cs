using System.Buffers.Binary;
using System.Text;

namespace Raft.KeyValue.Tests;

/// <summary>
/// Leases in the state machine: granted from cluster version 3, keys and locks bound to them, ended by a revoke or by
/// the leader's expiry (only once their time ran out by the command's time) with every bound key deleted at that one
/// index, extended across a failover by the new leader, kept by sessions and snapshots (format 4), and the same on
/// every replica.
/// </summary>
public sealed class KvLeaseTests
{
    private const long Start = 1_000_000;

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] At(long timeMs, byte[] command)
    {
        Assert.True(KvCommandCodec.TryStampTime(command, timeMs));
        return command;
    }

    private static KvApplyResult Next(KvStore kv, byte[] command) => kv.Apply(kv.AppliedIndex + 1, command);

    /// <summary>A store at cluster version 3 (entry 1) whose clock reads <see cref="Start"/>.</summary>
    private static KvStore Upgraded(KvStoreOptions? options = null)
    {
        var kv = new KvStore(options ?? new KvStoreOptions());
        Assert.Equal(KvApplyStatus.Ok, kv.Apply(1, KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Leases)).Status);
        return kv;
    }

    private static ulong Grant(KvStore kv, long ttlMs, long atMs = Start)
    {
        var granted = Next(kv, At(atMs, KvCommandCodec.EncodeLeaseGrant(ttlMs, default)));
        Assert.Equal(KvApplyStatus.Ok, granted.Status);
        Assert.Equal(granted.Index, granted.Lease);
        Assert.Equal((ttlMs, atMs + ttlMs), (granted.TtlMs, granted.ExpiresAtMs));
        return granted.Lease;
    }

    private static KvApplyResult PutWithLease(KvStore kv, string key, ulong lease, long atMs = Start) =>
        Next(kv, At(atMs, KvCommandCodec.EncodePut(key, Bytes(key), null, default, lease)));

    private static KvApplyResult Expire(KvStore kv, long atMs, params ulong[] ids) => Next(kv, At(atMs, KvCommandCodec.EncodeLeaseExpire(ids)));

    private static List<string> Keys(KvStore kv)
    {
        var items = new List<KvListItem>();
        kv.List(string.Empty, int.MaxValue, items);
        return items.ConvertAll(item => item.Key);
    }

    [Fact]
    public void Lease_commands_are_invalid_below_cluster_version_3_and_change_nothing()
    {
        var kv = new KvStore();
        kv.Apply(1, KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Transactions));
        Assert.Equal(KvApplyStatus.Invalid, Next(kv, At(Start, KvCommandCodec.EncodeLeaseGrant(10_000, default))).Status);
        Assert.Equal(KvApplyStatus.Invalid, PutWithLease(kv, "k", 2).Status);
        var txn = new KvTxn([], [new KvTxnOp(KvTxnOpKind.Put, "k", Bytes("v"), 2)], []);
        Assert.Equal(KvApplyStatus.Invalid, Next(kv, KvCommandCodec.EncodeTxn(txn, default)).Status);
        Assert.Equal(0, kv.LeaseCount);
        Assert.Equal(0, kv.Count);
    }

    [Fact]
    public void A_key_bound_to_a_lease_is_deleted_when_the_lease_expires_and_not_a_moment_before()
    {
        var changes = new List<(ulong Index, string Key, bool Deleted, ulong Lease)>();
        var kv = Upgraded(new KvStoreOptions { KeyChanged = (in KvChange c) => changes.Add((c.Index, c.Key.ToString(), c.Value is null, c.Lease)) });
        var lease = Grant(kv, ttlMs: 10_000);
        Assert.Equal(KvApplyStatus.Ok, PutWithLease(kv, "service/a", lease).Status);
        Assert.Equal(KvApplyStatus.Ok, PutWithLease(kv, "service/b", lease).Status);
        Assert.Equal(KvApplyStatus.Ok, Next(kv, KvCommandCodec.EncodePut("service/c", Bytes("plain"))).Status);
        Assert.True(kv.TryGet("service/a", out var a));
        Assert.Equal(lease, a.Lease);
        Assert.True(kv.TryGetLease(lease, Start, out var info));
        Assert.Equal(["service/a", "service/b"], info.Keys);

        // The leader's expiry at a time before the lease's end (a keep-alive it had not seen yet) ends nothing.
        var early = Expire(kv, Start + 9_999, lease);
        Assert.Equal((KvApplyStatus.Ok, 0UL), (early.Status, early.Lease));
        Assert.Equal(3, kv.Count);

        var expired = Expire(kv, Start + 10_000, lease);
        Assert.Equal((KvApplyStatus.Ok, 1UL), (expired.Status, expired.Lease));
        Assert.Equal(["service/c"], Keys(kv));
        Assert.Equal(0, kv.LeaseCount);
        Assert.False(kv.TryGetLease(lease, Start + 10_000, out _));

        // Both deletions at the expiry's one index, in key order, after the puts that bound them.
        Assert.Equal(
            [(3UL, "service/a", false, lease), (4UL, "service/b", false, lease), (5UL, "service/c", false, 0UL), (7UL, "service/a", true, 0UL), (7UL, "service/b", true, 0UL)],
            changes);
    }

    [Fact]
    public void A_keep_alive_moves_the_end_from_its_own_time_and_fails_once_the_time_ran_out()
    {
        var kv = Upgraded();
        var lease = Grant(kv, ttlMs: 5_000);
        var kept = Next(kv, At(Start + 4_000, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, default)));
        Assert.Equal((KvApplyStatus.Ok, lease, 5_000L, Start + 9_000), (kept.Status, kept.Lease, kept.TtlMs, kept.ExpiresAtMs));
        Assert.Equal(KvApplyStatus.Ok, Expire(kv, Start + 8_999, lease).Status);
        Assert.Equal(1, kv.LeaseCount);

        // Run out by the keep-alive's time, though no expiry has ended it yet: refused, and nothing is bound to it.
        var late = Next(kv, At(Start + 9_000, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, default)));
        Assert.Equal((KvApplyStatus.LeaseNotFound, lease), (late.Status, late.Lease));
        Assert.Equal(KvApplyStatus.LeaseNotFound, PutWithLease(kv, "k", lease, Start + 9_000).Status);
        Assert.Equal(0, kv.Count);
        Assert.Equal(KvApplyStatus.LeaseNotFound, Next(kv, At(Start, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, 999, default))).Status);
    }

    [Fact]
    public void A_put_moves_its_key_to_the_lease_it_names_or_to_none_and_a_delete_unbinds_it()
    {
        var kv = Upgraded();
        var first = Grant(kv, 10_000);
        var second = Grant(kv, 10_000);
        PutWithLease(kv, "moved", first);
        PutWithLease(kv, "moved", second);
        PutWithLease(kv, "freed", first);
        Next(kv, KvCommandCodec.EncodePut("freed", Bytes("no lease")));
        PutWithLease(kv, "deleted", first);
        Next(kv, KvCommandCodec.EncodeDelete("deleted"));
        PutWithLease(kv, "deleted", second);

        Assert.True(kv.TryGetLease(first, Start, out var one));
        Assert.Empty(one.Keys);
        Assert.True(kv.TryGetLease(second, Start, out var two));
        Assert.Equal(["deleted", "moved"], two.Keys);

        Assert.Equal(KvApplyStatus.Ok, Next(kv, KvCommandCodec.EncodeLease(KvCommandType.LeaseRevoke, first, default)).Status);
        Assert.Equal(["deleted", "freed", "moved"], Keys(kv));
        Assert.Equal(KvApplyStatus.Ok, Next(kv, KvCommandCodec.EncodeLease(KvCommandType.LeaseRevoke, second, default)).Status);
        Assert.Equal(["freed"], Keys(kv));
        Assert.Equal(KvApplyStatus.LeaseNotFound, Next(kv, KvCommandCodec.EncodeLease(KvCommandType.LeaseRevoke, second, default)).Status);
    }

    [Fact]
    public void A_lock_bound_to_a_lease_lives_as_long_as_the_lease_and_is_released_with_it()
    {
        var kv = Upgraded();
        var lease = Grant(kv, 3_000);
        var acquired = Next(kv, At(Start, KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "leader", "a", 0, default, lease)));
        Assert.Equal((KvApplyStatus.Ok, Start + 3_000, lease), (acquired.Status, acquired.ExpiresAtMs, acquired.Lease));

        // The lease's keep-alive keeps the lock; the lock's own renew changes nothing.
        Next(kv, At(Start + 2_000, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, default)));
        var renewed = Next(kv, At(Start + 2_500, KvCommandCodec.EncodeLock(KvCommandType.LockRenew, "leader", "a", 60_000, default)));
        Assert.Equal(Start + 5_000, renewed.ExpiresAtMs);
        Assert.True(kv.TryGetLock("leader", Start + 4_999, out var held, out var boundTo));
        Assert.Equal(("a", acquired.FencingToken, lease), (held.Owner, held.FencingToken, boundTo));
        Assert.Equal(KvApplyStatus.LockHeld, Next(kv, At(Start + 4_999, KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "leader", "b", 1_000, default))).Status);
        Assert.True(kv.TryGetLease(lease, Start, out var info));
        Assert.Equal(["leader"], info.Locks);

        Assert.Equal(KvApplyStatus.Ok, Next(kv, KvCommandCodec.EncodeLease(KvCommandType.LeaseRevoke, lease, default)).Status);
        Assert.False(kv.TryGetLock("leader", Start + 3_000, out _));
        var taken = Next(kv, At(Start + 3_000, KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "leader", "b", 1_000, default)));
        Assert.Equal(KvApplyStatus.Ok, taken.Status);
        Assert.True(taken.FencingToken > acquired.FencingToken);
    }

    [Fact]
    public void A_lock_whose_lease_ran_out_goes_to_the_next_owner_and_the_late_expiry_does_not_release_it()
    {
        var kv = Upgraded();
        var lease = Grant(kv, 1_000);
        Next(kv, At(Start, KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "l", "a", 0, default, lease)));
        var taken = Next(kv, At(Start + 1_000, KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "l", "b", 60_000, default)));
        Assert.Equal(KvApplyStatus.Ok, taken.Status);
        Expire(kv, Start + 1_001, lease);
        Assert.True(kv.TryGetLock("l", Start + 1_001, out var holder));
        Assert.Equal(("b", taken.FencingToken), (holder.Owner, holder.FencingToken));
    }

    [Fact]
    public void A_new_leaders_extension_moves_live_leases_by_the_gap_and_leaves_run_out_ones_alone()
    {
        var kv = Upgraded();
        var shortLease = Grant(kv, 2_000);
        var longLease = Grant(kv, 60_000);
        var goneLease = Grant(kv, 500);
        Next(kv, At(Start + 1_000, KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "l", "a", 0, default, shortLease)));

        // The old leader was last heard at Start + 1_000; the new one proposes its extension at Start + 4_000.
        var extended = Next(kv, At(Start + 4_000, KvCommandCodec.EncodeLeaseExtend(3_000)));
        Assert.Equal(KvApplyStatus.Ok, extended.Status);
        Assert.True(kv.TryGetLease(shortLease, Start + 4_000, out var s));
        Assert.Equal(Start + 5_000, s.ExpiresAtMs);
        Assert.True(kv.TryGetLease(longLease, Start + 4_000, out var l));
        Assert.Equal(Start + 63_000, l.ExpiresAtMs);
        Assert.True(kv.TryGetLock("l", Start + 4_999, out var lockHeld));
        Assert.Equal(Start + 5_000, lockHeld.ExpiresAtMs);

        // Seen run out by the lock command at Start + 1_000 (its end was Start + 500): not brought back.
        Assert.False(kv.TryGetLease(goneLease, Start + 4_000, out _));
        var due = new List<byte[]>();
        kv.CollectDueCommands(Start + 4_000, due);
        Assert.True(KvCommandCodec.TryDecode(Assert.Single(due), out var expire));
        Assert.Equal(KvCommandType.LeaseExpire, expire.Type);
        Assert.Equal(1, KvCommandCodec.LeaseIdCount(expire.Value));
        Assert.Equal(goneLease, KvCommandCodec.LeaseIdAt(expire.Value, 0));
    }

    [Fact]
    public void An_extension_gives_back_at_most_the_time_since_the_last_command_applied()
    {
        var kv = Upgraded();
        var lease = Grant(kv, 10_000);
        Next(kv, At(Start + 2_000, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, default)));

        // A new leader that had been cut off for a minute measures a gap of 60 s; the log shows a command 1 s ago.
        Next(kv, At(Start + 3_000, KvCommandCodec.EncodeLeaseExtend(60_000)));
        Assert.True(kv.TryGetLease(lease, Start + 3_000, out var extended));
        Assert.Equal(Start + 12_000 + 1_000, extended.ExpiresAtMs);
    }

    [Fact]
    public void The_leader_is_owed_an_expiry_only_for_leases_whose_time_ran_out_and_a_take_over_only_when_leases_exist()
    {
        var kv = Upgraded();
        Assert.Null(kv.TakeOverCommand(5_000));
        var due = new List<byte[]>();
        kv.CollectDueCommands(long.MaxValue, due);
        Assert.Empty(due);

        var ids = Enumerable.Range(0, KvCommandCodec.ExpireLeasesMax + 5).Select(i => Grant(kv, 1_000 + i)).ToArray();
        kv.CollectDueCommands(Start + 999, due);
        Assert.Empty(due);
        kv.CollectDueCommands(Start + 1_002, due);
        Assert.True(KvCommandCodec.TryDecode(Assert.Single(due), out var three));
        Assert.Equal(3, KvCommandCodec.LeaseIdCount(three.Value));

        // At most one command's worth per round, the earliest ends first.
        due.Clear();
        kv.CollectDueCommands(long.MaxValue, due);
        Assert.True(KvCommandCodec.TryDecode(Assert.Single(due), out var all));
        Assert.Equal(KvCommandCodec.ExpireLeasesMax, KvCommandCodec.LeaseIdCount(all.Value));
        Assert.Equal(ids[0], KvCommandCodec.LeaseIdAt(all.Value, 0));
        Assert.Equal(ids[KvCommandCodec.ExpireLeasesMax - 1], KvCommandCodec.LeaseIdAt(all.Value, KvCommandCodec.ExpireLeasesMax - 1));

        Assert.True(KvCommandCodec.TryDecode(kv.TakeOverCommand(250), out var takeOver));
        Assert.Equal((KvCommandType.LeaseExtend, 250L), (takeOver.Type, takeOver.TtlMs));
        Assert.Null(kv.TakeOverCommand(0));
    }

    [Fact]
    public void Grants_beyond_the_limit_are_refused()
    {
        var kv = Upgraded(new KvStoreOptions { LeasesMax = 2 });
        Grant(kv, 1_000);
        Grant(kv, 1_000);
        Assert.Equal(KvApplyStatus.TooManyLeases, Next(kv, At(Start, KvCommandCodec.EncodeLeaseGrant(1_000, default))).Status);
        Assert.Equal(2, kv.LeaseCount);
    }

    [Fact]
    public void A_transaction_binds_its_puts_to_a_lease_and_applies_nothing_when_one_is_not_live()
    {
        var kv = Upgraded();
        var lease = Grant(kv, 1_000);
        var elect = new KvTxn(
            [new KvCompare("election/leader", KvCompareTarget.Exists, KvCompareOp.Equal, 0)],
            [new KvTxnOp(KvTxnOpKind.Put, "election/leader", Bytes("me"), lease)],
            [new KvTxnOp(KvTxnOpKind.Get, "election/leader")]);
        var won = Next(kv, At(Start, KvCommandCodec.EncodeTxn(elect, default)));
        Assert.True(won.Txn!.Succeeded);
        Assert.True(kv.TryGet("election/leader", out var value));
        Assert.Equal(lease, value.Lease);

        var dead = new KvTxn([], [new KvTxnOp(KvTxnOpKind.Put, "a", Bytes("1")), new KvTxnOp(KvTxnOpKind.Put, "b", Bytes("2"), 12345)], []);
        var refused = Next(kv, At(Start, KvCommandCodec.EncodeTxn(dead, default)));
        Assert.Equal((KvApplyStatus.LeaseNotFound, 12345UL), (refused.Status, refused.Lease));
        Assert.Equal(["election/leader"], Keys(kv));

        Expire(kv, Start + 1_000, lease);
        Assert.Empty(Keys(kv));
    }

    [Fact]
    public void A_session_retry_of_a_grant_answers_the_same_lease_without_granting_another()
    {
        var kv = Upgraded();
        var session = new KvSession("client", 1);
        var first = Next(kv, At(Start, KvCommandCodec.EncodeLeaseGrant(5_000, session)));
        var retry = Next(kv, At(Start + 10, KvCommandCodec.EncodeLeaseGrant(5_000, session)));
        Assert.Equal(first, retry);
        Assert.Equal(1, kv.LeaseCount);
    }

    [Fact]
    public void Leases_their_keys_and_locks_survive_a_snapshot_in_format_4()
    {
        var kv = Upgraded();
        var lease = Grant(kv, 10_000);
        PutWithLease(kv, "bound", lease);
        Next(kv, KvCommandCodec.EncodePut("plain", Bytes("v")));
        Next(kv, At(Start, KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "lock", "a", 0, default, lease)));
        var session = new KvSession("c", 1);
        var kept = Next(kv, At(Start + 1_000, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, session)));
        var snapshot = kv.CreateSnapshot();
        Assert.Equal(4U, BinaryPrimitives.ReadUInt32LittleEndian(snapshot.AsSpan(4)));

        var copy = new KvStore();
        copy.RestoreSnapshot(snapshot);
        Assert.Equal(snapshot, copy.CreateSnapshot());
        Assert.True(copy.TryGetLease(lease, Start, out var info));
        Assert.Equal((10_000L, Start + 11_000), (info.TtlMs, info.ExpiresAtMs));
        Assert.Equal(["bound"], info.Keys);
        Assert.Equal(["lock"], info.Locks);
        Assert.Equal(kept, Next(copy, At(Start + 2_000, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, session))));

        // The restored copy and the original end the lease the same way.
        foreach (var store in new[] { kv, copy })
        {
            if (store == kv)
            {
                Next(kv, At(Start + 2_000, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, session)));
            }

            Expire(store, Start + 11_000, lease);
            Assert.Equal(["plain"], Keys(store));
            Assert.False(store.TryGetLock("lock", Start + 11_000, out _));
        }

        Assert.Equal(kv.CreateSnapshot(), copy.CreateSnapshot());
    }

    [Fact]
    public void A_format_4_image_naming_a_lease_it_does_not_hold_is_refused()
    {
        var kv = Upgraded();
        var lease = Grant(kv, 10_000);
        PutWithLease(kv, "k", lease);
        var snapshot = kv.CreateSnapshot();

        // Header (36 bytes), lease count (4), the lease's id: change it, and the key names a lease the image lacks.
        BinaryPrimitives.WriteUInt64LittleEndian(snapshot.AsSpan(40), lease + 1);
        var error = Assert.Throws<InvalidDataException>(() => new KvStore().RestoreSnapshot(snapshot));
        Assert.Contains("inconsistent key 'k'", error.Message);
    }

    [Fact]
    public void Lease_commands_round_trip_and_malformed_ones_do_not_decode()
    {
        Assert.True(KvCommandCodec.TryDecode(KvCommandCodec.EncodeLeaseGrant(7, new KvSession("c", 3)), out var grant));
        Assert.Equal((KvCommandType.LeaseGrant, 7L, 3UL), (grant.Type, grant.TtlMs, grant.Sequence));
        Assert.True(KvCommandCodec.TryDecode(KvCommandCodec.EncodePut("k", Bytes("v"), 4, default, 99), out var put));
        Assert.Equal((KvCommandType.PutIfVersion, 99UL, 4UL, "v"), (put.Type, put.LeaseId, put.ExpectedVersion, Encoding.UTF8.GetString(put.Value)));
        Assert.True(KvCommandCodec.TryDecode(KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "n", "o", 0, default, 5), out var acquire));
        Assert.Equal((5UL, "o"), (acquire.LeaseId, Encoding.UTF8.GetString(acquire.Owner)));

        // The lease flag on a delete, a zero lease id, an extension with a session, an expiry of none.
        var delete = KvCommandCodec.EncodeDelete("k");
        delete[1] |= (byte)KvCommandFlags.Lease;
        Assert.False(KvCommandCodec.TryDecode(delete, out _));
        var zero = KvCommandCodec.EncodePut("k", Bytes("v"), null, default, 1);
        BinaryPrimitives.WriteUInt64LittleEndian(zero.AsSpan(KvCommandCodec.HeaderBytes + 8 + 1), 0);
        Assert.False(KvCommandCodec.TryDecode(zero, out _));
        var extend = KvCommandCodec.EncodeLeaseExtend(5);
        extend[1] |= (byte)KvCommandFlags.Session;
        Assert.False(KvCommandCodec.TryDecode(extend, out _));
        var none = KvCommandCodec.EncodeLeaseExpire([1]);
        BinaryPrimitives.WriteUInt16LittleEndian(none.AsSpan(KvCommandCodec.HeaderBytes + 8), 0);
        Assert.False(KvCommandCodec.TryDecode(none, out _));

        // Every prefix of every lease command is refused, never thrown on (a put's value takes what is left, so a put is
        // cut only up to its value).
        Assert.False(KvCommandCodec.TryDecode(KvCommandCodec.EncodePut("k", [], null, default, 9).AsSpan(0, KvCommandCodec.HeaderBytes + 8 + 1 + 7), out _));
        foreach (var command in new[] { KvCommandCodec.EncodeLeaseGrant(7, new KvSession("c", 3)), KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, 3, default), KvCommandCodec.EncodeLeaseExpire([1, 2]), KvCommandCodec.EncodeLeaseExtend(9) })
        {
            for (var cut = 0; cut < command.Length; cut++)
            {
                Assert.False(KvCommandCodec.TryDecode(command.AsSpan(0, cut), out _));
            }
        }
    }

    [Fact]
    public void Replicas_applying_the_same_lease_commands_end_in_the_same_state()
    {
        var random = new Random(20261207);
        var stores = new[] { Upgraded(), Upgraded() };
        var leases = new List<ulong>();
        var now = Start;
        for (var i = 0; i < 2_000; i++)
        {
            now += random.Next(0, 400);
            var command = random.Next(8) switch
            {
                0 => At(now, KvCommandCodec.EncodeLeaseGrant(random.Next(500, 5_000), default)),
                1 when leases.Count > 0 => At(now, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, leases[random.Next(leases.Count)], default)),
                2 when leases.Count > 0 => At(now, KvCommandCodec.EncodeLease(KvCommandType.LeaseRevoke, leases[random.Next(leases.Count)], default)),
                3 when leases.Count > 0 => At(now, KvCommandCodec.EncodeLeaseExpire([leases[random.Next(leases.Count)]])),
                4 => At(now, KvCommandCodec.EncodeLeaseExtend(random.Next(1, 3_000))),
                5 when leases.Count > 0 => At(now, KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, $"lock/{random.Next(5)}", $"o{random.Next(3)}", 0, default, leases[random.Next(leases.Count)])),
                _ when leases.Count > 0 => At(now, KvCommandCodec.EncodePut($"key/{random.Next(50)}", Bytes("v"), null, default, leases[random.Next(leases.Count)])),
                _ => KvCommandCodec.EncodePut($"key/{random.Next(50)}", Bytes("v")),
            };
            var results = stores.Select(store => Next(store, command)).ToArray();
            Assert.Equal(results[0], results[1]);
            if (results[0] is { Status: KvApplyStatus.Ok } granted && KvCommandCodec.TypeOf(command) == KvCommandType.LeaseGrant)
            {
                leases.Add(granted.Lease);
            }

            if (i % 500 == 0)
            {
                // One replica installs the other's snapshot midway, as a lagging follower would.
                stores[1] = new KvStore();
                stores[1].RestoreSnapshot(stores[0].CreateSnapshot());
            }
        }

        Assert.Equal(stores[0].CreateSnapshot(), stores[1].CreateSnapshot());

        // Every key bound to a lease names one the store holds (a load checks it), and a live lease lists exactly its keys.
        new KvStore().RestoreSnapshot(stores[0].CreateSnapshot());
        var items = new List<KvListItem>();
        stores[0].List(string.Empty, int.MaxValue, items);
        foreach (var id in leases)
        {
            if (stores[0].TryGetLease(id, 0, out var info))
            {
                Assert.Equal(items.Where(item => item.Value.Lease == id).Select(item => item.Key), info.Keys);
            }
        }
    }
}
