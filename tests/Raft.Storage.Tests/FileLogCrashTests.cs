using Raft.Core;

namespace Raft.Storage.Tests;

/// <summary>
/// What a crash or a damaged disk can leave behind, byte by byte: recovery must yield exactly the
/// records that were completely written, or stop with <see cref="LogCorruptedException"/>, and never
/// serve a damaged entry.
/// </summary>
public sealed class FileLogCrashTests : IDisposable
{
    private static readonly FileLogOptions Options = new() { SegmentBytes = 1024, EntryBytesMax = 512 };

    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    /// <summary>Entries of varied sizes (0 to 149 bytes), several segments' worth; the last segment holds a few records.</summary>
    private static Entry[] WrittenEntries()
    {
        var entries = new Entry[40];
        for (var i = 0; i < entries.Length; i++)
        {
            var index = (ulong)i + 1;
            entries[i] = Entries.Make(index, 1 + (index / 10), (int)(index * 37 % 150));
        }

        return entries;
    }

    private string[] WriteLog(Entry[] entries)
    {
        using (var log = FileLogStore.Open(_directory.Path, Options))
        {
            log.Append(entries);
            log.Sync();
        }

        return [.. Directory.GetFiles(_directory.Path, "*.wal").Order(StringComparer.Ordinal)];
    }

    /// <summary>Record boundaries of the last segment: offsets where a record starts, plus the file end.</summary>
    private static (ulong FirstIndex, List<long> Boundaries) LastSegmentLayout(string path, Entry[] entries)
    {
        var firstIndex = ulong.Parse(Path.GetFileNameWithoutExtension(path), System.Globalization.CultureInfo.InvariantCulture);
        var boundaries = new List<long> { LogRecordCodec.SegmentHeaderBytes };
        foreach (var e in entries.Where(e => e.Index >= firstIndex))
        {
            boundaries.Add(boundaries[^1] + LogRecordCodec.RecordBytes(e.Data.Length));
        }

        return (firstIndex, boundaries);
    }

    private static void AssertHolds(FileLogStore log, Entry[] expected, ulong lastIndex)
    {
        Assert.Equal(lastIndex, log.LastIndex);
        Assert.Equal(lastIndex, log.DurableIndex);
        if (lastIndex == 0)
        {
            return;
        }

        var read = Entries.ReadAll(log, 1, lastIndex);
        for (var i = 0; i < read.Length; i++)
        {
            Entries.AssertSame(expected[i], read[i]);
        }
    }

    [Fact]
    public void A_log_cut_at_any_byte_of_its_last_segment_recovers_exactly_the_complete_records()
    {
        var entries = WrittenEntries();
        var files = WriteLog(entries);
        var last = files[^1];
        var original = File.ReadAllBytes(last);
        var (firstIndex, boundaries) = LastSegmentLayout(last, entries);
        Assert.True(boundaries.Count >= 4, "the last segment should hold a few records");
        Assert.Equal(original.Length, boundaries[^1]);

        for (var cut = 0; cut <= original.Length; cut++)
        {
            File.WriteAllBytes(last, original.AsSpan(0, cut).ToArray());
            var complete = boundaries.Count(b => b <= cut) - 1;
            var expectedLast = firstIndex - 1 + (ulong)Math.Max(0, complete);
            var onBoundary = boundaries.Contains(cut);

            using (var log = FileLogStore.Open(_directory.Path, Options))
            {
                AssertHolds(log, entries, expectedLast);
                Assert.Equal(!onBoundary, log.RecoveredTornTail.HasValue);

                // The log goes on from the cut as if the lost records had never been written.
                log.Append([Entries.Make(expectedLast + 1, entries[^1].Term, 3)]);
            }

            using (var reopened = FileLogStore.Open(_directory.Path, Options))
            {
                Assert.Equal(expectedLast + 1, reopened.LastIndex);
                Assert.Null(reopened.RecoveredTornTail);
            }
        }
    }

    [Fact]
    public void Every_bit_flip_is_either_the_torn_last_record_or_reported_corruption()
    {
        var entries = WrittenEntries();
        var files = WriteLog(entries);
        var originals = files.Select(File.ReadAllBytes).ToArray();
        var (_, boundaries) = LastSegmentLayout(files[^1], entries);
        var lastRecordStart = boundaries[^2];

        // Every byte of the last two segments (where the torn/corrupt distinction is made), and a seeded sample
        // of the older ones; the bit within the byte varies with the position.
        var random = new Random(42);
        var positions = new List<(int File, int Offset)>();
        for (var f = 0; f < files.Length; f++)
        {
            for (var offset = 0; offset < originals[f].Length; offset++)
            {
                if (f >= files.Length - 2 || random.Next(8) == 0)
                {
                    positions.Add((f, offset));
                }
            }
        }

        var torn = 0;
        var corrupt = 0;
        foreach (var (f, offset) in positions)
        {
            var damaged = (byte[])originals[f].Clone();
            damaged[offset] ^= (byte)(1 << (offset % 8));
            File.WriteAllBytes(files[f], damaged);
            try
            {
                var inLastRecord = f == files.Length - 1 && offset >= lastRecordStart;
                if (inLastRecord)
                {
                    using var log = FileLogStore.Open(_directory.Path, Options);
                    Assert.NotNull(log.RecoveredTornTail);
                    AssertHolds(log, entries, entries[^1].Index - 1);
                    torn++;
                }
                else
                {
                    var error = Assert.Throws<LogCorruptedException>(() => FileLogStore.Open(_directory.Path, Options));
                    Assert.Equal(files[f], error.FilePath);
                    corrupt++;
                }
            }
            finally
            {
                File.WriteAllBytes(files[f], originals[f]);
            }
        }

        Assert.True(torn > 0 && corrupt > 0);
    }

    [Fact]
    public void Garbage_after_the_last_record_is_a_torn_write_but_a_valid_record_after_damage_is_corruption()
    {
        var entries = WrittenEntries();
        var last = WriteLog(entries)[^1];
        var original = File.ReadAllBytes(last);

        File.WriteAllBytes(last, [.. original, .. new byte[100]]);
        using (var log = FileLogStore.Open(_directory.Path, Options))
        {
            AssertHolds(log, entries, entries[^1].Index);
            Assert.Equal(100, log.RecoveredTornTail!.Value.BytesDiscarded);
        }

        // A record that fails its CRC followed by intact records is not an interrupted append.
        var (_, boundaries) = LastSegmentLayout(last, entries);
        var damaged = (byte[])original.Clone();
        damaged[(int)boundaries[0] + 4] ^= 0xFF;
        File.WriteAllBytes(last, damaged);
        var error = Assert.Throws<LogCorruptedException>(() => FileLogStore.Open(_directory.Path, Options));
        Assert.Contains("valid records follow it", error.Message, StringComparison.Ordinal);
        Assert.Equal(boundaries[0], error.Offset);
    }
}
