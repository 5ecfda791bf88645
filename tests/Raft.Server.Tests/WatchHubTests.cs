using System.Text;
using Raft.KeyValue;

namespace Raft.Server.Tests;

/// <summary>
/// The watch history against the store it observes, over seeded random runs: whatever its bounds, a reader opened
/// after any index it accepts gets exactly the changes the store made after that index, in log order, each once,
/// never part of an entry; an index it refuses is one whose changes it no longer all holds; a reader left behind is
/// told so; a restored snapshot starts the history again.
/// </summary>
public sealed class WatchHubTests
{
    private sealed record Made(ulong Index, string Key, string? Value);

    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 16)]
    [InlineData(3, 64)]
    [InlineData(4, 1000)]
    public void Readers_opened_anywhere_get_exactly_the_changes_after_their_index_in_order(int seed, int capacity)
    {
        var random = new Random(seed);
        var hub = new WatchHub(capacity, 1L << 30, 100);
        var made = new List<Made>();
        var store = new KvStore(new KvStoreOptions
        {
            KeyChanged = hub.OnChanged,
            Restored = hub.OnRestored,
        });
        // A second store, applying the same commands, records what changed: the reference the history must reproduce.
        var reference = new KvStore(new KvStoreOptions
        {
            KeyChanged = (in KvChange c) => made.Add(new Made(c.Index, new string(c.Key), c.Value is null ? null : Encoding.UTF8.GetString(c.Value))),
        });
        store.Apply(1, KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Transactions));
        reference.Apply(1, KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Transactions));
        var readers = new List<(ulong From, long Position, List<WatchChange> Got, bool Behind)>();
        ulong index = 1;
        for (var step = 0; step < 3000; step++)
        {
            index++;
            var key = $"k/{random.Next(8)}";
            byte[] command;
            switch (random.Next(6))
            {
                case 0:
                    command = KvCommandCodec.EncodeDelete(key);
                    break;
                case 1:
                    // One entry, several changes: the history must hand it out whole.
                    command = KvCommandCodec.EncodeTxn(new KvTxn([], [new KvTxnOp(KvTxnOpKind.Put, "k/a", "x"u8.ToArray()), new KvTxnOp(KvTxnOpKind.DeletePrefix, "k/"), new KvTxnOp(KvTxnOpKind.Put, key, "y"u8.ToArray())], []), default);
                    break;
                default:
                    command = KvCommandCodec.EncodePut(key, Encoding.UTF8.GetBytes($"v{index}"));
                    break;
            }

            store.Apply(index, command);
            reference.Apply(index, command);

            // Publish now and then, as the node does after a batch.
            if (random.Next(3) == 0)
            {
                hub.Publish(store.AppliedIndex);
                for (var r = 0; r < readers.Count; r++)
                {
                    var (from, position, got, behind) = readers[r];
                    if (!behind)
                    {
                        behind = !hub.Read(ref position, got, random.Next(1, 64), out _, out _);
                    }

                    readers[r] = (from, position, got, behind);
                }

                if (random.Next(4) == 0)
                {
                    var from = (ulong)random.NextInt64(0, (long)store.AppliedIndex + 1);
                    if (hub.TryOpen(from, out var position, out var oldest))
                    {
                        readers.Add((from, position, [], false));
                    }
                    else
                    {
                        // Refused only for an index whose changes are no longer all held.
                        Assert.True(from < oldest);
                        Assert.Contains(made, m => m.Index > from && m.Index <= oldest);
                    }
                }
            }
        }

        hub.Publish(store.AppliedIndex);
        foreach (var (from, start, got, behind) in readers)
        {
            var position = start;
            if (behind)
            {
                continue;
            }

            if (!hub.Read(ref position, got, int.MaxValue, out _, out _))
            {
                continue;
            }

            // Everything after its index, in order, once: what the reference made.
            var expected = made.Where(m => m.Index > from).Select(m => $"{m.Index} {m.Key} {m.Value}");
            var actual = got.Select(c => $"{c.Index} {c.Key} {(c.Value is null ? null : Encoding.UTF8.GetString(c.Value))}");
            Assert.Equal(expected, actual);
        }

        // Both outcomes happen: a history smaller than a batch of changes leaves readers behind, a large one does not.
        if (capacity >= 64)
        {
            Assert.Contains(readers, r => !r.Behind && r.Got.Count > 0);
        }

        if (capacity <= 64)
        {
            Assert.Contains(readers, r => r.Behind);
        }
    }

    [Fact]
    public void A_restored_snapshot_starts_the_history_again_and_ends_readers_from_before_it()
    {
        var hub = new WatchHub(100, 1L << 30, 10);
        var store = new KvStore(new KvStoreOptions { KeyChanged = hub.OnChanged, Restored = hub.OnRestored });
        store.Apply(1, KvCommandCodec.EncodePut("a", "1"u8));
        store.Apply(2, KvCommandCodec.EncodePut("b", "2"u8));
        hub.Publish(2);
        Assert.True(hub.TryOpen(0, out var position, out _));

        var other = new KvStore();
        for (ulong i = 1; i <= 9; i++)
        {
            other.Apply(i, KvCommandCodec.EncodePut($"k{i}", "v"u8));
        }

        store.RestoreSnapshot(other.CreateSnapshot());
        hub.Publish(store.AppliedIndex);
        Assert.False(hub.Read(ref position, [], 10, out _, out _));
        Assert.False(hub.TryOpen(8, out _, out var oldest));
        Assert.Equal(9UL, oldest);
        Assert.True(hub.TryOpen(9, out var fresh, out _));
        store.Apply(10, KvCommandCodec.EncodePut("c", "3"u8));
        hub.Publish(10);
        var changes = new List<WatchChange>();
        Assert.True(hub.Read(ref fresh, changes, 10, out var published, out _));
        Assert.Equal(10UL, published);
        Assert.Equal("c", Assert.Single(changes).Key);
    }

    [Fact]
    public void A_reader_that_had_read_everything_is_ended_by_a_restored_snapshot_too()
    {
        var hub = new WatchHub(100, 1L << 30, 10);
        var store = new KvStore(new KvStoreOptions { KeyChanged = hub.OnChanged, Restored = hub.OnRestored });
        store.Apply(1, KvCommandCodec.EncodePut("a", "1"u8));
        hub.Publish(1);
        Assert.True(hub.TryOpen(0, out var position, out _));
        var changes = new List<WatchChange>();
        Assert.True(hub.Read(ref position, changes, 10, out var published, out var next));
        Assert.Equal(1UL, published);

        // A lagging node installs a snapshot holding a change (b at 2) it never applied, then applies the next entry.
        var leader = new KvStore();
        leader.Apply(1, KvCommandCodec.EncodePut("a", "1"u8));
        leader.Apply(2, KvCommandCodec.EncodePut("b", "2"u8));
        store.RestoreSnapshot(leader.CreateSnapshot());
        Assert.True(next.IsCompleted, "a reader waiting for the next publish wakes at the restore");
        store.Apply(3, KvCommandCodec.EncodePut("c", "3"u8));
        hub.Publish(3);

        // Reading on would hand out c as the change after a: the reader is ended, and its index is no longer watchable.
        Assert.False(hub.Read(ref position, changes, 10, out _, out _));
        Assert.False(hub.TryOpen(1, out _, out var oldest));
        Assert.Equal(2UL, oldest);
    }

    [Fact]
    public void A_watch_delivers_the_matching_changes_after_its_index_an_entry_s_changes_together()
    {
        var batch = new List<WatchChange>
        {
            new(4, "app/a", "1"u8.ToArray(), 4, 4),
            new(5, "app/b", "2"u8.ToArray(), 5, 5),
            new(6, "other", "3"u8.ToArray(), 6, 6),
            new(6, "app/a", null, 0, 0),
            new(6, "app/c", "4"u8.ToArray(), 6, 6),
            new(7, "app", "5"u8.ToArray(), 7, 7),
        };
        var prefix = new List<WatchChange>();
        var key = new List<WatchChange>();

        // Read again from a node that was behind the index the watch resumed from (4): what it had is not repeated.
        new WatchFilter("app/", IsPrefix: true).Select(batch, after: 4, prefix);
        new WatchFilter("app/a", IsPrefix: false).Select(batch, after: 0, key);

        Assert.Equal(["5 app/b", "6 app/a", "6 app/c"], prefix.Select(c => $"{c.Index} {c.Key}"));
        Assert.Equal(["4 app/a", "6 app/a"], key.Select(c => $"{c.Index} {c.Key}"));
    }
}
