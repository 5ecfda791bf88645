using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Raft.KeyValue.Tests;

/// <summary>Compare-and-set, locks in leader time, and client sessions in the state machine.</summary>
public sealed class KvLockAndSessionTests
{
    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] Timed(byte[] command, long timeMs)
    {
        Assert.True(KvCommandCodec.TryStampTime(command, timeMs));
        return command;
    }

    private static byte[] Acquire(string name, string owner, long ttlMs, long timeMs, KvSession session = default) =>
        Timed(KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, name, owner, ttlMs, session), timeMs);

    private static byte[] Renew(string name, string owner, long ttlMs, long timeMs) =>
        Timed(KvCommandCodec.EncodeLock(KvCommandType.LockRenew, name, owner, ttlMs, default), timeMs);

    private static byte[] Release(string name, string owner, long timeMs) =>
        Timed(KvCommandCodec.EncodeLock(KvCommandType.LockRelease, name, owner, 0, default), timeMs);

    [Fact]
    public void A_lock_command_whose_owner_is_not_utf8_is_invalid_and_applies_nothing()
    {
        // Found by fuzzing commands from the log (seed 14202, case 999): the owner was decoded only when a lock was
        // granted, and bytes that are not UTF-8 threw out of Apply instead of making the command invalid.
        var command = Convert.FromHexString("050101001AF000000000000062FEFFFFFFFFFFFF7F076F776E658D2D31");
        Assert.False(KvCommandCodec.TryDecode(command, out _));

        var kv = new KvStore();
        var result = kv.Apply(1, command);
        Assert.Equal(KvApplyStatus.Invalid, result.Status);
        Assert.Equal(1UL, kv.AppliedIndex);
        Assert.False(kv.TryGetLock("a/b", 0, out _));
    }

    [Fact]
    public void Compare_and_set_writes_only_when_the_version_matches()
    {
        var kv = new KvStore();
        Assert.Equal(KvApplyStatus.Ok, kv.Apply(1, KvCommandCodec.EncodePut("k", Bytes("a"), 0, default)).Status);
        Assert.Equal(new KvApplyResult(KvApplyStatus.PreconditionFailed, 2, 1, 0), kv.Apply(2, KvCommandCodec.EncodePut("k", Bytes("b"), 0, default)));
        Assert.Equal(new KvApplyResult(KvApplyStatus.PreconditionFailed, 3, 1, 0), kv.Apply(3, KvCommandCodec.EncodePut("k", Bytes("b"), 2, default)));
        Assert.Equal(new KvApplyResult(KvApplyStatus.PreconditionFailed, 4, 0, 0), kv.Apply(4, KvCommandCodec.EncodePut("absent", Bytes("b"), 1, default)));
        Assert.True(kv.TryGet("k", out var unchanged));
        Assert.Equal("a", Encoding.UTF8.GetString(unchanged.Value));
        Assert.False(kv.TryGet("absent", out _));

        Assert.Equal(new KvApplyResult(KvApplyStatus.Ok, 5, 5, 1), kv.Apply(5, KvCommandCodec.EncodePut("k", Bytes("b"), 1, default)));
        Assert.Equal(new KvApplyResult(KvApplyStatus.PreconditionFailed, 6, 5, 0), kv.Apply(6, KvCommandCodec.EncodeDelete("k", 1, default)));
        Assert.True(kv.TryGet("k", out _));
        Assert.Equal(new KvApplyResult(KvApplyStatus.Ok, 7, 5, 1), kv.Apply(7, KvCommandCodec.EncodeDelete("k", 5, default)));
        Assert.Equal(KvApplyStatus.NotFound, kv.Apply(8, KvCommandCodec.EncodeDelete("k", 0, default)).Status);
    }

    [Fact]
    public void The_lock_change_callback_names_every_grant_renewal_and_release_and_nothing_that_changed_nothing()
    {
        byte[][] commands =
        [
            Acquire("jobs/a", "a", 100, 1_000),
            Acquire("jobs/a", "b", 100, 1_010),
            Acquire("jobs/a", "a", 100, 1_020),
            Renew("jobs/a", "a", 100, 1_030),
            Renew("jobs/a", "b", 100, 1_040),
            Release("jobs/a", "b", 1_050),
            Release("jobs/a", "a", 1_060),
            Release("jobs/a", "a", 1_070),
            Acquire("other", "a", 10, 1_080),
            Release("other", "a", 2_000),
        ];
        var changes = new List<string>();
        var observed = new KvStore(new KvStoreOptions { LockChanged = name => changes.Add(new string(name)) });
        var plain = new KvStore();
        for (var i = 0; i < commands.Length; i++)
        {
            Assert.Equal(plain.Apply((ulong)i + 1, commands[i]), observed.Apply((ulong)i + 1, commands[i]));
        }

        // Grant, re-acquire, renew, release, grant; refusals, a second release and an expired lock's removal changed nothing.
        Assert.Equal(["jobs/a", "jobs/a", "jobs/a", "jobs/a", "other"], changes);
        Assert.Equal(plain.CreateSnapshot(), observed.CreateSnapshot());
    }

    [Fact]
    public void A_lock_is_granted_with_its_index_as_token_renewed_by_its_owner_and_released_only_by_it()
    {
        var kv = new KvStore();
        var granted = kv.Apply(1, Acquire("l", "a", 100, 1_000));
        Assert.Equal(KvApplyStatus.Ok, granted.Status);
        Assert.Equal(1UL, granted.FencingToken);
        Assert.Equal(1_100, granted.ExpiresAtMs);

        var held = kv.Apply(2, Acquire("l", "b", 100, 1_050));
        Assert.Equal(KvApplyStatus.LockHeld, held.Status);
        Assert.Equal("a", held.Holder);
        Assert.Equal(1_100, held.ExpiresAtMs);

        // The holder acquiring again renews: same token, a lease from the new time.
        var again = kv.Apply(3, Acquire("l", "a", 100, 1_060));
        Assert.Equal((KvApplyStatus.Ok, 1UL, 1_160L), (again.Status, again.FencingToken, again.ExpiresAtMs));
        Assert.Equal(KvApplyStatus.LockHeld, kv.Apply(4, Renew("l", "b", 100, 1_070)).Status);
        var renewed = kv.Apply(5, Renew("l", "a", 500, 1_080));
        Assert.Equal((KvApplyStatus.Ok, 1UL, 1_580L), (renewed.Status, renewed.FencingToken, renewed.ExpiresAtMs));
        Assert.True(kv.TryGetLock("l", 0, out var lockState));
        Assert.Equal(new KvLock("a", 1, 1_580), lockState);

        Assert.Equal(KvApplyStatus.LockHeld, kv.Apply(6, Release("l", "b", 1_090)).Status);
        var released = kv.Apply(7, Release("l", "a", 1_100));
        Assert.Equal((KvApplyStatus.Ok, 1UL), (released.Status, released.FencingToken));
        Assert.False(kv.TryGetLock("l", 0, out _));
        Assert.Equal(KvApplyStatus.NotFound, kv.Apply(8, Renew("l", "a", 100, 1_110)).Status);
        Assert.Equal(KvApplyStatus.NotFound, kv.Apply(9, Release("l", "a", 1_120)).Status);

        var next = kv.Apply(10, Acquire("l", "b", 100, 1_130));
        Assert.Equal((KvApplyStatus.Ok, 10UL), (next.Status, next.FencingToken));
    }

    [Fact]
    public void An_expired_lock_goes_to_the_next_owner_with_a_larger_token()
    {
        var kv = new KvStore();
        Assert.Equal(1UL, kv.Apply(1, Acquire("l", "a", 100, 1_000)).FencingToken);
        Assert.Equal(KvApplyStatus.LockHeld, kv.Apply(2, Acquire("l", "b", 100, 1_099)).Status);
        Assert.True(kv.TryGetLock("l", 0, out _));
        Assert.False(kv.TryGetLock("l", 1_100, out _), "a reader's later clock sees the expiry no command applied yet");

        var taken = kv.Apply(3, Acquire("l", "b", 100, 1_100));
        Assert.Equal((KvApplyStatus.Ok, 3UL, 1_200L), (taken.Status, taken.FencingToken, taken.ExpiresAtMs));
        Assert.Equal(KvApplyStatus.LockHeld, kv.Apply(4, Renew("l", "a", 100, 1_101)).Status);
        Assert.Equal(KvApplyStatus.LockHeld, kv.Apply(5, Release("l", "a", 1_102)).Status);
        Assert.True(kv.TryGetLock("l", 0, out var holder));
        Assert.Equal(new KvLock("b", 3, 1_200), holder);
    }

    [Fact]
    public void Time_never_goes_back_when_a_new_leader_stamps_an_earlier_clock()
    {
        var kv = new KvStore();
        kv.Apply(1, Acquire("l", "a", 100, 1_000));
        Assert.Equal(1_000, kv.ClockMs);

        // A new leader whose clock is 300 ms behind: the store still reasons at 1 000.
        var held = kv.Apply(2, Acquire("l", "b", 100, 700));
        Assert.Equal(KvApplyStatus.LockHeld, held.Status);
        Assert.Equal(1_000, kv.ClockMs);
        var renewed = kv.Apply(3, Renew("l", "a", 100, 710));
        Assert.Equal(1_100, renewed.ExpiresAtMs);

        // Time moves on only when a command carries a later time.
        Assert.Equal(KvApplyStatus.LockHeld, kv.Apply(4, Acquire("l", "b", 100, 1_099)).Status);
        Assert.Equal(KvApplyStatus.Ok, kv.Apply(5, Acquire("l", "b", 100, 1_100)).Status);
        Assert.Equal(1_100, kv.ClockMs);
    }

    [Fact]
    public void A_session_applies_each_sequence_once_and_answers_a_retry_as_the_first_time()
    {
        var kv = new KvStore();
        var s1 = new KvSession("client", 1);
        var first = kv.Apply(1, Timed(KvCommandCodec.EncodePut("k", Bytes("one"), null, s1), 10));
        Assert.Equal(new KvApplyResult(KvApplyStatus.Ok, 1, 1, 1), first);

        var retry = kv.Apply(2, Timed(KvCommandCodec.EncodePut("k", Bytes("other"), null, s1), 11));
        Assert.Equal(first, retry);
        Assert.True(kv.TryGet("k", out var value));
        Assert.Equal(("one", 1UL), (Encoding.UTF8.GetString(value.Value), value.Version));

        var second = kv.Apply(3, Timed(KvCommandCodec.EncodePut("k", Bytes("two"), null, new KvSession("client", 2)), 12));
        Assert.Equal(3UL, second.Version);
        var stale = kv.Apply(4, Timed(KvCommandCodec.EncodePut("k", Bytes("old"), null, s1), 13));
        Assert.Equal(KvApplyStatus.StaleSequence, stale.Status);
        Assert.True(kv.TryGet("k", out value));
        Assert.Equal("two", Encoding.UTF8.GetString(value.Value));

        // A failed precondition is remembered like any answer.
        var cas = new KvSession("client", 3);
        var refused = kv.Apply(5, Timed(KvCommandCodec.EncodePut("k", Bytes("x"), 1, cas), 14));
        kv.Apply(6, KvCommandCodec.EncodePut("k", Bytes("y")));
        Assert.Equal(refused, kv.Apply(7, Timed(KvCommandCodec.EncodePut("k", Bytes("x"), 1, cas), 15)));
    }

    [Fact]
    public void A_refused_acquire_is_not_remembered_so_its_retry_tries_again()
    {
        var kv = new KvStore();
        kv.Apply(1, Acquire("l", "a", 100, 1_000));
        var session = new KvSession("waiter", 1);
        Assert.Equal(KvApplyStatus.LockHeld, kv.Apply(2, Acquire("l", "b", 100, 1_050, session)).Status);
        var granted = kv.Apply(3, Acquire("l", "b", 100, 1_100, session));
        Assert.Equal((KvApplyStatus.Ok, 3UL), (granted.Status, granted.FencingToken));
        Assert.Equal(granted, kv.Apply(4, Acquire("l", "b", 100, 1_150, session)));
        Assert.Equal(1UL, kv.SessionSequence("waiter"));
    }

    [Fact]
    public void Sessions_locks_and_time_survive_a_snapshot_and_a_retry_after_restore_is_still_deduplicated()
    {
        var kv = new KvStore();
        var session = new KvSession("client", 7);
        var granted = kv.Apply(1, Acquire("l", "a", 1_000, 5_000, session));
        kv.Apply(2, KvCommandCodec.EncodePut("k", Bytes("v")));
        var held = kv.Apply(3, Renew("l", "b", 100, 5_010));
        Assert.Equal(KvApplyStatus.LockHeld, held.Status);
        kv.Apply(4, Timed(KvCommandCodec.EncodeLock(KvCommandType.LockRenew, "l", "b", 100, new KvSession("other", 1)), 5_020));

        var image = kv.CreateSnapshot();
        var restored = new KvStore();
        restored.RestoreSnapshot(image);
        Assert.Equal(image, restored.CreateSnapshot());
        Assert.Equal((4UL, 5_020L, 2), (restored.AppliedIndex, restored.ClockMs, restored.SessionCount));
        Assert.True(restored.TryGetLock("l", 0, out var lockState));
        Assert.Equal(new KvLock("a", 1, 6_000), lockState);

        Assert.Equal(granted, restored.Apply(5, Acquire("l", "a", 1_000, 5_100, session)));
        var otherRetry = restored.Apply(6, Timed(KvCommandCodec.EncodeLock(KvCommandType.LockRenew, "l", "b", 100, new KvSession("other", 1)), 5_110));
        Assert.Equal((KvApplyStatus.LockHeld, "a", 4UL), (otherRetry.Status, otherRetry.Holder, otherRetry.Index));
        Assert.Equal(KvApplyStatus.Ok, restored.Apply(7, Acquire("l", "a", 1_000, 5_200, new KvSession("client", 8))).Status);
    }

    [Fact]
    public void The_least_recently_used_session_is_evicted_and_idle_ones_expire_in_command_time()
    {
        var kv = new KvStore(new KvStoreOptions { SessionsMax = 2, SessionIdleMs = 1_000 });
        ulong index = 0;
        void Write(string client, ulong seq, long time) =>
            kv.Apply(++index, Timed(KvCommandCodec.EncodePut("k", Bytes(client), null, new KvSession(client, seq)), time));

        Write("a", 1, 100);
        Write("b", 1, 110);
        Write("a", 2, 120);
        Write("c", 1, 130);
        Assert.Equal((2UL, 0UL, 1UL), (kv.SessionSequence("a"), kv.SessionSequence("b"), kv.SessionSequence("c")));

        // b is forgotten: its old sequence applies again rather than being refused.
        Write("b", 1, 140);
        Assert.Equal((0UL, 1UL, 1UL), (kv.SessionSequence("a"), kv.SessionSequence("b"), kv.SessionSequence("c")));

        Write("c", 2, 1_140);
        Assert.Equal((0UL, 2UL), (kv.SessionSequence("b"), kv.SessionSequence("c")));
        Assert.Equal(1, kv.SessionCount);
    }

    [Fact]
    public void Lock_commands_that_break_the_format_are_invalid_and_change_nothing()
    {
        var kv = new KvStore();
        var untimed = KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "l", "a", 100, default);
        untimed[1] = 0;
        Assert.Equal(KvApplyStatus.Invalid, kv.Apply(1, untimed).Status);
        var zeroTtl = Acquire("l", "a", 100, 1_000);
        BinaryPrimitives.WriteInt64LittleEndian(zeroTtl.AsSpan(KvCommandCodec.HeaderBytes + 8 + 1), 0);
        Assert.Equal(KvApplyStatus.Invalid, kv.Apply(2, zeroTtl).Status);
        var truncated = Acquire("l", "a", 100, 1_000);
        Assert.Equal(KvApplyStatus.Invalid, kv.Apply(3, truncated.AsSpan(0, truncated.Length - 1)).Status);
        var unknownFlag = Acquire("l", "a", 100, 1_000);
        unknownFlag[1] |= 0x80;
        Assert.Throws<UnknownCommandException>(() => kv.Apply(4, unknownFlag));
        Assert.Equal(3UL, kv.AppliedIndex);
        Assert.False(kv.TryGetLock("l", 0, out _));
        Assert.Throws<ArgumentException>(() => KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "l", new string('o', 129), 100, default));
    }

    [Fact]
    public void Acquiring_a_lock_one_holds_allocates_nothing_in_steady_state()
    {
        foreach (var withSession in new[] { false, true })
        {
            var kv = new KvStore();
            ulong index = 0;
            for (var i = 0; i < 1_000; i++)
            {
                kv.Apply(++index, Acquire($"lock-{i}", $"owner-{i}", 60_000, 1_000, new KvSession($"client-{i}", 1)));
            }

            var session = withSession ? new KvSession("client-x", 1) : default;
            var command = Acquire("jobs/x", "worker", 30_000, 1_000, session);
            var sequenceOffset = KvCommandCodec.HeaderBytes + 8 + "jobs/x".Length + 1 + "client-x".Length;
            ulong sequence = 1;
            long time = 1_000;
            var answer = new ArrayBufferWriter<byte>(256);
            using var json = new Utf8JsonWriter(answer);
            ulong tokens = 0;

            void AcquireOnce()
            {
                if (withSession)
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(command.AsSpan(sequenceOffset), ++sequence);
                }

                KvCommandCodec.TryStampTime(command, ++time);
                var result = kv.Apply(++index, command);
                answer.ResetWrittenCount();
                json.Reset(answer);
                json.WriteStartObject();
                json.WriteString("name"u8, "jobs/x");
                json.WriteString("owner"u8, "worker");
                json.WriteNumber("fencingToken"u8, result.FencingToken);
                json.WriteNumber("expiresAtMs"u8, result.ExpiresAtMs);
                json.WriteEndObject();
                json.Flush();
                tokens += result.FencingToken;
            }

            kv.Apply(++index, command);
            for (var i = 0; i < 100; i++)
            {
                AcquireOnce();
            }

            // The runtime itself may allocate on this thread once while it recompiles the hot path (tiered
            // compilation); the steady state is a round of a thousand acquisitions that allocates nothing.
            long allocated = -1;
            var rounds = 0;
            while (allocated != 0 && rounds++ < 5)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                for (var i = 0; i < 1_000; i++)
                {
                    AcquireOnce();
                }

                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            }

            Assert.Equal(0, allocated);
            Assert.True(kv.TryGetLock("jobs/x", 0, out var held));
            Assert.Equal(1_001UL, held.FencingToken);
            Assert.Equal(1_001UL * (100 + (1_000 * (ulong)rounds)), tokens);
        }
    }
}
