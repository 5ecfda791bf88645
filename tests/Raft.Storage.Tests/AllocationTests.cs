using Raft.Core;

namespace Raft.Storage.Tests;

/// <summary>
/// The append path allocates nothing once warm. "Steady state" is a log compacted as fast as it grows
/// within one segment, as under snapshots: the slot ring stops growing and no segment is created.
/// </summary>
public sealed class AllocationTests
{
    private const int BatchSize = 16;

    private static long AllocatedByAppends(ILogStore log, int batches)
    {
        var payload = new byte[100];
        var batch = new Entry[BatchSize];
        var next = log.LastIndex + 1;
        for (var round = 0; round < 2; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var b = 0; b < batches; b++)
            {
                for (var i = 0; i < batch.Length; i++)
                {
                    batch[i] = new Entry(1, next + (ulong)i, EntryType.Command, payload);
                }

                log.Append(batch);
                next += BatchSize;
                if (log.LastIndex - log.FirstIndex > 2000)
                {
                    log.CompactPrefix(log.LastIndex - 1000);
                }

                if (b % 50 == 0)
                {
                    log.Sync();
                }
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (round == 1)
            {
                // Round 0 is the warm-up: JIT tiers, the first ring growth, the first compaction.
                return allocated;
            }
        }

        throw new InvalidOperationException("unreachable");
    }

    [Fact]
    public void File_log_append_and_sync_allocate_nothing_in_steady_state()
    {
        using var directory = new TempDirectory();
        using var log = FileLogStore.Open(directory.Path, new FileLogOptions { SegmentBytes = 64L << 20 });
        Assert.Equal(0, AllocatedByAppends(log, batches: 300));
        Assert.Equal(1, log.SegmentCount);
    }

    [Fact]
    public void Memory_log_append_allocates_nothing_in_steady_state()
    {
        using var log = new MemoryLogStore();
        Assert.Equal(0, AllocatedByAppends(log, batches: 300));
    }

    [Fact]
    public void Hard_state_save_allocates_nothing()
    {
        using var directory = new TempDirectory();
        using var store = FileHardStateStore.Open(directory.Combine("hardstate"));
        var term = 1UL;

        // Warm-up: JIT tiers and the runtime's lazily built I/O state.
        for (; term <= 30; term++)
        {
            store.Save(new HardState(term, 1, term));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (; term <= 60; term++)
        {
            store.Save(new HardState(term, 1, term));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
