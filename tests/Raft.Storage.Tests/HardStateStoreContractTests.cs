using Raft.Core;

namespace Raft.Storage.Tests;

public abstract class HardStateStoreContractTests<TStore> : IDisposable
    where TStore : IHardStateStore
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

    [Fact]
    public void A_new_store_holds_nothing()
    {
        Assert.False(Store.TryLoad(out var state));
        Assert.Equal(default, state);
    }

    [Fact]
    public void The_last_save_is_what_loads_after_a_restart()
    {
        for (var term = 1UL; term <= 5; term++)
        {
            Store.Save(new HardState(term, (int)term % 3, term * 10));
        }

        Store.Save(new HardState(5, 2, 50));
        Store = Reopen(Store);
        Assert.True(Store.TryLoad(out var state));
        Assert.Equal(new HardState(5, 2, 50), state);
    }

    [Fact]
    public void Saving_the_default_state_still_counts_as_saved()
    {
        Store.Save(default);
        Store = Reopen(Store);
        Assert.True(Store.TryLoad(out var state));
        Assert.Equal(default, state);
    }
}

public sealed class MemoryHardStateStoreContractTests : HardStateStoreContractTests<MemoryHardStateStore>
{
    protected override MemoryHardStateStore Create() => new();

    protected override MemoryHardStateStore Reopen(MemoryHardStateStore store) => store;

    [Fact]
    public void Saving_an_unchanged_state_is_free()
    {
        Store.Save(new HardState(1, 2, 3));
        Store.Save(new HardState(1, 2, 3));
        Assert.Equal(1, Store.SaveCount);
    }
}

public sealed class FileHardStateStoreContractTests : HardStateStoreContractTests<FileHardStateStore>
{
    private readonly TempDirectory _directory = new();

    private string FilePath => _directory.Combine("hardstate");

    protected override FileHardStateStore Create() => FileHardStateStore.Open(FilePath);

    protected override FileHardStateStore Reopen(FileHardStateStore store)
    {
        store.Dispose();
        return FileHardStateStore.Open(FilePath);
    }

    public override void Dispose()
    {
        base.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public void Layout_sizes_are_pinned()
    {
        Assert.Equal(44, FileHardStateStore.RecordBytes);
        Assert.Equal(1024, FileHardStateStore.FileBytes);
        Store.Save(new HardState(1, 1, 1));
        Assert.Equal(1024, new FileInfo(FilePath).Length);
    }

    [Fact]
    public void A_torn_save_falls_back_to_the_state_before_it()
    {
        Store.Save(new HardState(3, 1, 7));
        Store.Save(new HardState(4, 2, 8));
        Store.Dispose();

        // Save 2 (sequence 2) went to slot 0; damage it as a torn write would.
        var bytes = File.ReadAllBytes(FilePath);
        bytes[20] ^= 0x40;
        File.WriteAllBytes(FilePath, bytes);

        using var reopened = FileHardStateStore.Open(FilePath);
        Assert.True(reopened.TryLoad(out var state));
        Assert.Equal(new HardState(3, 1, 7), state);

        // The next save goes over the damaged slot, never over the good one.
        reopened.Save(new HardState(5, 3, 9));
        reopened.Dispose();
        using var again = FileHardStateStore.Open(FilePath);
        Assert.True(again.TryLoad(out state));
        Assert.Equal(new HardState(5, 3, 9), state);
    }

    [Fact]
    public void Two_damaged_slots_are_corruption()
    {
        Store.Save(new HardState(3, 1, 7));
        Store.Dispose();
        var bytes = File.ReadAllBytes(FilePath);
        bytes[10] ^= 1;
        bytes[512 + 10] ^= 1;
        File.WriteAllBytes(FilePath, bytes);

        var error = Assert.Throws<HardStateCorruptedException>(() => FileHardStateStore.Open(FilePath));
        Assert.Equal(FilePath, error.FilePath);
        Assert.Contains("must not vote", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_of_the_wrong_size_is_corruption()
    {
        Store.Dispose();
        File.WriteAllBytes(FilePath, new byte[100]);
        Assert.Throws<HardStateCorruptedException>(() => FileHardStateStore.Open(FilePath));
    }
}
