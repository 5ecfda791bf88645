using Raft.Core;

namespace Raft.Storage.Tests;

/// <summary>
/// The <see cref="ILogStore"/> contract, run against every implementation. A derived class supplies the
/// store; <see cref="Reopen"/> plays a clean restart (a no-op for the in-memory store).
/// </summary>
public abstract class LogStoreContractTests<TLog> : IDisposable
    where TLog : ILogStore
{
    private TLog? _log;

    protected TLog Log => _log ??= Create();

    protected abstract TLog Create();

    /// <summary>Closes and reopens the store, returning what a restarted node would see.</summary>
    protected abstract TLog Reopen(TLog log);

    public virtual void Dispose()
    {
        _log?.Dispose();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public void New_log_is_empty_at_index_one()
    {
        Assert.Equal(1UL, Log.FirstIndex);
        Assert.Equal(0UL, Log.LastIndex);
        Assert.Equal(0UL, Log.DurableIndex);
        Assert.False(Log.TryGetTerm(0, out _));
        Assert.False(Log.TryGetTerm(1, out _));
    }

    [Fact]
    public void Append_then_read_returns_the_same_entries()
    {
        var entries = new[]
        {
            Entries.Make(1, 1, 0, EntryType.NoOp),
            Entries.Make(2, 1, 100),
            Entries.Make(3, 2, 5, EntryType.Membership),
            Entries.Make(4, 2, 4096),
        };
        Log.Append(entries);

        Assert.Equal(4UL, Log.LastIndex);
        using var read = Log.Read(1, 4, long.MaxValue);
        Assert.Equal(4, read.Count);
        for (var i = 0; i < entries.Length; i++)
        {
            Entries.AssertSame(entries[i], read.Span[i]);
        }

        Assert.Equal(entries.Sum(e => e.SizeBytes), read.SizeBytes);
        Assert.True(Log.TryGetTerm(3, out var term));
        Assert.Equal(2UL, term);
    }

    [Fact]
    public void Append_with_a_gap_is_rejected_and_changes_nothing()
    {
        Log.Append(Entries.Range(1, 3, 1));
        Assert.Throws<ArgumentException>(() => Log.Append([Entries.Make(5, 1)]));
        Assert.Equal(3UL, Log.LastIndex);
    }

    [Fact]
    public void Append_of_a_malformed_batch_is_rejected_before_anything_is_written()
    {
        Log.Append(Entries.Range(1, 3, 2));
        Assert.Throws<ArgumentException>(() => Log.Append([Entries.Make(4, 2), Entries.Make(6, 2)]));
        Assert.Throws<ArgumentException>(() => Log.Append([Entries.Make(4, 2), Entries.Make(5, 1)]));
        Assert.Throws<ArgumentException>(() => Log.Append([Entries.Make(4, 1)]));
        Assert.Throws<ArgumentException>(() => Log.Append([Entries.Make(4, 0)]));
        Assert.Throws<ArgumentException>(() => Log.Append([Entries.Make(4, 2, MemoryLogStore.DefaultEntryBytesMax + 1)]));
        Assert.Throws<ArgumentException>(() => Log.Append([new Entry(2, 4, (EntryType)9, default)]));
        Assert.Equal(3UL, Log.LastIndex);
        Assert.Equal(3, Entries.ReadAll(Log, 1, 3).Length);
    }

    [Fact]
    public void Append_over_existing_entries_truncates_the_conflicting_suffix()
    {
        Log.Append(Entries.Range(1, 10, 1));
        Log.Sync();
        Log.Append(Entries.Range(6, 7, 2));

        Assert.Equal(7UL, Log.LastIndex);
        Assert.Equal(5UL, Log.DurableIndex);
        var all = Entries.ReadAll(Log, 1, 7);
        Entries.AssertSame(Entries.Make(5, 1), all[4]);
        Entries.AssertSame(Entries.Make(6, 2), all[5]);
        Entries.AssertSame(Entries.Make(7, 2), all[6]);
        Assert.False(Log.TryGetTerm(8, out _));
    }

    [Fact]
    public void Sync_makes_everything_appended_durable()
    {
        Log.Append(Entries.Range(1, 5, 1));
        Assert.Equal(0UL, Log.DurableIndex);
        Assert.Equal(5UL, Log.Sync());
        Assert.Equal(5UL, Log.DurableIndex);
    }

    [Fact]
    public void Truncate_suffix_removes_entries_and_lowers_the_durable_index()
    {
        Log.Append(Entries.Range(1, 10, 1));
        Log.Sync();
        Log.TruncateSuffix(4);
        Assert.Equal(4UL, Log.LastIndex);
        Assert.Equal(4UL, Log.DurableIndex);
        Log.TruncateSuffix(9);
        Assert.Equal(4UL, Log.LastIndex);
        Log.TruncateSuffix(0);
        Assert.Equal(0UL, Log.LastIndex);
        Log.Append(Entries.Range(1, 2, 3));
        Entries.AssertSame(Entries.Make(1, 3), Entries.ReadAll(Log, 1, 2)[0]);
    }

    [Fact]
    public void Compact_prefix_hides_entries_below_it()
    {
        Log.Append(Entries.Range(1, 10, 1));
        Log.CompactPrefix(4);
        Assert.Equal(5UL, Log.FirstIndex);
        Assert.Equal(10UL, Log.LastIndex);
        Assert.False(Log.TryGetTerm(4, out _));
        Assert.True(Log.TryGetTerm(5, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => Log.Read(4, 10, long.MaxValue));
        Assert.Throws<ArgumentOutOfRangeException>(() => Log.TruncateSuffix(2));
        Assert.Throws<ArgumentException>(() => Log.Append([Entries.Make(4, 1)]));
        Log.CompactPrefix(2);
        Assert.Equal(5UL, Log.FirstIndex);
        Entries.AssertSame(Entries.Make(5, 1), Entries.ReadAll(Log, 5, 10)[0]);
    }

    [Fact]
    public void Compact_prefix_beyond_the_end_empties_the_log_at_the_snapshot()
    {
        Log.Append(Entries.Range(1, 3, 1));
        Log.CompactPrefix(50);
        Assert.Equal(51UL, Log.FirstIndex);
        Assert.Equal(50UL, Log.LastIndex);
        Assert.Equal(50UL, Log.DurableIndex);
        Assert.Throws<ArgumentException>(() => Log.Append([Entries.Make(52, 2)]));
        Log.Append(Entries.Range(51, 52, 2));
        Assert.Equal(52UL, Log.LastIndex);
        Entries.AssertSame(Entries.Make(51, 2), Entries.ReadAll(Log, 51, 52)[0]);
    }

    [Fact]
    public void Read_stops_at_the_byte_limit_but_returns_at_least_one_entry()
    {
        Log.Append(Entries.Range(1, 10, 1, size: 100));
        var entryBytes = Entries.Make(1, 1, 100).SizeBytes;

        using (var one = Log.Read(1, 10, 0))
        {
            Assert.Equal(1, one.Count);
        }

        using (var three = Log.Read(2, 10, (3 * entryBytes) + entryBytes - 1))
        {
            Assert.Equal(3, three.Count);
            Assert.Equal(2UL, three.Span[0].Index);
            Assert.Equal(3 * entryBytes, three.SizeBytes);
        }

        using var upToLast = Log.Read(8, 9, long.MaxValue);
        Assert.Equal(2, upToLast.Count);
    }

    [Fact]
    public void Read_outside_the_log_is_rejected()
    {
        Log.Append(Entries.Range(1, 3, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Log.Read(0, 1, 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => Log.Read(2, 4, 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => Log.Read(3, 2, 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => Log.Read(1, 2, -1));
    }

    [Fact]
    public void Synced_entries_survive_a_restart()
    {
        Log.Append(Entries.Range(1, 20, 1, size: 50));
        Log.Append(Entries.Range(21, 25, 2, size: 50));
        Log.Sync();

        var log = Reopen(Log);
        _log = log;
        Assert.Equal(25UL, log.LastIndex);
        Assert.Equal(25UL, log.DurableIndex);
        var all = Entries.ReadAll(log, 1, 25);
        Entries.AssertSame(Entries.Make(21, 2, 50), all[20]);
        log.Append([Entries.Make(26, 2)]);
        Assert.Equal(26UL, log.LastIndex);
    }

    /// <summary>
    /// Seeded random operations against a list that is obviously right: after each step the store must
    /// hold exactly what the list holds.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_operations_match_a_reference_list(int seed)
    {
        var random = new Random(seed);
        var model = new List<Entry>();
        ulong first = 1;
        ulong term = 1;
        for (var step = 0; step < 300; step++)
        {
            var last = first + (ulong)model.Count - 1;
            switch (random.Next(10))
            {
                case < 6:
                    {
                        // Append, sometimes overwriting a suffix with a newer term.
                        var start = model.Count > 0 && random.Next(4) == 0 ? last + 1 - (ulong)random.Next(0, Math.Min(model.Count, 8)) : last + 1;
                        if (start <= last)
                        {
                            term++;
                        }

                        var batch = new Entry[random.Next(1, 20)];
                        for (var i = 0; i < batch.Length; i++)
                        {
                            batch[i] = Entries.Make(start + (ulong)i, term, random.Next(0, 200));
                        }

                        Log.Append(batch);
                        model.RemoveRange((int)(start - first), model.Count - (int)(start - first));
                        model.AddRange(batch);
                        break;
                    }

                case 6:
                    if (model.Count > 0)
                    {
                        var keep = random.Next(0, model.Count + 1);
                        Log.TruncateSuffix(first - 1 + (ulong)keep);
                        model.RemoveRange(keep, model.Count - keep);
                    }

                    break;
                case 7:
                    {
                        var through = first - 1 + (ulong)random.Next(0, model.Count + 3);
                        Log.CompactPrefix(through);
                        if (through >= first)
                        {
                            var drop = (int)Math.Min((ulong)model.Count, through + 1 - first);
                            model.RemoveRange(0, drop);
                            first = through + 1;
                        }

                        break;
                    }

                case 8:
                    Log.Sync();
                    Assert.Equal(Log.LastIndex, Log.DurableIndex);
                    break;
                default:
                    if (model.Count > 0)
                    {
                        var from = random.Next(model.Count);
                        var to = random.Next(from, model.Count);
                        var limit = random.Next(0, 2000);
                        using var read = Log.Read(first + (ulong)from, first + (ulong)to, limit);
                        Assert.InRange(read.Count, 1, to - from + 1);
                        Assert.True(read.Count == 1 || read.SizeBytes <= limit);
                        for (var i = 0; i < read.Count; i++)
                        {
                            Entries.AssertSame(model[from + i], read.Span[i]);
                        }
                    }

                    break;
            }

            Assert.Equal(first, Log.FirstIndex);
            Assert.Equal(first + (ulong)model.Count - 1, Log.LastIndex);
            Assert.InRange(Log.DurableIndex, Log.FirstIndex - 1, Log.LastIndex);
        }

        if (model.Count > 0)
        {
            var all = Entries.ReadAll(Log, first, first + (ulong)model.Count - 1);
            for (var i = 0; i < model.Count; i++)
            {
                Entries.AssertSame(model[i], all[i]);
                Assert.True(Log.TryGetTerm(model[i].Index, out var t));
                Assert.Equal(model[i].Term, t);
            }
        }
    }
}

public sealed class MemoryLogStoreContractTests : LogStoreContractTests<MemoryLogStore>
{
    protected override MemoryLogStore Create() => new();

    protected override MemoryLogStore Reopen(MemoryLogStore log) => log;

    [Fact]
    public void Discard_unsynced_plays_a_crash()
    {
        Log.Append(Entries.Range(1, 5, 1));
        Log.Sync();
        Log.Append(Entries.Range(6, 9, 1));
        Log.DiscardUnsynced();
        Assert.Equal(5UL, Log.LastIndex);
        Assert.Equal(1L, Log.SyncCount);
    }
}

public sealed class FileLogStoreContractTests : LogStoreContractTests<FileLogStore>
{
    // Small segments, so that the contract runs across segment boundaries, rollover and whole-segment deletion.
    private static readonly FileLogOptions SmallSegments = new() { SegmentBytes = 1024, EntryBytesMax = MemoryLogStore.DefaultEntryBytesMax };

    private readonly TempDirectory _directory = new();

    protected override FileLogStore Create() => FileLogStore.Open(_directory.Path, SmallSegments);

    protected override FileLogStore Reopen(FileLogStore log)
    {
        log.Dispose();
        return FileLogStore.Open(_directory.Path, SmallSegments);
    }

    public override void Dispose()
    {
        base.Dispose();
        _directory.Dispose();
    }
}
