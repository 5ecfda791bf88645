using Raft.Core;

namespace Raft.Storage.Tests;

/// <summary>What only the file log does: segments, recovery rules, and what it refuses to serve.</summary>
public sealed class FileLogStoreTests : IDisposable
{
    private static readonly FileLogOptions Small = new() { SegmentBytes = 512, EntryBytesMax = 1024 };

    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private string[] SegmentFiles() => [.. Directory.GetFiles(_directory.Path, "*.wal").Order(StringComparer.Ordinal)];

    private FileLogStore Open(FileLogOptions? options = null) => FileLogStore.Open(_directory.Path, options ?? Small);

    [Fact]
    public void Segment_layout_sizes_are_pinned()
    {
        Assert.Equal(24, LogRecordCodec.SegmentHeaderBytes);
        Assert.Equal(29, LogRecordCodec.RecordHeaderBytes);
        using (var log = Open())
        {
            log.Append([Entries.Make(1, 7, 100)]);
        }

        var bytes = File.ReadAllBytes(Assert.Single(SegmentFiles()));
        Assert.Equal(24 + 29 + 100, bytes.Length);
        Assert.Equal("00000000000000000001.wal", Path.GetFileName(SegmentFiles()[0]));
        Assert.Equal(100U, BitConverter.ToUInt32(bytes, 24));
        Assert.Equal(7UL, BitConverter.ToUInt64(bytes, 24 + 8));
        Assert.Equal(1UL, BitConverter.ToUInt64(bytes, 24 + 16));
    }

    [Fact]
    public void Reserved_record_header_bytes_are_zero_even_when_the_write_buffer_held_other_bytes()
    {
        // Found by fuzzing the record codec (seed 14101, case 5): bytes [25, 29) of each record were never written, so
        // a segment carried whatever the reused write buffer held there from earlier payloads.
        using (var log = Open())
        {
            log.Append([Entries.Make(1, 7, 200)]);
            log.Append([Entries.Make(2, 7, 10), Entries.Make(3, 7, 10)]);
        }

        var bytes = File.ReadAllBytes(Assert.Single(SegmentFiles()));
        var second = 24 + 29 + 200;
        var third = second + 29 + 10;
        Assert.Equal(2UL, BitConverter.ToUInt64(bytes, second + 16));
        Assert.Equal(3UL, BitConverter.ToUInt64(bytes, third + 16));
        Assert.Equal(new byte[4], bytes[(second + 25)..(second + 29)]);
        Assert.Equal(new byte[4], bytes[(third + 25)..(third + 29)]);
    }

    [Fact]
    public void Appends_roll_over_into_segments_named_after_their_first_index()
    {
        using var log = Open();
        log.Append(Entries.Range(1, 40, 1, size: 50));
        var files = SegmentFiles();
        Assert.True(files.Length >= 5, $"expected several segments, got {files.Length}");
        foreach (var file in files)
        {
            Assert.True(new FileInfo(file).Length <= Small.SegmentBytes);
        }

        Assert.Equal(40, Entries.ReadAll(log, 1, 40).Length);
    }

    [Fact]
    public void An_entry_larger_than_a_segment_gets_a_segment_of_its_own()
    {
        using var log = Open();
        log.Append([Entries.Make(1, 1, 10), Entries.Make(2, 1, 1000), Entries.Make(3, 1, 10)]);
        Assert.Equal(3, SegmentFiles().Length);
        Entries.AssertSame(Entries.Make(2, 1, 1000), Entries.ReadAll(log, 1, 3)[1]);
    }

    [Fact]
    public void Compaction_deletes_only_whole_segments_and_a_reopen_keeps_the_rest()
    {
        using (var log = Open())
        {
            log.Append(Entries.Range(1, 40, 1, size: 50));
            var before = SegmentFiles().Length;
            log.CompactPrefix(22);
            Assert.Equal(23UL, log.FirstIndex);
            Assert.True(SegmentFiles().Length < before);
            log.Sync();
        }

        using var reopened = Open();
        Assert.InRange(reopened.FirstIndex, 1UL, 23UL);
        Assert.Equal(40UL, reopened.LastIndex);
        reopened.CompactPrefix(22);
        Entries.AssertSame(Entries.Make(23, 1, 50), Entries.ReadAll(reopened, 23, 40)[0]);
    }

    [Fact]
    public void Compaction_beyond_the_end_survives_a_reopen()
    {
        using (var log = Open())
        {
            log.Append(Entries.Range(1, 20, 1, size: 50));
            log.CompactPrefix(100);
            Assert.Equal("00000000000000000101.wal", Path.GetFileName(Assert.Single(SegmentFiles())));
        }

        using var reopened = Open();
        Assert.Equal(101UL, reopened.FirstIndex);
        Assert.Equal(100UL, reopened.LastIndex);
        reopened.Append([Entries.Make(101, 2)]);
    }

    [Fact]
    public void Truncation_across_segments_deletes_newer_segments_and_survives_a_reopen()
    {
        using (var log = Open())
        {
            log.Append(Entries.Range(1, 40, 1, size: 50));
            log.TruncateSuffix(8);
            Assert.Equal(2, SegmentFiles().Length);
            log.TruncateSuffix(5);
            Assert.Single(SegmentFiles());
            log.Append(Entries.Range(6, 8, 2, size: 50));
        }

        using var reopened = Open();
        Assert.Equal(8UL, reopened.LastIndex);
        var all = Entries.ReadAll(reopened, 1, 8);
        Entries.AssertSame(Entries.Make(5, 1, 50), all[4]);
        Entries.AssertSame(Entries.Make(6, 2, 50), all[5]);
    }

    [Fact]
    public void A_missing_segment_stops_recovery_with_a_message_for_the_operator()
    {
        using (var log = Open())
        {
            log.Append(Entries.Range(1, 40, 1, size: 50));
        }

        var missing = SegmentFiles()[2];
        File.Delete(missing);

        var error = Assert.Throws<LogCorruptedException>(() => Open());
        Assert.Contains("gap", error.Message, StringComparison.Ordinal);
        Assert.Contains("missing", error.Message, StringComparison.Ordinal);
        Assert.Equal(SegmentFiles()[2], error.FilePath);
        Assert.Contains("restart the node empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stray_segment_name_or_a_header_that_disagrees_with_its_name_is_corruption()
    {
        using (var log = Open())
        {
            log.Append(Entries.Range(1, 3, 1));
        }

        File.Copy(SegmentFiles()[0], _directory.Combine("00000000000000000004.wal"));
        Assert.Contains("header says it starts at index 1", Assert.Throws<LogCorruptedException>(() => Open()).Message, StringComparison.Ordinal);
        File.Delete(_directory.Combine("00000000000000000004.wal"));

        File.WriteAllBytes(_directory.Combine("junk.wal"), [1, 2, 3]);
        Assert.Contains("unexpected segment file name", Assert.Throws<LogCorruptedException>(() => Open()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_torn_tail_is_cut_and_reported()
    {
        using (var log = Open())
        {
            log.Append(Entries.Range(1, 3, 1, size: 40));
        }

        var last = SegmentFiles()[^1];
        var length = new FileInfo(last).Length;
        using (var stream = new FileStream(last, FileMode.Open))
        {
            stream.SetLength(length - 10);
        }

        var reports = new List<TornTail>();
        using var reopened = Open(new FileLogOptions { SegmentBytes = Small.SegmentBytes, EntryBytesMax = Small.EntryBytesMax, OnTornTail = reports.Add });
        var torn = Assert.Single(reports);
        Assert.Equal(last, torn.SegmentPath);
        Assert.Equal(length - (29 + 40), torn.Offset);
        Assert.Equal(29 + 40 - 10, torn.BytesDiscarded);
        Assert.Equal(reopened.LastIndex, torn.LastIndex);
        Assert.Equal(torn, reopened.RecoveredTornTail);
        Assert.Equal(torn.Offset, new FileInfo(last).Length);
    }

    [Fact]
    public void A_segment_caught_while_being_created_gets_its_header_back()
    {
        using (var log = Open())
        {
            log.Append(Entries.Range(1, 3, 1, size: 40));
        }

        File.WriteAllBytes(_directory.Combine("00000000000000000004.wal"), new byte[7]);
        using (var reopened = Open())
        {
            Assert.Equal(3UL, reopened.LastIndex);
            Assert.NotNull(reopened.RecoveredTornTail);
            reopened.Append([Entries.Make(4, 1)]);
        }

        using var again = Open();
        Assert.Equal(4UL, again.LastIndex);
        Assert.Null(again.RecoveredTornTail);
    }

    [Fact]
    public void A_record_bigger_than_the_configured_maximum_names_the_option_to_raise()
    {
        using (var log = Open())
        {
            log.Append([Entries.Make(1, 1, 900)]);
        }

        var error = Assert.Throws<LogCorruptedException>(() => Open(new FileLogOptions { SegmentBytes = 512, EntryBytesMax = 100 }));
        Assert.Contains("EntryBytesMax of at least 900", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reads_verify_records_again_and_never_serve_damage_that_appeared_after_open()
    {
        using var log = Open();
        log.Append(Entries.Range(1, 5, 1, size: 40));
        log.Sync();
        var file = SegmentFiles()[0];
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete))
        {
            stream.Position = 24 + 29 + 5;
            stream.WriteByte(0xEE);
        }

        Assert.Throws<LogCorruptedException>(() => log.Read(1, 5, long.MaxValue));
        using var after = log.Read(2, 5, long.MaxValue);
        Assert.Equal(2UL, after.Span[0].Index);
    }

    [Fact]
    public void Options_are_checked_when_the_log_opens()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Open(new FileLogOptions { SegmentBytes = 10 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Open(new FileLogOptions { SegmentBytes = 2L << 30 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Open(new FileLogOptions { EntryBytesMax = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Open(new FileLogOptions { WriteBufferBytes = -1 }));
    }

    [Fact]
    public void A_batch_larger_than_the_write_buffer_is_written_in_pieces()
    {
        using (var log = Open(new FileLogOptions { SegmentBytes = 1 << 20, EntryBytesMax = 100, WriteBufferBytes = 300 }))
        {
            log.Append(Entries.Range(1, 50, 1, size: 100));
        }

        using var reopened = Open(new FileLogOptions { SegmentBytes = 1 << 20, EntryBytesMax = 100 });
        var all = Entries.ReadAll(reopened, 1, 50);
        Entries.AssertSame(Entries.Make(50, 1, 100), all[49]);
    }

    [Fact]
    public async Task Sync_racing_a_truncation_never_reports_rewritten_entries_as_durable()
    {
        using var log = Open();
        log.Append(Entries.Range(1, 10, 1, size: 10));
        for (var round = 0; round < 50; round++)
        {
            // The file log allows one Sync on another thread while its owner appends.
            var flush = Task.Run(log.Sync);
            log.Append(Entries.Range(6, 10, (ulong)round + 2, size: 10));
            await flush.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(log.DurableIndex <= log.LastIndex);
        }

        log.Sync();
        Assert.Equal(10UL, log.DurableIndex);
    }
}
