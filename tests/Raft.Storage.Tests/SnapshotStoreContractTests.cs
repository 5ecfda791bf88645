using Raft.Core;

namespace Raft.Storage.Tests;

public abstract class SnapshotStoreContractTests<TStore> : IDisposable
    where TStore : ISnapshotStore
{
    private TStore? _store;

    protected TStore Store
    {
        get => _store ??= Create();
        set => _store = value;
    }

    protected abstract TStore Create();

    protected abstract TStore Reopen(TStore store);

    public virtual void Dispose()
    {
        _store?.Dispose();
        GC.SuppressFinalize(this);
    }

    protected static Snapshot MakeSnapshot(ulong index, ulong term, int size = 1000) =>
        new(new SnapshotMetadata(index, term, Membership.Create([1, 2, 3], [7])), Entries.Payload(index, term, size));

    [Fact]
    public void A_new_store_holds_no_snapshot()
    {
        Assert.Null(Store.LatestMetadata);
        Assert.False(Store.TryLoadLatest(out _));
    }

    [Fact]
    public void A_saved_snapshot_loads_with_its_metadata_and_data_after_a_restart()
    {
        var snapshot = MakeSnapshot(100, 4);
        Store.Save(snapshot);
        Store = Reopen(Store);

        Assert.Equal(snapshot.Metadata, Store.LatestMetadata);
        Assert.True(Store.TryLoadLatest(out var loaded));
        Assert.Equal(snapshot.Metadata, loaded.Metadata);
        Assert.True(snapshot.Data.Span.SequenceEqual(loaded.Data.Span));
    }

    [Fact]
    public void A_newer_snapshot_replaces_the_older_one()
    {
        Store.Save(MakeSnapshot(100, 4));
        Store.Save(MakeSnapshot(250, 5, size: 0));
        Store = Reopen(Store);

        Assert.True(Store.TryLoadLatest(out var loaded));
        Assert.Equal(250UL, loaded.Index);
        Assert.Equal(5UL, loaded.Term);
        Assert.Equal(0, loaded.Data.Length);
    }

    [Fact]
    public void An_older_snapshot_is_rejected()
    {
        Store.Save(MakeSnapshot(100, 4));
        Assert.Throws<ArgumentException>(() => Store.Save(MakeSnapshot(99, 4)));
        Assert.Throws<ArgumentException>(() => Store.Save(MakeSnapshot(0, 4)));
        Assert.Equal(100UL, Store.LatestMetadata!.Index);
    }
}

public sealed class MemorySnapshotStoreContractTests : SnapshotStoreContractTests<MemorySnapshotStore>
{
    protected override MemorySnapshotStore Create() => new();

    protected override MemorySnapshotStore Reopen(MemorySnapshotStore store) => store;
}

public sealed class FileSnapshotStoreContractTests : SnapshotStoreContractTests<FileSnapshotStore>
{
    private readonly TempDirectory _directory = new();

    protected override FileSnapshotStore Create() => FileSnapshotStore.Open(_directory.Path);

    protected override FileSnapshotStore Reopen(FileSnapshotStore store)
    {
        store.Dispose();
        return FileSnapshotStore.Open(_directory.Path);
    }

    public override void Dispose()
    {
        base.Dispose();
        _directory.Dispose();
    }

    private string[] Files() => [.. Directory.GetFiles(_directory.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public void Only_the_latest_snapshot_file_is_kept_and_its_layout_is_pinned()
    {
        Store.Save(MakeSnapshot(100, 4, size: 10));
        Store.Save(MakeSnapshot(250, 5, size: 10));
        Assert.Equal(["00000000000000000250-00000000000000000005.snap"], Files());

        // Fixed header, membership of 3 voters + 1 learner, data length, data, CRC.
        Assert.Equal(28 + 4 + 16 + 8 + 10 + 4, new FileInfo(_directory.Combine(Files()[0])).Length);
    }

    [Fact]
    public void A_leftover_temporary_file_from_a_crashed_save_is_removed_and_ignored()
    {
        Store.Save(MakeSnapshot(100, 4));
        File.WriteAllBytes(_directory.Combine("00000000000000000300-00000000000000000005.snap.tmp"), [1, 2, 3]);
        Store = Reopen(Store);
        Assert.Equal(100UL, Store.LatestMetadata!.Index);
        Assert.Equal(["00000000000000000100-00000000000000000004.snap"], Files());
    }

    [Fact]
    public void Any_flipped_bit_in_the_latest_snapshot_is_reported_not_loaded()
    {
        Store.Save(MakeSnapshot(100, 4, size: 64));
        Store.Dispose();
        var path = _directory.Combine(Files()[0]);
        var original = File.ReadAllBytes(path);
        for (var offset = 0; offset < original.Length; offset++)
        {
            var damaged = (byte[])original.Clone();
            damaged[offset] ^= (byte)(1 << (offset % 8));
            File.WriteAllBytes(path, damaged);
            var error = Assert.Throws<SnapshotCorruptedException>(() => FileSnapshotStore.Open(_directory.Path));
            Assert.Equal(path, error.FilePath);
        }

        File.WriteAllBytes(path, original);
        Store = FileSnapshotStore.Open(_directory.Path);
        Assert.Equal(100UL, Store.LatestMetadata!.Index);
    }
}
