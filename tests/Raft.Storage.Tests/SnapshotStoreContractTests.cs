using Raft.Core;

namespace Raft.Storage.Tests;

/// <summary>
/// The <see cref="ISnapshotStore"/> contract, run against every store: snapshots taken in through a sink, verified,
/// installed and read back; what is refused, and what stays readable.
/// </summary>
public abstract class SnapshotStoreContractTests<TStore> : IDisposable
    where TStore : ISnapshotStore
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private TStore? _store;

    protected TStore Store
    {
        get => _store ??= Create();
        set => _store = value;
    }

    protected abstract TStore Create();

    protected abstract TStore Reopen(TStore store);

    /// <summary>What is left of sinks and staged snapshots that were not installed (files, where the store has them).</summary>
    protected abstract int StagingLeftovers();

    public virtual void Dispose()
    {
        _store?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Takes a snapshot the way a node does: the stream of an image copied into a sink, then finished.</summary>
    protected StagedSnapshot Stage(SnapshotMetadata metadata, byte[] body)
    {
        using var sink = Store.CreateSink();
        using (var stream = SnapshotStream.Open(metadata, new MemoryStream(body)))
        {
            stream.CopyTo(sink.AsStream());
        }

        return sink.Finish();
    }

    protected void InstallNew(SnapshotMetadata metadata, byte[] body)
    {
        using var staged = Stage(metadata, body);
        Assert.True(Store.Install(staged));
    }

    private void AssertLatest(SnapshotMetadata metadata, byte[] body)
    {
        Assert.Equal(metadata, Store.LatestMetadata);
        Assert.True(Store.TryOpenLatest(out var reader));
        using (reader)
        {
            var stream = Snapshots.Encode(metadata, body);
            Assert.Equal(metadata, reader.Metadata);
            Assert.Equal(stream.Length, reader.Length);
            Assert.Equal(stream, Snapshots.ReadRaw(reader, piece: 7));
            Assert.Equal(stream, Snapshots.ReadRaw(reader, piece: stream.Length + 5));
            Assert.Equal(body, Snapshots.ReadBody(reader));
        }
    }

    /// <summary>Gives the sink <paramref name="stream"/> and expects it refused, by Write or by Finish, leaving nothing behind.</summary>
    private void AssertRefusedBySink(byte[] stream, int piece)
    {
        var sink = Store.CreateSink();
        try
        {
            Assert.Throws<SnapshotCorruptedException>(() =>
            {
                for (var offset = 0; offset < stream.Length; offset += piece)
                {
                    sink.Write(stream.AsSpan(offset, Math.Min(piece, stream.Length - offset)));
                }

                sink.Finish().Dispose();
            });
            Assert.Throws<InvalidOperationException>(() => sink.Write([1]));
        }
        finally
        {
            sink.Dispose();
        }

        Assert.Equal(0, StagingLeftovers());
    }

    [Fact]
    public void A_new_store_holds_no_snapshot()
    {
        Assert.Null(Store.LatestMetadata);
        Assert.False(Store.TryOpenLatest(out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4099)]
    public void An_installed_snapshot_reads_back_its_metadata_raw_stream_and_body_also_after_a_restart(int bodyBytes)
    {
        var metadata = Snapshots.Metadata(100, 4);
        var body = Snapshots.Body(bodyBytes, seed: bodyBytes);
        using (var staged = Stage(metadata, body))
        {
            Assert.Equal(metadata, staged.Metadata);
            Assert.Equal(Snapshots.HeaderBytes + bodyBytes + Snapshots.TrailerBytes, staged.Length);
            using (var stagedBody = staged.OpenBody())
            {
                Assert.Equal(body, Snapshots.ReadToEnd(stagedBody));
            }

            Assert.Null(Store.LatestMetadata);
            Assert.True(Store.Install(staged));

            // Still readable by whoever staged it, now that it is the latest.
            using var installedBody = staged.OpenBody();
            Assert.Equal(body, Snapshots.ReadToEnd(installedBody));
        }

        AssertLatest(metadata, body);
        Store = Reopen(Store);
        AssertLatest(metadata, body);
        Assert.Equal(0, StagingLeftovers());
    }

    [Fact]
    public void The_sink_reports_its_length_and_checks_the_header_as_soon_as_it_is_complete()
    {
        var metadata = Snapshots.Metadata(100, 4);
        var stream = Snapshots.Encode(metadata, Snapshots.Body(100, seed: 1));
        using (var sink = Store.CreateSink())
        {
            for (var i = 0; i < Snapshots.HeaderBytes; i++)
            {
                Assert.Null(sink.Metadata);
                sink.Write(stream.AsSpan(i, 1));
                Assert.Equal(i + 1, sink.Length);
            }

            Assert.Equal(metadata, sink.Metadata);
            sink.Write(stream.AsSpan(Snapshots.HeaderBytes));
            Assert.Equal(stream.Length, sink.Length);
        }

        // A damaged header is refused by the write that completes it, before any of the body arrives.
        var damaged = Snapshots.Flipped(stream, 12);
        using (var sink = Store.CreateSink())
        {
            sink.Write(damaged.AsSpan(0, Snapshots.HeaderBytes - 1));
            var error = Assert.Throws<SnapshotCorruptedException>(() => sink.Write(damaged.AsSpan(Snapshots.HeaderBytes - 1, 1)));
            Assert.Contains("header fails its CRC", error.Message, StringComparison.Ordinal);
        }

        // Bytes that are not a snapshot stream at all are refused from their first four.
        using (var sink = Store.CreateSink())
        {
            Assert.Throws<SnapshotCorruptedException>(() => sink.Write("GET "u8));
        }

        Assert.Equal(0, StagingLeftovers());
    }

    [Fact]
    public void Installing_an_older_or_equal_index_returns_false_discards_it_and_keeps_the_latest()
    {
        var body = Snapshots.Body(300, seed: 2);
        InstallNew(Snapshots.Metadata(100, 4), body);

        foreach (var (index, term) in new[] { (99UL, 4UL), (100UL, 4UL), (100UL, 5UL) })
        {
            var staged = Stage(Snapshots.Metadata(index, term), Snapshots.Body(50, seed: (int)index));
            Assert.False(Store.Install(staged));
            Assert.Throws<ObjectDisposedException>(() => staged.OpenBody());
            staged.Dispose();
            Assert.Equal(0, StagingLeftovers());
        }

        AssertLatest(Snapshots.Metadata(100, 4), body);
        Store = Reopen(Store);
        AssertLatest(Snapshots.Metadata(100, 4), body);
    }

    [Fact]
    public void A_staged_snapshot_installs_only_once_and_only_into_its_own_store()
    {
        using var staged = Stage(Snapshots.Metadata(100, 4), Snapshots.Body(10, seed: 3));
        using var other = new MemorySnapshotStore();
        Assert.Throws<ArgumentException>(() => other.Install(staged));
        Assert.True(Store.Install(staged));
        Assert.Throws<InvalidOperationException>(() => Store.Install(staged));
    }

    [Fact]
    public void A_reader_opened_before_a_newer_install_stays_readable()
    {
        var oldMetadata = Snapshots.Metadata(100, 4);
        var oldBody = Snapshots.Body(20_000, seed: 4);
        InstallNew(oldMetadata, oldBody);
        Assert.True(Store.TryOpenLatest(out var reader));
        using (reader)
        {
            InstallNew(Snapshots.Metadata(200, 5), Snapshots.Body(100, seed: 5));

            // A restart lets the older snapshot go wherever the store keeps it.
            Store = Reopen(Store);
            Assert.Equal(200UL, Store.LatestMetadata!.Index);

            Assert.Equal(oldMetadata, reader.Metadata);
            Assert.Equal(Snapshots.Encode(oldMetadata, oldBody), Snapshots.ReadRaw(reader, piece: 4096));
            Assert.Equal(oldBody, Snapshots.ReadBody(reader));
        }
    }

    [Fact]
    public void A_sink_disposed_without_finishing_and_a_staged_snapshot_never_installed_leave_nothing()
    {
        var stream = Snapshots.Encode(Snapshots.Metadata(100, 4), Snapshots.Body(1000, seed: 6));
        using (var sink = Store.CreateSink())
        {
            sink.Write(stream.AsSpan(0, stream.Length / 2));
        }

        Stage(Snapshots.Metadata(100, 4), Snapshots.Body(1000, seed: 6)).Dispose();

        Assert.Null(Store.LatestMetadata);
        Assert.False(Store.TryOpenLatest(out _));
        Assert.Equal(0, StagingLeftovers());
        Store = Reopen(Store);
        Assert.Null(Store.LatestMetadata);
    }

    [Fact]
    public void Several_MiB_written_in_odd_sized_pieces_read_back_whole()
    {
        var metadata = Snapshots.Metadata(1_000_000, 9);
        var body = Snapshots.Body((5 << 20) + 13, seed: 7);
        var stream = Snapshots.Encode(metadata, body);
        var random = new Random(8);
        using (var sink = Store.CreateSink())
        {
            for (var offset = 0; offset < stream.Length;)
            {
                var piece = Math.Min((2 * random.Next(1, 100_000)) + 1, stream.Length - offset);
                sink.Write(stream.AsSpan(offset, piece));
                offset += piece;
            }

            using var staged = sink.Finish();
            Assert.True(Store.Install(staged));
        }

        Assert.True(Store.TryOpenLatest(out var reader));
        using (reader)
        {
            Assert.Equal(stream, Snapshots.ReadRaw(reader, piece: (1 << 20) + 1));
            Assert.Equal(body, Snapshots.ReadBody(reader));
        }
    }

    [Fact]
    public void A_stream_cut_at_any_byte_is_refused_by_the_sink()
    {
        var stream = Snapshots.Encode(Snapshots.Metadata(100, 4), Snapshots.Body(40, seed: 9));
        for (var cut = 0; cut < stream.Length; cut++)
        {
            AssertRefusedBySink(stream[..cut], piece: stream.Length);
        }

        Assert.Null(Store.LatestMetadata);
    }

    [Fact]
    public void Any_flipped_bit_is_refused_by_the_sink()
    {
        var stream = Snapshots.Encode(Snapshots.Metadata(100, 4), Snapshots.Body(40, seed: 10));
        for (var offset = 0; offset < stream.Length; offset++)
        {
            AssertRefusedBySink(Snapshots.Flipped(stream, offset), piece: 1 + (offset % 5));
        }

        Assert.Null(Store.LatestMetadata);
    }

    [Fact]
    public void Bytes_after_the_trailer_are_refused_by_the_sink()
    {
        var stream = Snapshots.Encode(Snapshots.Metadata(100, 4), Snapshots.Body(40, seed: 11));
        AssertRefusedBySink([.. stream, 0], piece: stream.Length);
        AssertRefusedBySink([.. stream, .. stream], piece: stream.Length);
        AssertRefusedBySink([.. stream, .. stream[^Snapshots.TrailerBytes..]], piece: 3);
    }

    [Fact]
    public void Installs_from_two_threads_end_at_the_highest_index()
    {
        const int PerThread = 20;
        var bodies = new Dictionary<ulong, byte[]>();
        for (var index = 1UL; index <= 2 * PerThread; index++)
        {
            bodies[index] = Snapshots.Body(500 + (int)index, seed: (int)index);
        }

        // Created here, not lazily by whichever thread comes first.
        var store = Store;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, 2).Select(parity => new Thread(() =>
        {
            try
            {
                for (var index = 1UL + (ulong)parity; index <= 2 * PerThread; index += 2)
                {
                    using var staged = Stage(Snapshots.Metadata(index, 1), bodies[index]);
                    store.Install(staged);
                    Assert.True(store.LatestMetadata!.Index >= index);
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        Assert.All(threads, t => Assert.True(t.Join(WaitLimit), "an installing thread did not finish"));
        Assert.Empty(errors);

        AssertLatest(Snapshots.Metadata(2 * PerThread, 1), bodies[2 * PerThread]);
        Store = Reopen(Store);
        AssertLatest(Snapshots.Metadata(2 * PerThread, 1), bodies[2 * PerThread]);
        Assert.Equal(0, StagingLeftovers());
    }
}

public sealed class MemorySnapshotStoreContractTests : SnapshotStoreContractTests<MemorySnapshotStore>
{
    protected override MemorySnapshotStore Create() => new();

    protected override MemorySnapshotStore Reopen(MemorySnapshotStore store) => store;

    protected override int StagingLeftovers() => 0;
}

public sealed class FileSnapshotStoreContractTests : SnapshotStoreContractTests<FileSnapshotStore>
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _directory = new();

    protected override FileSnapshotStore Create() => FileSnapshotStore.Open(_directory.Path);

    protected override FileSnapshotStore Reopen(FileSnapshotStore store)
    {
        store.Dispose();
        return FileSnapshotStore.Open(_directory.Path);
    }

    protected override int StagingLeftovers() => Directory.GetFiles(_directory.Path, "*.tmp").Length;

    public override void Dispose()
    {
        base.Dispose();
        _directory.Dispose();
    }

    private string[] Files() => [.. Directory.GetFiles(_directory.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    private string LatestPath() => _directory.Combine(Assert.Single(Files()));

    /// <summary>Installs a snapshot at index 100 and closes the store: its file, and the bytes it held, to damage.</summary>
    private (string Path, byte[] Original) InstallAndClose(int bodyBytes, int seed)
    {
        InstallNew(Snapshots.Metadata(100, 4), Snapshots.Body(bodyBytes, seed));
        Store.Dispose();
        var path = LatestPath();
        return (path, File.ReadAllBytes(path));
    }

    [Fact]
    public void Only_the_latest_snapshot_file_is_kept_and_it_holds_the_stream()
    {
        InstallNew(Snapshots.Metadata(100, 4), Snapshots.Body(10, seed: 20));
        var body = Snapshots.Body(10, seed: 21);
        InstallNew(Snapshots.Metadata(250, 5), body);

        // The older snapshot is deleted in the background once the newer one is durable.
        Assert.True(SpinWait.SpinUntil(() => Files().Length == 1, WaitLimit), "the older snapshot was not deleted");
        Assert.Equal(["00000000000000000250-00000000000000000005.snap"], Files());
        Assert.Equal(Snapshots.Encode(Snapshots.Metadata(250, 5), body), File.ReadAllBytes(LatestPath()));
    }

    [Fact]
    public void Leftovers_of_a_crash_in_the_middle_of_a_save_are_removed_on_open()
    {
        var body = Snapshots.Body(100, seed: 22);
        InstallNew(Snapshots.Metadata(100, 4), body);
        var stream = Snapshots.Encode(Snapshots.Metadata(300, 5), body);
        var unfinished = Store.CreateSink();
        unfinished.Write(stream.AsSpan(0, 70));
        var uninstalled = Stage(Snapshots.Metadata(400, 5), body);
        Assert.Equal(2, StagingLeftovers());

        // The process dies here: nothing is disposed, and a new one opens the directory.
        Store = FileSnapshotStore.Open(_directory.Path);
        Assert.Equal(["00000000000000000100-00000000000000000004.snap"], Files());
        Assert.Equal(100UL, Store.LatestMetadata!.Index);

        unfinished.Dispose();
        uninstalled.Dispose();
        Assert.Equal(["00000000000000000100-00000000000000000004.snap"], Files());
    }

    [Fact]
    public void An_older_snapshot_a_crash_kept_from_being_deleted_is_removed_on_open()
    {
        InstallNew(Snapshots.Metadata(50, 3), Snapshots.Body(100, seed: 23));
        Store = Reopen(Store);
        var olderName = Assert.Single(Files());
        var older = File.ReadAllBytes(_directory.Combine(olderName));
        InstallNew(Snapshots.Metadata(100, 4), Snapshots.Body(100, seed: 24));
        Store = Reopen(Store);
        File.WriteAllBytes(_directory.Combine(olderName), older);

        Store = Reopen(Store);
        Assert.Equal(100UL, Store.LatestMetadata!.Index);
        Assert.Equal(["00000000000000000100-00000000000000000004.snap"], Files());
    }

    [Fact]
    public void Open_refuses_a_latest_snapshot_with_a_bad_header_or_the_wrong_size_naming_the_file()
    {
        var (path, original) = InstallAndClose(bodyBytes: 100, seed: 25);

        void AssertRefused(byte[] damaged, string? problem = null)
        {
            File.WriteAllBytes(path, damaged);
            var error = Assert.Throws<SnapshotCorruptedException>(() => FileSnapshotStore.Open(_directory.Path));
            Assert.Equal(path, error.FilePath);
            if (problem is not null)
            {
                Assert.Contains(problem, error.Message, StringComparison.Ordinal);
            }
        }

        for (var offset = 0; offset < Snapshots.HeaderBytes; offset++)
        {
            AssertRefused(Snapshots.Flipped(original, offset));
        }

        AssertRefused(original[..^1], "does not end with a snapshot trailer");
        AssertRefused([.. original, 0], "does not end with a snapshot trailer");
        AssertRefused(original[..Snapshots.HeaderBytes], "too short for its header and trailer");
        AssertRefused(original[..20], "too short for its header");
        AssertRefused([], "too short for its header");

        // A file that is all there, but whose name says another snapshot.
        File.WriteAllBytes(path, original);
        var renamed = _directory.Combine("00000000000000000101-00000000000000000004.snap");
        File.Move(path, renamed);
        var error = Assert.Throws<SnapshotCorruptedException>(() => FileSnapshotStore.Open(_directory.Path));
        Assert.Equal(renamed, error.FilePath);
        Assert.Contains("does not match its file name", error.Message, StringComparison.Ordinal);

        File.Move(renamed, path);
        Store = FileSnapshotStore.Open(_directory.Path);
        Assert.Equal(100UL, Store.LatestMetadata!.Index);
    }

    [Fact]
    public void Any_flipped_bit_in_the_latest_snapshot_is_refused_on_open_or_when_its_body_is_read()
    {
        var (path, original) = InstallAndClose(bodyBytes: 64, seed: 26);
        var refusedOnOpen = 0;
        for (var offset = 0; offset < original.Length; offset++)
        {
            File.WriteAllBytes(path, Snapshots.Flipped(original, offset));
            var opened = false;
            var onOpen = Snapshots.AssertRefusedByReader(
                () =>
                {
                    Store = FileSnapshotStore.Open(_directory.Path);
                    opened = true;
                    Assert.True(Store.TryOpenLatest(out var reader));
                    return reader;
                },
                path);
            if (opened)
            {
                Assert.True(Store.TryOpenLatest(out var again));
                using (again)
                {
                    var error = Assert.Throws<SnapshotCorruptedException>(() => Snapshots.ReadBody(again));
                    Assert.Equal(path, error.FilePath);
                }

                Store.Dispose();
            }

            refusedOnOpen += onOpen ? 1 : 0;
        }

        // The header and the trailer's framing (body length, end magic) are checked on open; the body and the CRC
        // when the body is read.
        Assert.Equal(Snapshots.HeaderBytes + 8 + 4, refusedOnOpen);

        File.WriteAllBytes(path, original);
        Store = FileSnapshotStore.Open(_directory.Path);
        Assert.Equal(100UL, Store.LatestMetadata!.Index);
    }
}
