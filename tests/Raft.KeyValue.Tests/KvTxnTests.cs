using System.Buffers.Binary;
using System.Text;

namespace Raft.KeyValue.Tests;

/// <summary>
/// Transactions and the cluster version in the state machine: refused until the cluster version allows them, compares
/// on the state before the transaction, one branch applied in order, remembered by sessions across snapshots (format 3,
/// written only once the cluster version is 2), and a codec that refuses every malformed body.
/// </summary>
public sealed class KvTxnTests
{
    // Offsets of single-byte fields in Layout()'s command, pinned by The_transaction_command_layout_is_pinned.
    private const int CompareTargetAt = 6;
    private const int CompareOpAt = 7;
    private const int SuccessKindAt = 21;
    private const int FailureKindAt = 27;

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static KvTxnOp Put(string key, string value) => new(KvTxnOpKind.Put, key, Bytes(value));

    private static KvTxnOp Delete(string key) => new(KvTxnOpKind.Delete, key);

    private static KvTxnOp DeletePrefix(string prefix) => new(KvTxnOpKind.DeletePrefix, prefix);

    private static KvTxnOp Get(string key) => new(KvTxnOpKind.Get, key);

    private static byte[] Txn(KvCompare[] compare, KvTxnOp[] success, KvTxnOp[] failure, KvSession session = default) =>
        KvCommandCodec.EncodeTxn(new KvTxn(compare, success, failure), session);

    private static KvApplyResult Next(KvStore kv, byte[] command) => kv.Apply(kv.AppliedIndex + 1, command);

    /// <summary>A store whose entry 1 raised the cluster version to 2, then one put per key (value = key) at 2, 3, ...</summary>
    private static KvStore Upgraded(params string[] keys)
    {
        var kv = new KvStore();
        Assert.Equal(KvApplyStatus.Ok, kv.Apply(1, KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Transactions)).Status);
        foreach (var key in keys)
        {
            Assert.Equal(KvApplyStatus.Ok, Next(kv, KvCommandCodec.EncodePut(key, Bytes(key))).Status);
        }

        return kv;
    }

    private static List<string> Keys(KvStore kv)
    {
        var items = new List<KvListItem>();
        Assert.False(kv.List(string.Empty, int.MaxValue, items));
        return items.ConvertAll(item => item.Key);
    }

    private static uint Format(byte[] snapshot) => BinaryPrimitives.ReadUInt32LittleEndian(snapshot.AsSpan(4));

    private static void AssertPut(KvTxnOpResult result, ulong version, ulong createIndex)
    {
        Assert.Equal(KvTxnOpKind.Put, result.Kind);
        Assert.Equal((version, createIndex), (result.Version, result.CreateIndex));
    }

    private static void AssertGet(KvTxnOpResult result, string? value, ulong version = 0, ulong createIndex = 0)
    {
        Assert.Equal(KvTxnOpKind.Get, result.Kind);
        Assert.Equal(value is not null, result.Found);
        Assert.Equal((version, createIndex), (result.Version, result.CreateIndex));
        Assert.Equal(value, result.Value is null ? null : Encoding.UTF8.GetString(result.Value));
    }

    private static void AssertDelete(KvTxnOpResult result, bool found, ulong version)
    {
        Assert.Equal(KvTxnOpKind.Delete, result.Kind);
        Assert.Equal((found, version), (result.Found, result.Version));
    }

    private static void AssertDeletePrefix(KvTxnOpResult result, ulong deleted)
    {
        Assert.Equal(KvTxnOpKind.DeletePrefix, result.Kind);
        Assert.Equal(deleted, result.Deleted);
    }

    // Field by field: the op results hold arrays, which record equality compares by reference.
    private static void AssertSameResult(KvApplyResult expected, KvApplyResult actual)
    {
        Assert.Equal(expected with { Txn = null }, actual with { Txn = null });
        Assert.NotNull(expected.Txn);
        Assert.NotNull(actual.Txn);
        Assert.Equal(expected.Txn.Succeeded, actual.Txn.Succeeded);
        Assert.Equal(expected.Txn.Results.Length, actual.Txn.Results.Length);
        for (var i = 0; i < expected.Txn.Results.Length; i++)
        {
            var (e, a) = (expected.Txn.Results[i], actual.Txn.Results[i]);
            Assert.Equal(e with { Value = null }, a with { Value = null });
            Assert.Equal(e.Value, a.Value);
        }
    }

    [Fact]
    public void A_transaction_before_the_cluster_version_allows_it_is_invalid_changes_nothing_and_consumes_its_index()
    {
        var kv = new KvStore();
        kv.Apply(1, KvCommandCodec.EncodePut("k", Bytes("v")));
        var txn = Txn([new KvCompare("k", KvCompareTarget.Exists, KvCompareOp.Equal, 1)], [Put("k", "w"), Put("n", "x")], [Delete("k")]);
        Assert.Equal(KvClusterVersion.Initial, kv.ClusterVersion);

        Assert.Equal(new KvApplyResult(KvApplyStatus.Invalid, 2, 0, 0), kv.Apply(2, txn));
        Assert.Equal(2UL, kv.AppliedIndex);
        Assert.Equal(["k"], Keys(kv));
        Assert.True(kv.TryGet("k", out var unchanged));
        Assert.Equal(("v", 1UL), (Encoding.UTF8.GetString(unchanged.Value), unchanged.Version));

        Assert.Equal(new KvApplyResult(KvApplyStatus.Ok, 3, KvClusterVersion.Transactions, 0), kv.Apply(3, KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Transactions)));
        Assert.Equal(KvClusterVersion.Transactions, kv.ClusterVersion);

        var applied = kv.Apply(4, txn);
        Assert.Equal((KvApplyStatus.Ok, 4UL), (applied.Status, applied.Index));
        Assert.NotNull(applied.Txn);
        Assert.True(applied.Txn.Succeeded);
        Assert.Equal(2, applied.Txn.Results.Length);
        AssertPut(applied.Txn.Results[0], 4, 1);
        AssertPut(applied.Txn.Results[1], 4, 4);
        Assert.True(kv.TryGet("k", out var written));
        Assert.Equal(new KvValue(written.Value, 4, 1), written);
        Assert.Equal("w", Encoding.UTF8.GetString(written.Value));
        Assert.Equal(["k", "n"], Keys(kv));
    }

    [Fact]
    public void The_cluster_version_is_raised_never_lowered_and_one_above_what_this_server_supports_stops_the_store()
    {
        var kv = new KvStore();
        kv.Apply(1, KvCommandCodec.EncodePut("k", Bytes("v")));
        Assert.Equal(new KvApplyResult(KvApplyStatus.Ok, 2, 2, 0), kv.Apply(2, KvCommandCodec.EncodeSetClusterVersion(2)));
        Assert.Equal(2, kv.ClusterVersion);

        // A lower version is a stale proposal: it applies (and answers the version in force) but lowers nothing.
        Assert.Equal(new KvApplyResult(KvApplyStatus.Ok, 3, 2, 0), kv.Apply(3, KvCommandCodec.EncodeSetClusterVersion(1)));
        Assert.Equal(2, kv.ClusterVersion);
        Assert.Equal(3UL, kv.AppliedIndex);

        var before = kv.CreateSnapshot();
        var error = Assert.Throws<UnknownCommandException>(() => kv.Apply(4, KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Supported + 1)));
        Assert.Contains("Upgrade this node", error.Message, StringComparison.Ordinal);
        Assert.Equal(3UL, kv.AppliedIndex);
        Assert.Equal(2, kv.ClusterVersion);
        Assert.Equal(before, kv.CreateSnapshot());

        // Nothing of entry 4 was applied, so an upgraded node would apply it next.
        Assert.Equal(KvApplyStatus.Ok, kv.Apply(4, KvCommandCodec.EncodePut("k", Bytes("w"))).Status);
    }

    // The store: k = "ab" created at 2 and rewritten at 4 (version 4, create index 2); u = "\uFF61"; "absent" never written.
    [Theory]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Equal, "k", 4UL, null, true)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Equal, "k", 2UL, null, false)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.NotEqual, "k", 2UL, null, true)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.NotEqual, "k", 4UL, null, false)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Less, "k", 5UL, null, true)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Less, "k", 4UL, null, false)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Greater, "k", 3UL, null, true)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Greater, "k", 4UL, null, false)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Equal, "absent", 0UL, null, true)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Equal, "absent", 1UL, null, false)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.NotEqual, "absent", 0UL, null, false)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.NotEqual, "absent", 4UL, null, true)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Less, "absent", 1UL, null, true)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Less, "absent", 0UL, null, false)]
    [InlineData(KvCompareTarget.Version, KvCompareOp.Greater, "absent", 0UL, null, false)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.Equal, "k", 2UL, null, true)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.Equal, "k", 4UL, null, false)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.NotEqual, "k", 4UL, null, true)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.NotEqual, "k", 2UL, null, false)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.Less, "k", 3UL, null, true)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.Less, "k", 2UL, null, false)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.Greater, "k", 1UL, null, true)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.Greater, "k", 2UL, null, false)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.Equal, "absent", 0UL, null, true)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.NotEqual, "absent", 0UL, null, false)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.Less, "absent", 1UL, null, true)]
    [InlineData(KvCompareTarget.CreateIndex, KvCompareOp.Greater, "absent", 0UL, null, false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Equal, "k", 0UL, "ab", true)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Equal, "k", 0UL, "a", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Equal, "k", 0UL, "", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.NotEqual, "k", 0UL, "abc", true)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.NotEqual, "k", 0UL, "ab", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Less, "k", 0UL, "b", true)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Less, "k", 0UL, "abc", true)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Less, "k", 0UL, "ab", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Less, "k", 0UL, "a", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Greater, "k", 0UL, "a", true)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Greater, "k", 0UL, "aa", true)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Greater, "k", 0UL, "", true)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Greater, "k", 0UL, "ab", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Greater, "k", 0UL, "b", false)]
    // Bytes, not culture: 'B' (0x42) is below 'a' (0x61).
    [InlineData(KvCompareTarget.Value, KvCompareOp.Greater, "k", 0UL, "aB", true)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Less, "k", 0UL, "aB", false)]
    // Bytes of UTF-8, not UTF-16 code units: U+1F600 is F0 9F 98 80, above U+FF61's EF BD A1, though its UTF-16 (D83D) is below FF61.
    [InlineData(KvCompareTarget.Value, KvCompareOp.Less, "u", 0UL, "\U0001F600", true)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Greater, "u", 0UL, "\U0001F600", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Equal, "absent", 0UL, "ab", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Equal, "absent", 0UL, "", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.NotEqual, "absent", 0UL, "ab", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.NotEqual, "absent", 0UL, "", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Less, "absent", 0UL, "zz", false)]
    [InlineData(KvCompareTarget.Value, KvCompareOp.Greater, "absent", 0UL, "", false)]
    [InlineData(KvCompareTarget.Exists, KvCompareOp.Equal, "k", 1UL, null, true)]
    [InlineData(KvCompareTarget.Exists, KvCompareOp.Equal, "k", 0UL, null, false)]
    [InlineData(KvCompareTarget.Exists, KvCompareOp.NotEqual, "k", 1UL, null, false)]
    [InlineData(KvCompareTarget.Exists, KvCompareOp.NotEqual, "k", 0UL, null, true)]
    [InlineData(KvCompareTarget.Exists, KvCompareOp.Equal, "absent", 1UL, null, false)]
    [InlineData(KvCompareTarget.Exists, KvCompareOp.Equal, "absent", 0UL, null, true)]
    [InlineData(KvCompareTarget.Exists, KvCompareOp.NotEqual, "absent", 1UL, null, true)]
    [InlineData(KvCompareTarget.Exists, KvCompareOp.NotEqual, "absent", 0UL, null, false)]
    public void A_compare_holds_as_its_target_and_operator_say(KvCompareTarget target, KvCompareOp op, string key, ulong number, string? value, bool holds)
    {
        var kv = Upgraded();
        Next(kv, KvCommandCodec.EncodePut("k", Bytes("ab")));
        Next(kv, KvCommandCodec.EncodePut("u", Bytes("\uFF61")));
        Next(kv, KvCommandCodec.EncodePut("k", Bytes("ab")));
        Assert.True(kv.TryGet("k", out var k));
        Assert.Equal((4UL, 2UL), (k.Version, k.CreateIndex));
        var before = Keys(kv);

        var result = Next(kv, Txn([new KvCompare(key, target, op, number, value is null ? null : Bytes(value))], [Get(key)], []));

        Assert.Equal((KvApplyStatus.Ok, 5UL), (result.Status, result.Index));
        Assert.NotNull(result.Txn);
        Assert.Equal(holds, result.Txn.Succeeded);
        Assert.Equal(holds ? 1 : 0, result.Txn.Results.Length);
        Assert.Equal(before, Keys(kv));
    }

    [Fact]
    public void When_every_compare_holds_the_success_operations_apply_in_order_each_seeing_the_ones_before()
    {
        // '.' (0x2E) sorts just before '/' and '0' (0x30) just after: the keys around "a/" that must survive its deletion.
        var kv = Upgraded("a", "a.", "a/", "a/x", "a/y/z", "a0", "ab");
        Next(kv, KvCommandCodec.EncodePut("k", Bytes("v1")));
        Next(kv, KvCommandCodec.EncodePut("k", Bytes("v2")));
        Assert.Equal(10UL, kv.AppliedIndex);

        var result = kv.Apply(11, Txn(
            [
                new KvCompare("k", KvCompareTarget.Version, KvCompareOp.Equal, 10),
                new KvCompare("k", KvCompareTarget.Value, KvCompareOp.Equal, Value: Bytes("v2")),
                new KvCompare("gone", KvCompareTarget.Exists, KvCompareOp.Equal, 0),
            ],
            [
                Put("k", "v3"),
                Get("k"),
                Put("new", "n"),
                Get("new"),
                Delete("new"),
                Get("new"),
                Delete("missing"),
                DeletePrefix("a/"),
                Get("a/x"),
                Get("ab"),
            ],
            [Put("failure", "f")]));

        Assert.Equal((KvApplyStatus.Ok, 11UL), (result.Status, result.Index));
        Assert.NotNull(result.Txn);
        Assert.True(result.Txn.Succeeded);
        var ops = result.Txn.Results;
        Assert.Equal(10, ops.Length);
        AssertPut(ops[0], 11, 9);
        AssertGet(ops[1], "v3", 11, 9);
        AssertPut(ops[2], 11, 11);
        AssertGet(ops[3], "n", 11, 11);
        AssertDelete(ops[4], true, 11);
        AssertGet(ops[5], null);
        AssertDelete(ops[6], false, 0);
        AssertDeletePrefix(ops[7], 3);
        AssertGet(ops[8], null);
        AssertGet(ops[9], "ab", 8, 8);

        Assert.Equal(["a", "a.", "a0", "ab", "k"], Keys(kv));
        Assert.True(kv.TryGet("k", out var k));
        Assert.Equal(new KvValue(k.Value, 11, 9), k);
        Assert.Equal(11UL, kv.AppliedIndex);
    }

    [Fact]
    public void When_one_compare_fails_the_failure_operations_apply_and_the_success_ones_do_not()
    {
        var kv = Upgraded("a", "a.", "a/", "a/x", "a/y/z", "a0", "ab");
        Next(kv, KvCommandCodec.EncodePut("k", Bytes("v1")));
        Next(kv, KvCommandCodec.EncodePut("k", Bytes("v2")));

        var result = kv.Apply(11, Txn(
            [
                new KvCompare("k", KvCompareTarget.Version, KvCompareOp.Equal, 10),
                new KvCompare("gone", KvCompareTarget.Exists, KvCompareOp.Equal, 1),
                new KvCompare("k", KvCompareTarget.CreateIndex, KvCompareOp.Equal, 9),
            ],
            [Put("k", "never"), DeletePrefix("a")],
            [Put("f", "1"), Get("k"), DeletePrefix("a"), Get("f")]));

        Assert.Equal((KvApplyStatus.Ok, 11UL), (result.Status, result.Index));
        Assert.NotNull(result.Txn);
        Assert.False(result.Txn.Succeeded);
        var ops = result.Txn.Results;
        Assert.Equal(4, ops.Length);
        AssertPut(ops[0], 11, 11);
        AssertGet(ops[1], "v2", 10, 9);
        AssertDeletePrefix(ops[2], 7);
        AssertGet(ops[3], "1", 11, 11);
        Assert.Equal(["f", "k"], Keys(kv));

        // No compares: the success branch; empty branches: no results and no change.
        var empty = kv.Apply(12, Txn([], [], [Put("f", "2")]));
        Assert.NotNull(empty.Txn);
        Assert.True(empty.Txn.Succeeded);
        Assert.Empty(empty.Txn.Results);
        Assert.True(kv.TryGet("f", out var f));
        Assert.Equal(11UL, f.Version);
    }

    [Fact]
    public void A_transaction_retried_in_its_session_answers_as_the_first_time_and_applies_once_even_after_a_snapshot()
    {
        var kv = Upgraded("k", "p/1", "p/2", "e");
        Next(kv, KvCommandCodec.EncodePut("e", []));
        var txn = Txn(
            [new KvCompare("k", KvCompareTarget.Exists, KvCompareOp.Equal, 1)],
            [Put("k", "w"), Get("k"), Get("e"), Delete("missing"), Delete("p/1"), DeletePrefix("p/"), Get("absent")],
            [],
            new KvSession("c", 1));
        Assert.True(KvCommandCodec.TryStampTime(txn, 1_000));

        var first = kv.Apply(7, txn);
        Assert.NotNull(first.Txn);
        Assert.True(first.Txn.Succeeded);
        AssertGet(first.Txn.Results[1], "w", 7, 2);
        AssertGet(first.Txn.Results[2], string.Empty, 6, 5);
        AssertDelete(first.Txn.Results[4], true, 3);
        AssertDeletePrefix(first.Txn.Results[5], 1);

        var retry = kv.Apply(8, txn);
        AssertSameResult(first, retry);
        Assert.Equal(7UL, retry.Index);
        Assert.True(kv.TryGet("k", out var k));
        Assert.Equal(7UL, k.Version);
        Assert.Equal(1UL, kv.SessionSequence("c"));

        var snapshot = kv.CreateSnapshot();
        Assert.Equal(3u, Format(snapshot));
        var restored = new KvStore();
        restored.RestoreSnapshot(snapshot);
        Assert.Equal(snapshot, restored.CreateSnapshot());
        var installed = new KvStore();
        using (var image = installed.LoadImage(new MemoryStream(snapshot)))
        {
            installed.InstallImage(image);
        }

        foreach (var copy in new[] { restored, installed })
        {
            Assert.Equal((8UL, KvClusterVersion.Transactions), (copy.AppliedIndex, copy.ClusterVersion));
            AssertSameResult(first, copy.Apply(9, txn));
            Assert.True(copy.TryGet("k", out var copied));
            Assert.Equal(7UL, copied.Version);
            Assert.Equal(["e", "k"], Keys(copy));

            // The session goes on: the next sequence applies, an earlier one is stale.
            var next = copy.Apply(10, Txn([], [Put("k", "x")], [], new KvSession("c", 2)));
            Assert.NotNull(next.Txn);
            AssertPut(next.Txn.Results[0], 10, 2);
            Assert.Equal(KvApplyStatus.StaleSequence, copy.Apply(11, txn).Status);
        }
    }

    [Fact]
    public void A_store_at_cluster_version_1_writes_format_2_and_at_version_2_format_3_each_restored_as_it_was()
    {
        var kv = new KvStore();
        kv.Apply(1, KvCommandCodec.EncodePut("k", Bytes("v")));
        var old = kv.CreateSnapshot();
        Assert.Equal(2u, Format(old));
        var restoredOld = new KvStore();
        restoredOld.RestoreSnapshot(old);
        Assert.Equal(KvClusterVersion.Initial, restoredOld.ClusterVersion);
        Assert.Equal(old, restoredOld.CreateSnapshot());
        Assert.Equal(KvApplyStatus.Invalid, restoredOld.Apply(2, Txn([], [Put("t", "1")], [])).Status);

        kv.Apply(2, KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Transactions));
        var current = kv.CreateSnapshot();
        Assert.Equal(3u, Format(current));
        Assert.Equal((uint)KvClusterVersion.Transactions, BinaryPrimitives.ReadUInt32LittleEndian(current.AsSpan(32)));
        Assert.Equal(old.Length + 4, current.Length);

        var restored = new KvStore();
        restored.RestoreSnapshot(current);
        var installed = new KvStore();
        using (var image = installed.LoadImage(new MemoryStream(current)))
        {
            installed.InstallImage(image);
        }

        foreach (var copy in new[] { restored, installed })
        {
            Assert.Equal((2UL, KvClusterVersion.Transactions), (copy.AppliedIndex, copy.ClusterVersion));
            Assert.Equal(current, copy.CreateSnapshot());
            var result = copy.Apply(3, Txn([new KvCompare("k", KvCompareTarget.Value, KvCompareOp.Equal, Value: Bytes("v"))], [Put("t", "1")], []));
            Assert.NotNull(result.Txn);
            Assert.True(result.Txn.Succeeded);
            Assert.True(copy.TryGet("t", out _));
        }
    }

    [Fact]
    public void A_format_3_image_cut_short_or_at_a_cluster_version_this_server_lacks_is_refused()
    {
        var kv = Upgraded("k", "p/1");
        var txn = Txn([], [Put("k", "w"), Get("k"), Delete("k"), DeletePrefix("p/"), Get("k")], [], new KvSession("c", 1));
        Assert.True(KvCommandCodec.TryStampTime(txn, 1_000));
        kv.Apply(4, txn);
        var image = kv.CreateSnapshot();
        Assert.Equal(3u, Format(image));

        var target = Upgraded("t");
        var before = target.CreateSnapshot();
        for (var cut = 0; cut < image.Length; cut++)
        {
            // Zero bytes is the initial state, not a damaged image.
            if (cut > 0)
            {
                Assert.Throws<InvalidDataException>(() => target.RestoreSnapshot(image.AsSpan(0, cut)));
            }

            Assert.Throws<InvalidDataException>(() => target.LoadImage(new MemoryStream(image, 0, cut)));
        }

        var newer = image.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(newer.AsSpan(32), KvClusterVersion.Supported + 1);
        Assert.Throws<InvalidDataException>(() => target.RestoreSnapshot(newer));
        Assert.Throws<InvalidDataException>(() => target.LoadImage(new MemoryStream(newer)));
        var zero = image.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(zero.AsSpan(32), 0);
        Assert.Throws<InvalidDataException>(() => target.RestoreSnapshot(zero));
        Assert.Equal(before, target.CreateSnapshot());
    }

    [Fact]
    public void The_format_3_image_layout_is_pinned()
    {
        var kv = Upgraded();
        kv.Apply(2, KvCommandCodec.EncodePut("k", "v"u8));
        var txn = Txn([], [Get("k")], [], new KvSession("c", 1));
        Assert.True(KvCommandCodec.TryStampTime(txn, 1_000));
        kv.Apply(3, txn);

        var expected = new MemoryStream();
        var w = new BinaryWriter(expected);
        w.Write("RKVS"u8);
        w.Write(3u);
        w.Write(3UL);
        w.Write(1UL);
        w.Write(1_000L);
        w.Write(2u);
        w.Write((ushort)1);
        w.Write("k"u8);
        w.Write(1u);
        w.Write("v"u8);
        w.Write(2UL);
        w.Write(2UL);
        w.Write(0u);
        w.Write(1u);
        w.Write((byte)1);
        w.Write("c"u8);
        w.Write(1UL);
        w.Write(1_000L);
        w.Write((byte)KvApplyStatus.Ok);
        w.Write(3UL);
        w.Write(0UL);
        w.Write(0UL);
        w.Write(0UL);
        w.Write(0L);
        w.Write((byte)0);
        w.Write((byte)1);
        w.Write((byte)1);
        w.Write((ushort)1);
        w.Write((byte)KvTxnOpKind.Get);
        w.Write((byte)1);
        w.Write(2UL);
        w.Write(2UL);
        w.Write(0UL);
        w.Write(1u);
        w.Write("v"u8);

        Assert.Equal(163, expected.Length);
        Assert.Equal(expected.ToArray(), kv.CreateSnapshot());
    }

    [Fact]
    public void The_transaction_command_layout_is_pinned()
    {
        var command = Layout();

        var expected = new MemoryStream();
        var w = new BinaryWriter(expected);
        w.Write((byte)KvCommandType.Txn);
        w.Write((byte)0);
        w.Write((ushort)0);
        w.Write((ushort)1);
        w.Write((byte)KvCompareTarget.Version);
        w.Write((byte)KvCompareOp.Equal);
        w.Write((ushort)1);
        w.Write("k"u8);
        w.Write(7UL);
        w.Write((ushort)1);
        w.Write((byte)KvTxnOpKind.Delete);
        w.Write((ushort)1);
        w.Write("k"u8);
        w.Write((ushort)1);
        w.Write((byte)KvTxnOpKind.Put);
        w.Write((ushort)1);
        w.Write("k"u8);
        w.Write(2u);
        w.Write("vw"u8);

        Assert.Equal(37, expected.Length);
        Assert.Equal(expected.ToArray(), command);
        Assert.Equal(command.Length - KvCommandCodec.HeaderBytes, KvTxnCodec.EncodedBytes(LayoutTxn()));
        Assert.Equal((byte)KvCompareTarget.Version, command[CompareTargetAt]);
        Assert.Equal((byte)KvCompareOp.Equal, command[CompareOpAt]);
        Assert.Equal((byte)KvTxnOpKind.Delete, command[SuccessKindAt]);
        Assert.Equal((byte)KvTxnOpKind.Put, command[FailureKindAt]);
    }

    [Fact]
    public void A_transaction_round_trips_through_the_codec_field_by_field()
    {
        var txn = Everything();
        var command = KvCommandCodec.EncodeTxn(txn, new KvSession("client", 42));

        Assert.True(KvCommandCodec.TryDecode(command, out var decoded));
        Assert.Equal(KvCommandType.Txn, decoded.Type);
        Assert.Equal(KvCommandFlags.Timed | KvCommandFlags.Session, decoded.Flags);
        Assert.True(decoded.Key.IsEmpty);
        Assert.Equal("client", Encoding.UTF8.GetString(decoded.ClientId));
        Assert.Equal(42UL, decoded.Sequence);
        Assert.Equal(KvTxnCodec.EncodedBytes(txn), decoded.Value.Length);
        Assert.True(KvTxnCodec.IsValid(decoded.Value));

        var reader = new KvTxnReader(decoded.Value);
        Assert.True(reader.TryCount(out var compares));
        Assert.Equal(txn.Compare.Count, compares);
        foreach (var expected in txn.Compare)
        {
            Assert.True(reader.TryCompare(out var compare));
            Assert.Equal((expected.Target, expected.Op, expected.Key), (compare.Target, compare.Op, Encoding.UTF8.GetString(compare.Key)));
            Assert.Equal(expected.Target == KvCompareTarget.Value ? 0 : expected.Number, compare.Number);
            Assert.Equal(expected.Value ?? [], compare.Value.ToArray());
        }

        foreach (var list in new[] { txn.Success, txn.Failure })
        {
            Assert.True(reader.TryCount(out var count));
            Assert.Equal(list.Count, count);
            foreach (var expected in list)
            {
                Assert.True(reader.TryOp(out var op));
                Assert.Equal((expected.Kind, expected.Key), (op.Kind, Encoding.UTF8.GetString(op.Key)));
                Assert.Equal(expected.Value ?? [], op.Value.ToArray());
            }
        }

        Assert.True(reader.AtEnd);
    }

    [Fact]
    public void Every_strict_prefix_of_a_transaction_command_fails_to_decode_and_applies_as_invalid()
    {
        foreach (var command in new[] { KvCommandCodec.EncodeTxn(Everything(), default), KvCommandCodec.EncodeTxn(Everything(), new KvSession("c", 1)) })
        {
            Assert.True(KvCommandCodec.TryDecode(command, out _));
            var kv = Upgraded("k");
            for (var cut = 0; cut < command.Length; cut++)
            {
                Assert.False(KvCommandCodec.TryDecode(command.AsSpan(0, cut), out _), $"cut at {cut} of {command.Length}");
                Assert.Equal(KvApplyStatus.Invalid, Next(kv, command[..cut]).Status);
            }

            Assert.Equal(["k"], Keys(kv));
            Assert.False(KvCommandCodec.TryDecode([.. command, 0], out _), "a trailing byte");
        }
    }

    [Theory]
    [InlineData(CompareTargetAt, 0)]
    [InlineData(CompareTargetAt, 5)]
    [InlineData(CompareTargetAt, 0xFF)]
    [InlineData(CompareOpAt, 0)]
    [InlineData(CompareOpAt, 5)]
    [InlineData(CompareOpAt, 0xFF)]
    [InlineData(SuccessKindAt, 0)]
    [InlineData(SuccessKindAt, 5)]
    [InlineData(FailureKindAt, 0)]
    [InlineData(FailureKindAt, 5)]
    [InlineData(FailureKindAt, 0xFF)]
    public void A_target_operator_or_kind_this_version_does_not_define_fails_to_decode(int at, int undefined)
    {
        var command = Layout();
        Assert.True(KvCommandCodec.TryDecode(command, out _));
        command[at] = (byte)undefined;
        Assert.False(KvCommandCodec.TryDecode(command, out _));

        // An undefined byte inside a transaction is a malformed command of a known type, not a newer one: invalid, no stop.
        var kv = Upgraded();
        Assert.Equal(KvApplyStatus.Invalid, kv.Apply(2, command).Status);
    }

    [Fact]
    public void An_exists_compare_takes_only_equal_or_not_equal_and_0_or_1()
    {
        var command = KvCommandCodec.EncodeTxn(new KvTxn([new KvCompare("k", KvCompareTarget.Exists, KvCompareOp.Equal, 1)], [], []), default);
        const int opAt = 7;
        const int operandAt = 11;
        Assert.Equal((byte)KvCompareOp.Equal, command[opAt]);
        Assert.Equal(1, command[operandAt]);
        Assert.Equal(operandAt + 5, command.Length);
        Assert.True(KvCommandCodec.TryDecode(command, out _));

        foreach (var (at, value, valid) in new (int, byte, bool)[]
        {
            (opAt, (byte)KvCompareOp.NotEqual, true),
            (opAt, (byte)KvCompareOp.Less, false),
            (opAt, (byte)KvCompareOp.Greater, false),
            (operandAt, 0, true),
            (operandAt, 2, false),
            (operandAt, 0xFF, false),
        })
        {
            var changed = (byte[])command.Clone();
            changed[at] = value;
            Assert.Equal(valid, KvCommandCodec.TryDecode(changed, out _));
        }
    }

    [Fact]
    public void A_key_or_prefix_of_zero_bytes_or_of_bytes_that_are_not_UTF8_fails_to_decode()
    {
        static byte[] Command(params byte[] body) => [(byte)KvCommandType.Txn, 0, 0, 0, .. body];

        // No compares, one delete of "k", no failure operations; then the same with a key of zero bytes.
        Assert.True(KvCommandCodec.TryDecode(Command(0, 0, 1, 0, 2, 1, 0, (byte)'k', 0, 0), out _));
        Assert.False(KvCommandCodec.TryDecode(Command(0, 0, 1, 0, 2, 0, 0, 0, 0), out _));
        Assert.False(KvCommandCodec.TryDecode(Command(0, 0, 1, 0, 3, 0, 0, 0, 0), out _));
        Assert.False(KvCommandCodec.TryDecode(Command(0, 0, 1, 0, 4, 0, 0, 0, 0), out _));
        Assert.False(KvCommandCodec.TryDecode(Command(0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0), out _));
        Assert.False(KvCommandCodec.TryDecode(Command(0, 0, 1, 0, 2, 1, 0, 0xFF, 0, 0), out _));

        // One exists compare on "k"; then on a key of zero bytes.
        Assert.True(KvCommandCodec.TryDecode(Command(1, 0, 4, 1, 1, 0, (byte)'k', 1, 0, 0, 0, 0), out _));
        Assert.False(KvCommandCodec.TryDecode(Command(1, 0, 4, 1, 0, 0, 1, 0, 0, 0, 0), out _));

        // A put whose value length runs past the end.
        Assert.True(KvCommandCodec.TryDecode(Command(0, 0, 1, 0, 1, 1, 0, (byte)'k', 1, 0, 0, 0, (byte)'v', 0, 0), out _));
        Assert.False(KvCommandCodec.TryDecode(Command(0, 0, 1, 0, 1, 1, 0, (byte)'k', 2, 0, 0, 0, (byte)'v', 0, 0), out _));
        Assert.False(KvCommandCodec.TryDecode(Command(0, 0, 1, 0, 1, 1, 0, (byte)'k', 0xFF, 0xFF, 0xFF, 0xFF, (byte)'v', 0, 0), out _));

        // A transaction carries no key in the header.
        Assert.False(KvCommandCodec.TryDecode([(byte)KvCommandType.Txn, 0, 1, 0, (byte)'k', 0, 0, 0, 0, 0, 0], out _));
    }

    [Fact]
    public void A_cluster_version_command_takes_no_flags_no_key_and_a_version_of_at_least_1()
    {
        var command = KvCommandCodec.EncodeSetClusterVersion(2);
        Assert.Equal(new byte[] { (byte)KvCommandType.SetClusterVersion, 0, 0, 0, 2, 0, 0, 0 }, command);
        Assert.True(KvCommandCodec.TryDecode(command, out var decoded));
        Assert.Equal((KvCommandType.SetClusterVersion, 2UL), (decoded.Type, decoded.ExpectedVersion));

        Assert.False(KvCommandCodec.TryDecode([8, 0, 0, 0, 0, 0, 0, 0], out _), "version 0");
        Assert.False(KvCommandCodec.TryDecode([8, 0, 0, 0, 0, 0, 0, 0x80], out _), "a version above int.MaxValue");
        Assert.False(KvCommandCodec.TryDecode([8, 2, 0, 0, 2, 0, 0, 0], out _), "flags");
        Assert.False(KvCommandCodec.TryDecode([8, 0, 1, 0, (byte)'k', 2, 0, 0, 0], out _), "a key");
        Assert.False(KvCommandCodec.TryDecode([8, 0, 0, 0, 2, 0, 0], out _), "three bytes");
        Assert.False(KvCommandCodec.TryDecode([8, 0, 0, 0, 2, 0, 0, 0, 0], out _), "five bytes");
        Assert.Throws<ArgumentOutOfRangeException>(() => KvCommandCodec.EncodeSetClusterVersion(0));
    }

    [Fact]
    public void EncodedBytes_refuses_what_the_log_format_cannot_carry()
    {
        KvTxn[] refused =
        [
            new([], [new KvTxnOp(KvTxnOpKind.Put, "k")], []),
            new([], [], [new KvTxnOp(KvTxnOpKind.Put, "k")]),
            new([], [new KvTxnOp(0, "k")], []),
            new([], [], [new KvTxnOp((KvTxnOpKind)5, "k")]),
            new([], [Get(string.Empty)], []),
            new([], [DeletePrefix(string.Empty)], []),
            new([], [Get("\uD800")], []),
            new([new KvCompare("k", 0, KvCompareOp.Equal)], [], []),
            new([new KvCompare("k", (KvCompareTarget)5, KvCompareOp.Equal)], [], []),
            new([new KvCompare("k", KvCompareTarget.Version, 0)], [], []),
            new([new KvCompare("k", KvCompareTarget.Value, (KvCompareOp)5, Value: [])], [], []),
            new([new KvCompare("k", KvCompareTarget.Value, KvCompareOp.Equal)], [], []),
            new([new KvCompare("k", KvCompareTarget.Exists, KvCompareOp.Equal, 2)], [], []),
            new([new KvCompare("k", KvCompareTarget.Exists, KvCompareOp.Less, 1)], [], []),
            new([new KvCompare("k", KvCompareTarget.Exists, KvCompareOp.Greater, 0)], [], []),
            new([new KvCompare(string.Empty, KvCompareTarget.Version, KvCompareOp.Equal)], [], []),
        ];

        for (var i = 0; i < refused.Length; i++)
        {
            var txn = refused[i];
            var measured = Record.Exception(() => KvTxnCodec.EncodedBytes(txn));
            Assert.True(measured is ArgumentException, $"case {i}: {measured?.GetType().Name ?? "no exception"}");
            var encoded = Record.Exception(() => KvCommandCodec.EncodeTxn(txn, default));
            Assert.True(encoded is ArgumentException, $"case {i}: {encoded?.GetType().Name ?? "no exception"}");
        }

        Assert.Equal(6, KvTxnCodec.EncodedBytes(new KvTxn([], [], [])));
        Assert.Equal(KvCommandCodec.HeaderBytes + 6, KvCommandCodec.EncodeTxn(new KvTxn([], [], []), default).Length);
    }

    [Fact]
    public void No_single_byte_change_of_a_transaction_command_makes_decoding_or_applying_throw()
    {
        var command = KvCommandCodec.EncodeTxn(Everything(), new KvSession("c", 1));
        var kv = Upgraded("k", "p/1");
        var decoded = 0;
        for (var at = 0; at < command.Length; at++)
        {
            for (var value = 0; value < 256; value++)
            {
                var changed = (byte[])command.Clone();
                changed[at] = (byte)value;
                if (!KvCommandCodec.TryDecode(changed, out _))
                {
                    continue;
                }

                decoded++;
                Next(kv, changed);
            }
        }

        // The unchanged command at every position, and changes to values, names and operands that keep the layout.
        Assert.True(decoded > command.Length, $"{decoded} decoded");
    }

    /// <summary>Every compare target and every operation kind, in both branches.</summary>
    private static KvTxn Everything() => new(
        [
            new KvCompare("k", KvCompareTarget.Version, KvCompareOp.Less, 0x0102030405060708),
            new KvCompare("k", KvCompareTarget.CreateIndex, KvCompareOp.Greater, 3),
            new KvCompare("€", KvCompareTarget.Value, KvCompareOp.NotEqual, Value: Bytes("value")),
            new KvCompare("k", KvCompareTarget.Value, KvCompareOp.Equal, Value: []),
            new KvCompare("absent", KvCompareTarget.Exists, KvCompareOp.NotEqual, 1),
        ],
        [Put("k", "v"), Put("empty", string.Empty), Delete("k"), DeletePrefix("p/"), Get("k")],
        [Get("x"), Put("y", "z")]);

    private static KvTxn LayoutTxn() => new([new KvCompare("k", KvCompareTarget.Version, KvCompareOp.Equal, 7)], [Delete("k")], [Put("k", "vw")]);

    private static byte[] Layout() => KvCommandCodec.EncodeTxn(LayoutTxn(), default);
}
