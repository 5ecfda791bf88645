using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Raft.Protocol;
using Raft.Storage;

namespace Raft.Server.Tests;

/// <summary>
/// Disk faults through the whole node: a leader whose disk fills answers <c>disk_full</c>, is replaced and catches up
/// when space returns; a failed fsync stops the node, and a restart loses no acknowledged write; and one real full
/// file system (a tiny tmpfs).
/// </summary>
public sealed class DiskFaultTests
{
    [Fact]
    public async Task A_leader_whose_disk_fills_refuses_writes_with_disk_full_and_a_healthy_node_takes_over()
    {
        var disks = Enumerable.Range(0, 4).Select(_ => new SwitchableDiskIo()).ToArray();
        await using var cluster = await TestCluster.StartAsync(3, diskIo: id => disks[id]);
        var leader = await cluster.WaitForLeaderAsync();
        Assert.Equal(HttpStatusCode.OK, await PutAsync(cluster.Client(leader), "before", "1"));

        disks[leader].Full = true;

        // This write's entry finds the disk full; it waits with its batch (its entry may still commit through the others).
        var stuck = PutAsync(cluster.Client(leader), "stuck", "1");
        await TestCluster.WaitUntilAsync(async () => await ReadyErrorAsync(cluster.Client(leader)) == ErrorCodes.DiskFull, "the leader to report disk_full");

        // A write that arrives now is refused at once, with nothing written.
        using (var refused = await cluster.Client(leader).PutAsync("/v1/kv/refused", new StringContent("1")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal(ErrorCodes.DiskFull, await ErrorOf(refused));
        }

        Assert.Contains("raft_disk_full 1", await cluster.Client(leader).GetStringAsync("/metrics"), StringComparison.Ordinal);

        // The stuck leader stops heartbeating: the others elect one of themselves, and writes flow through it.
        var others = Enumerable.Range(1, 3).Where(id => id != leader).ToArray();
        var next = await TestCluster.WaitUntilAsync(
            () => Task.FromResult(others.Select(id => cluster.Node(id).View.LeaderId).FirstOrDefault(id => id != 0 && id != leader && others.All(o => cluster.Node(o).View.LeaderId == id))),
            "a new leader");
        Assert.Equal(HttpStatusCode.OK, await PutAsync(cluster.Client(next), "after", "1"));

        // Space returns: the old leader writes its batch, follows the new leader and catches up, with no restart.
        disks[leader].Full = false;
        await TestCluster.WaitUntilAsync(async () => await StaleValueAsync(cluster.Client(leader), "after") == "1", "the old leader to catch up");
        Assert.Null(await ReadyErrorAsync(cluster.Client(leader)));
        Assert.Contains("raft_disk_full 0", await cluster.Client(leader).GetStringAsync("/metrics"), StringComparison.Ordinal);
        Assert.Null(await StaleValueAsync(cluster.Client(next), "refused"));
        var stuckStatus = await stuck.WaitAsync(TestCluster.WaitLimit);
        if (stuckStatus == HttpStatusCode.OK)
        {
            Assert.Equal("1", await StaleValueAsync(cluster.Client(next), "stuck"));
        }
    }

    [Fact]
    public async Task A_failed_fsync_stops_the_node_and_a_restart_loses_no_acknowledged_write()
    {
        var disks = Enumerable.Range(0, 4).Select(_ => new SwitchableDiskIo()).ToArray();
        await using var cluster = await TestCluster.StartAsync(3, diskIo: id => disks[id]);
        var leader = await cluster.WaitForLeaderAsync();
        var acknowledged = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await PutAsync(cluster.Client(leader), $"k{i}", $"v{i}"));
            acknowledged.Add($"k{i}");
        }

        var node = cluster.Node(leader);
        disks[leader].FailNextFlush = true;

        // Writes keep coming; the first fsync fails and the node stops without acknowledging anything after it.
        for (var i = 10; i < 40 && !node.Stopped.IsCompleted; i++)
        {
            if (await PutAsync(cluster.Client(leader), $"k{i}", $"v{i}") == HttpStatusCode.OK)
            {
                acknowledged.Add($"k{i}");
            }
        }

        await node.Stopped.WaitAsync(TestCluster.WaitLimit);
        Assert.IsType<FsyncFailedException>(node.Failure);
        Assert.Equal(1, disks[leader].FlushesFailed);

        // Restarted on the same data directory, with a disk that works: it recovers what its disk holds and catches up.
        await cluster.StopNodeAsync(leader);
        disks[leader] = new SwitchableDiskIo();
        await cluster.StartNodeAsync(leader);
        var now = await cluster.WaitForLeaderAsync();
        foreach (var key in acknowledged)
        {
            Assert.Equal("v" + key[1..], await LinearizableValueAsync(cluster.Client(now), key));
        }

        await TestCluster.WaitUntilAsync(
            async () => await StaleValueAsync(cluster.Client(leader), acknowledged[^1]) is not null, "the restarted node to catch up");
        foreach (var key in acknowledged)
        {
            Assert.Equal("v" + key[1..], await StaleValueAsync(cluster.Client(leader), key));
        }
    }

    [TmpfsFact]
    public async Task A_real_full_file_system_refuses_writes_and_resumes_when_space_is_freed()
    {
        using var tmpfs = Tmpfs.Mount(sizeBytes: 4 << 20);
        var filler = Path.Combine(tmpfs.Path, "filler");
        var acknowledged = new List<string>();
        await using (var cluster = await TestCluster.StartAsync(1, extraArgs: _ => [$"--Node:DataDirectory={Path.Combine(tmpfs.Path, "node-1")}"]))
        {
            await cluster.WaitForLeaderAsync();
            var client = cluster.Client(1);
            Assert.Equal(HttpStatusCode.OK, await PutAsync(client, "first", "1"));
            acknowledged.Add("first");
            FillUp(filler);

            // Writes go on while the log's last page has room; the one that finds none waits, and the node says so.
            Task<HttpStatusCode>? stuck = null;
            var stuckKey = string.Empty;
            for (var i = 0; i < 200 && stuck is null; i++)
            {
                var put = PutAsync(client, $"k{i}", new string('v', 1000));
                await TestCluster.WaitUntilAsync(
                    async () => put.IsCompleted || await ReadyErrorAsync(client) == ErrorCodes.DiskFull, $"k{i} to be answered or the node to report disk_full");

                if (put.IsCompleted)
                {
                    Assert.Equal(HttpStatusCode.OK, await put);
                    acknowledged.Add($"k{i}");
                }
                else
                {
                    stuck = put;
                    stuckKey = $"k{i}";
                    Assert.Equal(ErrorCodes.DiskFull, await ReadyErrorAsync(client));
                }
            }

            Assert.NotNull(stuck);
            using (var refused = await client.PutAsync("/v1/kv/refused", new StringContent("1")))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                Assert.Equal(ErrorCodes.DiskFull, await ErrorOf(refused));
            }

            // Space returns: the waiting write goes through, and so do new ones, without a restart.
            File.Delete(filler);
            Assert.Equal(HttpStatusCode.OK, await stuck.WaitAsync(TestCluster.WaitLimit));
            acknowledged.Add(stuckKey);
            Assert.Equal(HttpStatusCode.OK, await PutAsync(client, "last", "1"));
            acknowledged.Add("last");
            Assert.Null(await ReadyErrorAsync(client));
            await cluster.StopNodeAsync(1);

            // The log recovers whole: every acknowledged write is there after a restart, the refused one is not.
            await cluster.StartNodeAsync(1);
            await cluster.WaitForLeaderAsync();
            foreach (var key in acknowledged)
            {
                Assert.NotNull(await LinearizableValueAsync(client, key));
            }

            Assert.Null(await LinearizableValueAsync(client, "refused"));
        }
    }

    private static void FillUp(string path)
    {
        var chunk = new byte[64 << 10];
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        try
        {
            while (true)
            {
                stream.Write(chunk);
            }
        }
        catch (IOException ex) when (DiskErrors.IsDiskFull(ex))
        {
        }

        // Smaller pieces until not even a byte fits.
        for (var size = chunk.Length / 2; size > 0; size /= 2)
        {
            try
            {
                stream.Write(chunk.AsSpan(0, size));
            }
            catch (IOException ex) when (DiskErrors.IsDiskFull(ex))
            {
            }
        }
    }

    private static async Task<HttpStatusCode> PutAsync(HttpClient client, string key, string value)
    {
        try
        {
            using var response = await client.PutAsync($"/v1/kv/{key}", new StringContent(value));
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            // The node stopped while answering.
            return HttpStatusCode.ServiceUnavailable;
        }
        catch (TaskCanceledException)
        {
            return HttpStatusCode.GatewayTimeout;
        }
    }

    private static async Task<string?> ReadyErrorAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/health/ready");
        return response.IsSuccessStatusCode ? null : await ErrorOf(response);
    }

    private static async Task<string?> ErrorOf(HttpResponseMessage response)
    {
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("error").GetString();
    }

    private static Task<string?> StaleValueAsync(HttpClient client, string key) => ValueAsync(client, key, "stale");

    private static Task<string?> LinearizableValueAsync(HttpClient client, string key) => ValueAsync(client, key, "linearizable");

    private static async Task<string?> ValueAsync(HttpClient client, string key, string consistency)
    {
        using var response = await client.GetAsync($"/v1/kv/{key}?consistency={consistency}");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return Encoding.UTF8.GetString(await response.Content.ReadAsByteArrayAsync());
    }
}

/// <summary>The system's file operations, with a switch that fills the disk and one that fails the next fsync.</summary>
internal sealed class SwitchableDiskIo : IDiskIo
{
    private const int Enospc = 28;
    private const int Eio = 5;
    private volatile bool _full;
    private volatile bool _failNextFlush;
    private int _flushesFailed;

    /// <summary>While set, every write fails as ENOSPC does, having written nothing.</summary>
    public bool Full
    {
        get => _full;
        set => _full = value;
    }

    public bool FailNextFlush
    {
        get => _failNextFlush;
        set => _failNextFlush = value;
    }

    public int FlushesFailed => Volatile.Read(ref _flushesFailed);

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset)
    {
        if (_full)
        {
            throw new IOException("No space left on device", Enospc);
        }

        RandomAccess.Write(file, bytes, offset);
    }

    public void Flush(SafeFileHandle file)
    {
        if (_failNextFlush)
        {
            _failNextFlush = false;
            Interlocked.Increment(ref _flushesFailed);
            throw new IOException("Input/output error", Eio);
        }

        RandomAccess.FlushToDisk(file);
    }

    public void SetLength(SafeFileHandle file, long length) => RandomAccess.SetLength(file, length);
}
