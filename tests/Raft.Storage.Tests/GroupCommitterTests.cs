using Raft.Core;

namespace Raft.Storage.Tests;

public sealed class GroupCommitterTests
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    /// <summary>A log whose Sync blocks until the test lets it finish, so the test decides when an fsync is "in flight".</summary>
    private sealed class GatedLog : ILogStore
    {
        private readonly MemoryLogStore _inner = new();

        public SemaphoreSlim SyncStarted { get; } = new(0);

        public SemaphoreSlim ReleaseSync { get; } = new(0);

        public int Syncs { get; private set; }

        public Exception? FailNextSync { get; set; }

        public ulong FirstIndex => _inner.FirstIndex;

        public ulong LastIndex => _inner.LastIndex;

        public ulong DurableIndex => _inner.DurableIndex;

        public bool TryGetTerm(ulong index, out ulong term) => _inner.TryGetTerm(index, out term);

        public void Append(ReadOnlySpan<Entry> entries) => _inner.Append(entries);

        public LogReadResult Read(ulong firstIndex, ulong lastIndex, long maxBytes) => _inner.Read(firstIndex, lastIndex, maxBytes);

        public void TruncateSuffix(ulong lastIndexKept) => _inner.TruncateSuffix(lastIndexKept);

        public void CompactPrefix(ulong throughIndex) => _inner.CompactPrefix(throughIndex);

        /// <summary>Like a real log, vouches only for what was appended when the fsync began.</summary>
        public ulong Sync()
        {
            var target = _inner.LastIndex;
            SyncStarted.Release();
            Assert.True(ReleaseSync.Wait(WaitLimit));
            Syncs++;
            if (FailNextSync is { } failure)
            {
                throw failure;
            }

            _inner.Sync();
            return target;
        }

        public void Dispose()
        {
            _inner.Dispose();
            SyncStarted.Dispose();
            ReleaseSync.Dispose();
        }
    }

    [Fact]
    public async Task Requests_made_while_an_fsync_is_in_flight_share_the_next_one()
    {
        using var log = new GatedLog();
        var durable = new List<ulong>();
        using (var committer = new GroupCommitter(log, durable.Add))
        {
            log.Append(Entries.Range(1, 1, 1));
            var first = committer.FlushAsync();
            Assert.True(await log.SyncStarted.WaitAsync(WaitLimit));

            // The fsync for entry 1 is in flight: these appends and requests wait for the next one, together.
            var waiting = new List<Task<ulong>>();
            for (var i = 2UL; i <= 11; i++)
            {
                log.Append([Entries.Make(i, 1)]);
                waiting.Add(committer.FlushAsync());
            }

            Assert.All(waiting, t => Assert.Same(waiting[0], t));
            Assert.False(waiting[0].IsCompleted);

            log.ReleaseSync.Release();
            Assert.Equal(1UL, await first.WaitAsync(WaitLimit));
            Assert.True(await log.SyncStarted.WaitAsync(WaitLimit));
            log.ReleaseSync.Release();
            Assert.Equal(11UL, await waiting[0].WaitAsync(WaitLimit));
            Assert.Equal(2L, committer.SyncCount);
        }

        Assert.Equal(2, log.Syncs);
        Assert.Equal([1UL, 11UL], durable);
    }

    [Fact]
    public async Task A_failed_fsync_fails_the_waiters_and_every_later_request()
    {
        using var log = new GatedLog { FailNextSync = new IOException("disk gone") };
        using var committer = new GroupCommitter(log);
        log.Append(Entries.Range(1, 3, 1));
        var flush = committer.FlushAsync();
        log.ReleaseSync.Release();
        await Assert.ThrowsAsync<IOException>(() => flush.WaitAsync(WaitLimit));
        await Assert.ThrowsAsync<IOException>(() => committer.FlushAsync().WaitAsync(WaitLimit));
    }

    [Fact]
    public async Task Dispose_serves_what_is_pending_then_refuses_new_requests()
    {
        var log = new MemoryLogStore();
        var committer = new GroupCommitter(log);
        log.Append(Entries.Range(1, 3, 1));
        var flush = committer.FlushAsync();
        committer.Dispose();
        Assert.Equal(3UL, await flush.WaitAsync(WaitLimit));
        Assert.Throws<ObjectDisposedException>(() => { _ = committer.FlushAsync(); });
    }

    [Fact]
    public async Task With_the_file_log_many_concurrent_writers_need_fewer_fsyncs_than_requests()
    {
        using var directory = new TempDirectory();
        using var log = FileLogStore.Open(directory.Path);
        using var committer = new GroupCommitter(log);
        var gate = new Lock();
        var requests = 0;
        var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                ulong index;
                lock (gate)
                {
                    index = log.LastIndex + 1;
                    log.Append([Entries.Make(index, 1, 100)]);
                    requests++;
                }

                var durable = await committer.FlushAsync().WaitAsync(WaitLimit);
                Assert.True(durable >= index);
            }
        })).ToArray();
        await Task.WhenAll(writers).WaitAsync(WaitLimit);

        Assert.Equal(200UL, log.DurableIndex);
        Assert.True(committer.SyncCount <= requests);
    }
}
