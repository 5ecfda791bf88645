using System.Text;

namespace Raft.KeyValue.Tests;

/// <summary>The copy-on-write B+tree against a sorted dictionary: puts, deletes, lookups, listings, freezes, bulk builds.</summary>
public sealed class KvTreeTests
{
    // Characters that sort differently in ordinal UTF-16 order than in UTF-8 or culture order: a surrogate pair
    // (D83D DE00) sorts below U+E000 and U+FFFD, whose UTF-8 forms sort below its own.
    private const string Alphabet = "ab/0z\u00e9\ue000\ufffd\ud83d\ude00";

    public static TheoryData<int, int> SeedsAndCapacities => new()
    {
        { 1, 4 }, { 2, 4 }, { 3, 5 }, { 4, 64 }, { 5, 64 }, { 6, 7 },
    };

    [Theory]
    [MemberData(nameof(SeedsAndCapacities))]
    public void Random_puts_deletes_gets_and_listings_agree_with_a_sorted_dictionary(int seed, int capacity)
    {
        var random = new Random(seed);
        var tree = new KvTree(capacity, capacity);
        var reference = new SortedDictionary<string, KvValue>(StringComparer.Ordinal);
        var known = new List<string>();
        ulong version = 0;

        void Step(string key, double putShare)
        {
            var roll = random.NextDouble();
            if (roll < putShare)
            {
                ref var slot = ref tree.GetValueRefOrAddDefault(key, out var exists);
                Assert.Equal(reference.ContainsKey(key), exists);
                var value = new KvValue([], ++version, exists ? slot.CreateIndex : version);
                slot = value;
                reference[key] = value;
            }
            else if (roll < putShare + ((1 - putShare) / 2))
            {
                Assert.Equal(reference.Remove(key, out var expected), tree.Remove(key, out var removed));
                Assert.Equal(expected, removed);
            }
            else
            {
                Assert.Equal(reference.TryGetValue(key, out var expected), tree.TryGetValue(key, out var found));
                Assert.Equal(expected, found);
            }

            Assert.Equal(reference.Count, tree.Count);
            if (version % 997 == 0)
            {
                var prefix = key[..random.Next(key.Length + 1)];
                var limit = random.Next(1, 100);
                Assert.Equal(ReferenceFrom(reference, prefix).Take(limit), Listing(tree.From(prefix)).Take(limit));
                Assert.Equal(ReferenceAfter(reference, key).Take(limit), Listing(tree.After(key)).Take(limit));
            }
        }

        // Grow to tens of thousands of keys, then churn.
        foreach (var (operations, putShare) in new[] { (80_000, 0.9), (30_000, 0.5) })
        {
            for (var i = 0; i < operations; i++)
            {
                Step(RandomKey(random, known), putShare);
            }

            tree.Validate();
            Assert.Equal(reference, Listing(tree.From(string.Empty)));
        }

        Assert.InRange(tree.Count, 20_000, 80_000);
        var heightAtMost = tree.Height;

        // Then delete 95% of the keys, between other operations: empty leaves go, roots collapse.
        var doomed = reference.Keys.ToArray();
        random.Shuffle(doomed);
        for (var i = 0; i < doomed.Length * 95 / 100; i++)
        {
            Assert.Equal(reference.Remove(doomed[i]), tree.Remove(doomed[i], out _));
            Step(RandomKey(random, known), 0.1);
        }

        tree.Validate();
        Assert.Equal(reference, Listing(tree.From(string.Empty)));
        Assert.InRange(tree.Height, 1, heightAtMost);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(64)]
    public void Deleting_every_key_leaves_an_empty_tree_whose_root_is_a_leaf(int capacity)
    {
        var random = new Random(11);
        var tree = new KvTree(capacity, capacity);
        var keys = Enumerable.Range(0, 30_000).Select(i => $"key/{i:D10}").ToArray();
        foreach (var key in keys)
        {
            tree.GetValueRefOrAddDefault(key, out _) = new KvValue([], 1, 1);
        }

        Assert.True(tree.Height > 2);
        random.Shuffle(keys);
        foreach (var key in keys)
        {
            Assert.True(tree.Remove(key, out _));
        }

        tree.Validate();
        Assert.Equal((0, 1), (tree.Count, tree.Height));
        Assert.Empty(Listing(tree.From(string.Empty)));
        tree.GetValueRefOrAddDefault("again", out var exists) = new KvValue([], 2, 2);
        Assert.False(exists);
        Assert.Equal(["again"], Listing(tree.From(string.Empty)).Select(e => e.Key));
    }

    [Fact]
    public void Keys_written_in_ascending_order_fill_their_nodes()
    {
        var tree = new KvTree();
        for (var i = 0; i < 64 * 64; i++)
        {
            tree.GetValueRefOrAddDefault($"seq/{i:D8}", out _) = new KvValue([], 1, 1);
        }

        // 64 full leaves of 64 under a root of 64: halved leaves would need a third level.
        tree.Validate();
        Assert.Equal(2, tree.Height);
        tree.GetValueRefOrAddDefault($"seq/{64 * 64:D8}", out _) = new KvValue([], 1, 1);
        Assert.Equal(3, tree.Height);
    }

    [Theory]
    [MemberData(nameof(SeedsAndCapacities))]
    public void A_frozen_tree_keeps_the_state_at_freeze_time_while_writes_go_on(int seed, int capacity)
    {
        var random = new Random(seed);
        var tree = new KvTree(capacity, capacity);
        var reference = new SortedDictionary<string, KvValue>(StringComparer.Ordinal);
        var frozen = new List<(KvTree.Frozen Tree, KeyValuePair<string, KvValue>[] Expected)>();
        var known = new List<string>();
        ulong version = 0;
        for (var i = 1; i <= 30_000; i++)
        {
            var key = RandomKey(random, known);
            if (random.Next(3) == 0)
            {
                Assert.Equal(reference.Remove(key), tree.Remove(key, out _));
            }
            else
            {
                ref var slot = ref tree.GetValueRefOrAddDefault(key, out _);
                slot = new KvValue([], ++version, version);
                reference[key] = slot;
            }

            if (i % 3_000 == 0)
            {
                frozen.Add((tree.Freeze(), reference.ToArray()));
            }

            // Every view taken so far, checked while the tree keeps changing under them.
            if (i % 5_000 == 0)
            {
                foreach (var (view, expected) in frozen)
                {
                    CheckFrozen(view, expected, random);
                }
            }
        }

        foreach (var (view, expected) in frozen)
        {
            CheckFrozen(view, expected, random);
        }

        tree.Validate();
        Assert.Equal(reference, Listing(tree.From(string.Empty)));
    }

    [Fact]
    public void Writes_right_after_a_freeze_copy_only_the_paths_they_touch()
    {
        var tree = new KvTree();
        for (var i = 0; i < 100_000; i++)
        {
            tree.GetValueRefOrAddDefault($"key/{i:D10}", out _) = new KvValue([], 1, 1);
        }

        var frozen = tree.Freeze();
        var before = GC.GetAllocatedBytesForCurrentThread();
        tree.GetValueRefOrAddDefault("key/0000000042", out _) = new KvValue([], 2, 1);
        var firstWrite = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        tree.GetValueRefOrAddDefault("key/0000000043", out _) = new KvValue([], 3, 1);
        var sameLeafAgain = GC.GetAllocatedBytesForCurrentThread() - before;

        // One leaf (arrays of 64 keys, heads and 32-byte values) and one branch per level above it (arrays of 64
        // keys, heads and children).
        Assert.InRange(firstWrite, 3_100, 3_300 + ((tree.Height - 1) * 1_700));
        Assert.Equal(0, sameLeafAgain);
        Assert.True(frozen.TryGetValue("key/0000000042", out var old));
        Assert.Equal(1UL, old.Version);
        Assert.True(tree.TryGetValue("key/0000000042", out var current));
        Assert.Equal(2UL, current.Version);
    }

    [Fact]
    public void Two_trees_that_adopt_one_frozen_tree_write_apart_and_leave_it_intact()
    {
        var source = new KvTree(4, 4);
        for (var i = 0; i < 1_000; i++)
        {
            source.GetValueRefOrAddDefault($"k{i:D4}", out _) = new KvValue([], 1, 1);
        }

        var frozen = source.Freeze();
        var expected = Listing(frozen.From(string.Empty)).ToArray();
        var a = new KvTree();
        var b = new KvTree(5, 6);
        a.Adopt(frozen);
        b.Adopt(frozen);
        for (var i = 0; i < 1_000; i += 2)
        {
            a.Remove($"k{i:D4}", out _);
            b.GetValueRefOrAddDefault($"k{i:D4}", out _) = new KvValue([], 2, 1);
            b.GetValueRefOrAddDefault($"k{i:D4}+", out _) = new KvValue([], 2, 2);
        }

        source.GetValueRefOrAddDefault("k0001", out _) = new KvValue([], 3, 1);
        a.Validate();
        b.Validate();
        Assert.Equal((500, 1_500), (a.Count, b.Count));
        Assert.Equal(expected, Listing(frozen.From(string.Empty)));
        frozen.Validate();
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(1, 4)]
    [InlineData(4, 4)]
    [InlineData(5, 4)]
    [InlineData(17, 4)]
    [InlineData(1_000, 4)]
    [InlineData(63, 64)]
    [InlineData(64, 64)]
    [InlineData(65, 64)]
    [InlineData(4_097, 64)]
    [InlineData(50_000, 64)]
    public void A_bulk_built_tree_holds_its_keys_in_order_and_takes_writes_like_any_other(int count, int capacity)
    {
        var keys = Enumerable.Range(0, count).Select(i => $"key/{i * 7:D8}").ToArray();
        var builder = new KvTree.Builder(count, capacity, capacity);
        foreach (var key in keys)
        {
            Assert.True(builder.TryAdd(key, new KvValue([], 1, 1)));
        }

        var frozen = builder.Build();
        frozen.Validate();
        Assert.Equal(keys, Listing(frozen.From(string.Empty)).Select(e => e.Key));

        var random = new Random(count);
        var tree = new KvTree(capacity, capacity);
        tree.Adopt(frozen);
        var reference = new SortedDictionary<string, KvValue>(keys.ToDictionary(k => k, _ => new KvValue([], 1, 1)), StringComparer.Ordinal);
        for (var i = 0; i < 3 * count; i++)
        {
            var key = $"key/{random.Next(count * 8):D8}";
            if (random.Next(2) == 0)
            {
                Assert.Equal(reference.Remove(key), tree.Remove(key, out _));
            }
            else
            {
                tree.GetValueRefOrAddDefault(key, out _) = new KvValue([], 2, 2);
                reference[key] = new KvValue([], 2, 2);
            }
        }

        tree.Validate();
        Assert.Equal(reference, Listing(tree.From(string.Empty)));
        Assert.Equal(keys, Listing(frozen.From(string.Empty)).Select(e => e.Key));
    }

    [Fact]
    public void A_bulk_build_refuses_keys_out_of_order_or_repeated_and_a_count_that_does_not_add_up()
    {
        var builder = new KvTree.Builder(3);
        Assert.True(builder.TryAdd("b", default));
        Assert.False(builder.TryAdd("b", default));
        Assert.False(builder.TryAdd("a", default));
        Assert.True(builder.TryAdd("\ud83d\ude00", default));
        Assert.True(builder.TryAdd("\ue000", default));
        Assert.Throws<InvalidOperationException>(() => builder.TryAdd("\uffff", default));
        Assert.Throws<InvalidOperationException>(() => new KvTree.Builder(2).Build());
    }

    [Theory]
    [MemberData(nameof(SeedsAndCapacities))]
    public void A_walk_after_a_key_starts_at_the_next_key_whether_the_key_is_stored_or_not(int seed, int capacity)
    {
        var random = new Random(seed);
        var tree = new KvTree(capacity, capacity);
        var reference = new SortedDictionary<string, KvValue>(StringComparer.Ordinal);
        var known = new List<string>();
        for (ulong i = 1; i <= 2_000; i++)
        {
            var key = RandomKey(random, known);
            var value = new KvValue([], i, i);
            tree.GetValueRefOrAddDefault(key, out _) = value;
            reference[key] = value;
        }

        var frozen = tree.Freeze();
        var stored = reference.Keys.ToList();
        var probes = new List<string> { string.Empty, stored[0], stored[^1], stored[^1] + "a", "￿￿" };
        probes.AddRange(Enumerable.Range(0, 200).Select(_ => stored[random.Next(stored.Count)]));
        probes.AddRange(Enumerable.Range(0, 200).Select(_ => RandomKey(random, [])));
        foreach (var probe in probes)
        {
            var expected = ReferenceAfter(reference, probe).Take(5).ToList();
            Assert.Equal(expected, Listing(tree.After(probe)).Take(5));
            Assert.Equal(expected, Listing(frozen.After(probe)).Take(5));
        }

        // Paging by the last key of each page walks every key once, in order.
        var walked = new List<string>();
        var page = Listing(tree.From(string.Empty)).Take(7).ToList();
        while (page.Count > 0)
        {
            walked.AddRange(page.Select(e => e.Key));
            page = Listing(tree.After(page[^1].Key)).Take(7).ToList();
        }

        Assert.Equal(stored, walked);
    }

    private static void CheckFrozen(KvTree.Frozen view, KeyValuePair<string, KvValue>[] expected, Random random)
    {
        Assert.Equal(expected.Length, view.Count);
        Assert.Equal(expected, Listing(view.From(string.Empty)));
        for (var probe = 0; probe < 100 && expected.Length > 0; probe++)
        {
            var (key, value) = expected[random.Next(expected.Length)];
            Assert.True(view.TryGetValue(key, out var found));
            Assert.Equal(value, found);
        }
    }

    // Half the time a key used before (deletes must find keys to remove), else a short random one.
    private static string RandomKey(Random random, List<string> known)
    {
        if (known.Count > 0 && random.Next(2) == 0)
        {
            return known[random.Next(known.Count)];
        }

        var builder = new StringBuilder();
        var length = 1 + random.Next(10);
        while (builder.Length < length)
        {
            var c = Alphabet[random.Next(Alphabet.Length)];
            if (char.IsHighSurrogate(c))
            {
                builder.Append(c).Append(Alphabet[Alphabet.IndexOf(c, StringComparison.Ordinal) + 1]);
            }
            else if (!char.IsLowSurrogate(c))
            {
                builder.Append(c);
            }
        }

        known.Add(builder.ToString());
        return known[^1];
    }

    private static IEnumerable<KeyValuePair<string, KvValue>> ReferenceFrom(SortedDictionary<string, KvValue> reference, string prefix) =>
        reference.Where(e => string.CompareOrdinal(e.Key, prefix) >= 0);

    private static IEnumerable<KeyValuePair<string, KvValue>> ReferenceAfter(SortedDictionary<string, KvValue> reference, string key) =>
        reference.Where(e => string.CompareOrdinal(e.Key, key) > 0);

    private static List<KeyValuePair<string, KvValue>> Listing(KvTree.Enumerator enumerator)
    {
        var items = new List<KeyValuePair<string, KvValue>>();
        foreach (var entry in enumerator)
        {
            items.Add(new(entry.Key, entry.Value));
        }

        return items;
    }
}
