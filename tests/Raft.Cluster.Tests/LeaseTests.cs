using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Raft.Client;

namespace Raft.Cluster.Tests;

/// <summary>
/// A lease against real node processes: a separate process holds a lease with a key and a lock bound to it and keeps
/// it alive through a kill -9 of the leader; then that process is killed with kill -9, and its key and its lock are
/// gone on every node once the time to live has passed, with the lock free for the next owner at a higher token.
/// </summary>
public sealed class LeaseTests
{
    private const int TtlMs = 2_000;

    [Fact]
    public async Task A_holder_s_key_and_lock_outlive_a_leader_kill_and_go_with_the_holder_s_kill()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync();
        using var observer = ClientSessionTests.Connect(cluster, "lease-observer");

        using var holder = new Holder(cluster, "svc/worker-1", "jobs", "worker-1");
        var (lease, token) = holder.WaitHeld();
        Assert.Equal("worker-1", (await observer.GetAsync("svc/worker-1"))?.ValueAsString());

        // Two time-to-lives of keep-alives, then the leader dies; the keep-alives go on with the next one.
        holder.WaitKept(6);
        await cluster.KillAsync(leader);
        var next = await cluster.WaitForLeaderAsync(notThis: leader);
        var keptBefore = holder.Kept;
        holder.WaitKept(keptBefore + 6);
        Assert.False(holder.Lost, "the holder lost its lease across the leader's kill");
        Assert.Equal("worker-1", (await observer.GetAsync("svc/worker-1"))?.ValueAsString());
        var held = await observer.GetLockAsync("jobs");
        Assert.Equal(("worker-1", token), (held?.Owner, held?.FencingToken));
        var status = await observer.GetLeaseAsync(lease);
        Assert.Equal(["svc/worker-1"], status?.Keys);
        Assert.Equal(["jobs"], status?.Locks);

        // The holder dies; nothing revokes its lease, so its time to live ends it.
        holder.Kill();
        var killed = Stopwatch.GetTimestamp();
        Assert.True(await WaitUntilAsync(async () => await observer.GetAsync("svc/worker-1") is null), "the holder's key outlived its lease");
        var gone = Stopwatch.GetElapsedTime(killed);
        Assert.Null(await observer.GetLockAsync("jobs"));
        Assert.Null(await observer.GetLeaseAsync(lease));
        foreach (var id in Enumerable.Range(1, 3).Where(id => id != leader))
        {
            using var stale = await cluster.Http.GetAsync(cluster.Url(id, "/v1/kv/svc/worker-1?consistency=stale"));
            Assert.Equal(System.Net.HttpStatusCode.NotFound, stale.StatusCode);
        }

        var taken = await observer.AcquireLockAsync("jobs", "worker-2", TimeSpan.FromSeconds(10));
        Assert.True(taken.FencingToken > token);

        // It ended after its time to live from the last keep-alive, not before: at most a third of it had passed then.
        Assert.True(gone >= TimeSpan.FromMilliseconds(TtlMs * 2 / 3), $"the key went {gone.TotalMilliseconds:F0} ms after the holder died");
        Assert.NotEqual(leader, next);
    }

    private static async Task<bool> WaitUntilAsync(Func<Task<bool>> done)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(ProcessCluster.Patience.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (await done())
            {
                return true;
            }

            await Task.Delay(50);
        }

        return await done();
    }

    /// <summary>The lease-holding process (tests/Raft.Cluster.LeaseHolder), killed by the test by its id.</summary>
    private sealed class Holder : IDisposable
    {
        private readonly Process _process;
        private readonly BlockingCollection<string> _lines = [];
        private readonly ConcurrentQueue<string> _errors = new();

        public Holder(ProcessCluster cluster, string key, string lockName, string owner)
        {
            var endpoints = string.Join(',', Enumerable.Range(1, cluster.Size).Select(id => cluster.Endpoint(id).ToString()));
            // Started the way the launcher starts a node: through the dotnet host this test runs under.
            var start = Raft.Server.Launcher.NodeProcess.StartInfo(
                [endpoints, TtlMs.ToString(CultureInfo.InvariantCulture), key, lockName, owner],
                Path.Combine(AppContext.BaseDirectory, "Raft.Cluster.LeaseHolder.dll"));
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;

            _process = new Process { StartInfo = start };
            _process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    _lines.Add(e.Data);
                }
            };
            _process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    _errors.Enqueue(e.Data);
                }
            };
            Assert.True(_process.Start());
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public long Kept { get; private set; }

        public bool Lost { get; private set; }

        public (ulong Lease, ulong Token) WaitHeld()
        {
            var words = Next("held").Split(' ');
            return (ulong.Parse(words[1], CultureInfo.InvariantCulture), ulong.Parse(words[2], CultureInfo.InvariantCulture));
        }

        public void WaitKept(long count)
        {
            while (Kept < count)
            {
                Next("kept");
            }
        }

        /// <summary>SIGKILL: no keep-alive, no revoke, no disposal.</summary>
        public void Kill()
        {
            _process.Kill();
            Assert.True(_process.WaitForExit(ProcessCluster.Patience), "the holder did not die");
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(ProcessCluster.Patience);
            }

            _process.Dispose();
            _lines.Dispose();
        }

        private string Next(string expected)
        {
            while (true)
            {
                if (!_lines.TryTake(out var line, ProcessCluster.Patience))
                {
                    Assert.Fail($"the holder said nothing for {ProcessCluster.Patience}; stderr: {string.Join('\n', _errors)}");
                }

                if (line.StartsWith("kept ", StringComparison.Ordinal))
                {
                    Kept = long.Parse(line.AsSpan(5), CultureInfo.InvariantCulture);
                }
                else if (line == "lost")
                {
                    Lost = true;
                    Assert.Fail($"the holder lost its lease after {Kept} keep-alives");
                }

                if (line.StartsWith(expected, StringComparison.Ordinal))
                {
                    return line;
                }
            }
        }
    }
}
