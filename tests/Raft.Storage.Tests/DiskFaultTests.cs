using Raft.Core;

namespace Raft.Storage.Tests;

/// <summary>
/// Disk faults, injected through <see cref="FaultyDiskIo"/>: a full disk is undone and survived, a failed fsync stops
/// the store, a torn hard state save falls back to the state before it.
/// </summary>
public sealed class DiskFaultTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly FaultyDiskIo _io = new();

    public void Dispose() => _directory.Dispose();

    private string LogPath => _directory.Combine("log");

    private string HardStatePath => _directory.Combine("hardstate");

    private FileLogStore OpenLog(long segmentBytes = 1 << 20, Action<TornTail>? onTornTail = null) =>
        FileLogStore.Open(LogPath, new FileLogOptions { SegmentBytes = segmentBytes, EntryBytesMax = 1024, DiskIo = _io, OnTornTail = onTornTail });

    [Theory]
    [InlineData(1 << 20)] // the batch fits in the active segment
    [InlineData(256)] // the batch rolls over into new segments, which the undo removes
    public void A_full_disk_at_any_byte_of_an_append_keeps_the_log_as_it_was(long segmentBytes)
    {
        var batch = Entries.Range(11, 16, 2, size: 40);
        var retry = Entries.Range(11, 13, 3, size: 10);
        // Any room short of the records alone (segment headers come on top) fails the batch somewhere inside it.
        var batchBytes = batch.Sum(e => LogRecordCodec.RecordBytes(e.Data.Length));
        for (var room = 0; room < batchBytes; room += 7)
        {
            if (Directory.Exists(LogPath))
            {
                Directory.Delete(LogPath, recursive: true);
            }

            int segmentsBefore;
            using (var log = OpenLog(segmentBytes))
            {
                log.Append(Entries.Range(1, 10, 1, size: 40));
                log.Sync();
                segmentsBefore = log.SegmentCount;

                _io.RoomBytes = room;
                var full = Assert.Throws<DiskFullException>(() => log.Append(batch));
                Assert.Contains("no space left", full.Message, StringComparison.Ordinal);

                // Nothing of the batch is held, in memory or in files, and the log still serves what it had.
                Assert.Equal(10UL, log.LastIndex);
                Assert.Equal(10UL, log.DurableIndex);
                Assert.False(log.TryGetTerm(11, out _));
                Assert.Equal(segmentsBefore, log.SegmentCount);
                Assert.Equal(segmentsBefore, Directory.GetFiles(LogPath, "*.wal").Length);
                Assert.Equal(10, Entries.ReadAll(log, 1, 10).Length);

                // Space returns and the log goes on without reopening, with other entries (a new leader's, shorter).
                _io.RoomBytes = null;
                log.Append(retry);
                Assert.Equal(13UL, log.Sync());
            }

            TornTail? torn = null;
            using var reopened = OpenLog(segmentBytes, t => torn = t);
            Assert.Null(torn);
            Assert.Equal(13UL, reopened.LastIndex);
            var all = Entries.ReadAll(reopened, 1, 13);
            for (var i = 0; i < 10; i++)
            {
                Entries.AssertSame(Entries.Make((ulong)i + 1, 1, 40), all[i]);
            }

            for (var i = 0; i < retry.Length; i++)
            {
                Entries.AssertSame(retry[i], all[10 + i]);
            }
        }
    }

    [Fact]
    public void An_append_undone_for_a_full_disk_leaves_at_most_a_torn_tail_after_a_crash()
    {
        // No reopen in between, as after a crash: the cut was not fsynced, so what survives is a valid prefix.
        using (var log = OpenLog())
        {
            log.Append(Entries.Range(1, 5, 1, size: 40));
            log.Sync();
            _io.RoomBytes = 100;
            Assert.Throws<DiskFullException>(() => log.Append(Entries.Range(6, 9, 1, size: 40)));
        }

        using var reopened = OpenLog();
        Assert.Equal(5UL, reopened.LastIndex);
        Assert.Equal(5, Entries.ReadAll(reopened, 1, 5).Length);
    }

    [Fact]
    public void After_a_failed_fsync_the_log_refuses_all_work_and_a_reopen_recovers_the_synced_prefix()
    {
        using (var log = OpenLog())
        {
            log.Append(Entries.Range(1, 5, 1));
            Assert.Equal(5UL, log.Sync());
            log.Append(Entries.Range(6, 8, 1));
            _io.FailNextFlush = true;
            var failed = Assert.Throws<FsyncFailedException>(() => log.Sync());
            Assert.EndsWith("00000000000000000001.wal", failed.FilePath, StringComparison.Ordinal);

            // The next fsync would succeed, but what it would vouch for is unknown: the log does not try.
            Assert.Equal(5UL, log.DurableIndex);
            Assert.Throws<InvalidOperationException>(() => log.Sync());
            Assert.Throws<InvalidOperationException>(() => log.Append(Entries.Range(9, 9, 1)));
            Assert.Throws<InvalidOperationException>(() => log.Read(1, 1, long.MaxValue));
        }

        using var reopened = OpenLog();
        Assert.InRange(reopened.LastIndex, 5UL, 8UL);
        var entries = Entries.ReadAll(reopened, 1, reopened.LastIndex);
        for (var i = 0; i < entries.Length; i++)
        {
            Entries.AssertSame(Entries.Make((ulong)i + 1, 1), entries[i]);
        }
    }

    [Fact]
    public void A_failed_fsync_while_closing_a_segment_or_truncating_stops_the_log()
    {
        using (var log = OpenLog(segmentBytes: 256))
        {
            log.Append(Entries.Range(1, 3, 1, size: 40));
            _io.FailNextFlush = true;

            // The batch needs a new segment, and the full one is fsynced as it is closed.
            Assert.Throws<FsyncFailedException>(() => log.Append(Entries.Range(4, 9, 1, size: 40)));
            Assert.Throws<InvalidOperationException>(() => log.Append(Entries.Range(4, 4, 1, size: 40)));
        }

        Directory.Delete(LogPath, recursive: true);
        using var other = OpenLog();
        other.Append(Entries.Range(1, 5, 1));
        other.Sync();
        _io.FailNextFlush = true;
        Assert.Throws<FsyncFailedException>(() => other.TruncateSuffix(3));
        Assert.Throws<InvalidOperationException>(() => other.Sync());
    }

    [Fact]
    public void A_hard_state_save_torn_at_every_byte_loads_the_state_before_it()
    {
        var before = new HardState(4, 2, 8);
        var after = new HardState(5, 3, 9);
        for (var tear = 0; tear <= FileHardStateStore.RecordBytes; tear++)
        {
            File.Delete(HardStatePath);
            using (var store = FileHardStateStore.Open(HardStatePath, _io))
            {
                store.Save(new HardState(3, 1, 7));
                store.Save(before);
                _io.TearNextWriteAt = tear;
                Assert.Throws<CrashException>(() => store.Save(after));
            }

            using var reopened = FileHardStateStore.Open(HardStatePath, _io);
            Assert.True(reopened.TryLoad(out var state));

            // A write that reached every byte may be what loads (nothing says it did not land); anything less never is.
            Assert.Equal(tear == FileHardStateStore.RecordBytes ? after : before, state);

            // The next save goes over the torn slot, never over the good one.
            var next = new HardState(6, 1, 10);
            reopened.Save(next);
            reopened.Dispose();
            using var again = FileHardStateStore.Open(HardStatePath, _io);
            Assert.True(again.TryLoad(out state));
            Assert.Equal(next, state);
        }
    }

    [Fact]
    public void A_hard_state_slot_garbled_at_any_byte_loads_the_other_slot()
    {
        var before = new HardState(4, 2, 8);
        var after = new HardState(5, 3, 9);
        using (var store = FileHardStateStore.Open(HardStatePath))
        {
            store.Save(before);
            store.Save(after);
        }

        // Sequence 2 (after) sits in slot 0.
        var image = File.ReadAllBytes(HardStatePath);
        for (var offset = 0; offset < FileHardStateStore.RecordBytes; offset++)
        {
            var garbled = (byte[])image.Clone();
            garbled[offset] ^= 0x5A;
            File.WriteAllBytes(HardStatePath, garbled);
            using var reopened = FileHardStateStore.Open(HardStatePath);
            Assert.True(reopened.TryLoad(out var state));
            Assert.Equal(before, state);
        }
    }

    [Fact]
    public void A_full_disk_during_a_hard_state_save_changes_nothing_and_a_later_save_succeeds()
    {
        var before = new HardState(4, 2, 8);
        var after = new HardState(5, 3, 9);
        for (var room = 0; room < FileHardStateStore.RecordBytes; room++)
        {
            File.Delete(HardStatePath);
            using (var store = FileHardStateStore.Open(HardStatePath, _io))
            {
                store.Save(before);
                _io.RoomBytes = room;
                Assert.Throws<DiskFullException>(() => store.Save(after));
                Assert.True(store.TryLoad(out var held));
                Assert.Equal(before, held);

                // A crash now finds the state before.
                using (var meanwhile = FileHardStateStore.Open(HardStatePath))
                {
                    Assert.True(meanwhile.TryLoad(out var loaded));
                    Assert.Equal(before, loaded);
                }

                _io.RoomBytes = null;
                store.Save(after);
            }

            using var reopened = FileHardStateStore.Open(HardStatePath);
            Assert.True(reopened.TryLoad(out var state));
            Assert.Equal(after, state);
        }
    }

    [Fact]
    public void A_failed_hard_state_fsync_refuses_every_later_save()
    {
        using var store = FileHardStateStore.Open(HardStatePath, _io);
        store.Save(new HardState(1, 1, 0));
        _io.FailNextFlush = true;
        Assert.Throws<FsyncFailedException>(() => store.Save(new HardState(2, 1, 0)));
        Assert.Throws<InvalidOperationException>(() => store.Save(new HardState(3, 1, 0)));
    }
}
