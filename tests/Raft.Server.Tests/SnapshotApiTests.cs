using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Raft.Protocol;
using Raft.Storage;

namespace Raft.Server.Tests;

/// <summary>
/// Data at scale through the real server: a follower catching up by a snapshot larger than the peer frame limit, sent
/// in chunks; backups from <c>GET /v1/snapshot</c> restored into a new cluster; damaged backups refused; and the
/// recovery of one survivor after a majority is lost.
/// </summary>
public sealed class SnapshotApiTests
{
    private const int FrameBytesMax = 64 * 1024;
    private const int ValueBytes = 10 * 1024;

    [Fact]
    public async Task A_follower_that_missed_everything_catches_up_by_a_snapshot_larger_than_the_frame_limit()
    {
        await using var cluster = await TestCluster.StartAsync(3, _ =>
        [
            "--Node:SnapshotEveryEntries=40",
            "--Node:SnapshotTrailingEntries=0",
            $"--Node:MaxValueBytes={ValueBytes}",
            $"--Node:PeerFrameBytesMax={FrameBytesMax}",
            "--Node:SnapshotChunkBytes=16384",
        ], tcp: true);
        var leader = await cluster.WaitForLeaderAsync();
        var lagging = leader == 3 ? 2 : 3;
        await cluster.StopNodeAsync(lagging);

        // 200 values of 10 KiB: about 2 MiB of state, some 30 frames' worth.
        var values = new Dictionary<string, string>();
        for (var i = 0; i < 200; i++)
        {
            var key = $"big/{i:D3}";
            values[key] = Value(i);
            await PutAsync(cluster, leader, key, values[key]);
        }

        // A snapshot larger than any frame: it can only reach the follower in chunks.
        await WaitForMetricAsync(cluster, leader, "raft_snapshot_bytes", bytes => bytes > 16 * FrameBytesMax);

        await cluster.StartNodeAsync(lagging);
        await TestCluster.WaitUntilAsync(async () => await MetricAsync(cluster, lagging, "raft_snapshots_installed_total") >= 1, "the lagging follower installing the snapshot");
        foreach (var (key, value) in values)
        {
            using var read = await cluster.Client(lagging).GetAsync($"/v1/kv/{key}?consistency=stale");
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            Assert.Equal(value, await read.Content.ReadAsStringAsync());
        }

        Assert.Equal(0, await MetricAsync(cluster, lagging, "raft_snapshot_failures_total"));

        // The leader counted the transfer and its bytes; the follower the bytes it installed.
        Assert.True(await MetricAsync(cluster, leader, "raft_snapshot_transfers_total") >= 1, "raft_snapshot_transfers_total");
        Assert.True(await MetricAsync(cluster, leader, "raft_snapshot_sent_bytes_total") > 16 * FrameBytesMax, "raft_snapshot_sent_bytes_total");
        Assert.True(await MetricAsync(cluster, lagging, "raft_snapshot_received_bytes_total") > 16 * FrameBytesMax, "raft_snapshot_received_bytes_total");
    }

    [Fact]
    public async Task A_backup_from_a_follower_restores_into_a_new_cluster_with_the_same_data_versions_and_locks()
    {
        var file = Path.GetTempFileName();
        try
        {
            var expected = new Dictionary<string, (string Value, string Version, string Created)>();
            ulong index;
            await using (var cluster = await TestCluster.StartAsync(3, _ => ["--Node:SnapshotEveryEntries=25"]))
            {
                var leader = await cluster.WaitForLeaderAsync();
                for (var i = 0; i < 60; i++)
                {
                    await PutAsync(cluster, leader, $"app/{i % 20}", $"value {i}");
                }

                using (var deleted = await cluster.Client(leader).DeleteAsync("/v1/kv/app/7"))
                {
                    Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
                }

                using (var locked = await cluster.Client(leader).PostAsync("/v1/locks/jobs/nightly", new StringContent("""{"owner":"worker-1","ttlMs":600000}""", Encoding.UTF8, "application/json")))
                {
                    Assert.Equal(HttpStatusCode.OK, locked.StatusCode);
                }

                var follower = leader == 1 ? 2 : 1;
                using var backup = await cluster.Client(follower).GetAsync("/v1/snapshot?consistency=linearizable", HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpStatusCode.OK, backup.StatusCode);
                Assert.Equal("application/octet-stream", backup.Content.Headers.ContentType?.MediaType);
                index = ulong.Parse(Header(backup, ApiHeaders.SnapshotIndex), CultureInfo.InvariantCulture);
                Assert.True(ulong.Parse(Header(backup, ApiHeaders.SnapshotTerm), CultureInfo.InvariantCulture) > 0);
                await using (var output = File.Create(file))
                {
                    await backup.Content.CopyToAsync(output);
                }

                for (var i = 0; i < 20; i++)
                {
                    using var read = await cluster.Client(leader).GetAsync($"/v1/kv/app/{i}");
                    if (read.StatusCode == HttpStatusCode.OK)
                    {
                        expected[$"app/{i}"] = (await read.Content.ReadAsStringAsync(), Header(read, ApiHeaders.Version), Header(read, ApiHeaders.CreateIndex));
                    }
                }

                // Linearizable: the backup holds every write acknowledged before it was asked for.
                Assert.True(index >= expected.Values.Max(v => ulong.Parse(v.Version, CultureInfo.InvariantCulture)));
            }

            Assert.Equal(19, expected.Count);
            using (var reader = SnapshotStream.OpenFile(file))
            {
                Assert.Equal(index, reader.Metadata.Index);
            }

            await using var restored = await TestCluster.StartAsync(3, startCount: 0);
            for (var id = 1; id <= 3; id++)
            {
                var code = RestoreCommand.Run(["--snapshot", file, "--data", restored.DataDirectory(id), .. restored.PeerArguments()], TextWriter.Null);
                Assert.Equal(0, code);
            }

            for (var id = 1; id <= 3; id++)
            {
                await restored.StartNodeAsync(id);
            }

            var newLeader = await restored.WaitForLeaderAsync();
            foreach (var (key, (value, version, created)) in expected)
            {
                using var read = await restored.Client(newLeader).GetAsync($"/v1/kv/{key}");
                Assert.Equal(HttpStatusCode.OK, read.StatusCode);
                Assert.Equal(value, await read.Content.ReadAsStringAsync());
                Assert.Equal(version, Header(read, ApiHeaders.Version));
                Assert.Equal(created, Header(read, ApiHeaders.CreateIndex));
            }

            using (var gone = await restored.Client(newLeader).GetAsync("/v1/kv/app/7"))
            {
                Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            }

            using (var held = await restored.Client(newLeader).GetAsync("/v1/locks/jobs/nightly"))
            {
                Assert.Equal(HttpStatusCode.OK, held.StatusCode);
                using var body = JsonDocument.Parse(await held.Content.ReadAsStringAsync());
                Assert.Equal("worker-1", body.RootElement.GetProperty("owner").GetString());
            }

            // The new cluster's log goes on after the backup's index.
            var next = await PutAsync(restored, newLeader, "after", "restore");
            Assert.True(next > index);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_damaged_or_misplaced_backup_is_refused_with_a_message_and_writes_nothing()
    {
        var file = Path.GetTempFileName();
        var root = Path.Combine(Path.GetTempPath(), "raft-restore-tests", Guid.NewGuid().ToString("N"));
        try
        {
            await using (var cluster = await TestCluster.StartAsync(1))
            {
                var leader = await cluster.WaitForLeaderAsync();
                for (var i = 0; i < 10; i++)
                {
                    await PutAsync(cluster, leader, $"k{i}", $"v{i}");
                }

                using var backup = await cluster.Client(leader).GetAsync("/v1/snapshot");
                Assert.Equal(HttpStatusCode.OK, backup.StatusCode);
                await File.WriteAllBytesAsync(file, await backup.Content.ReadAsByteArrayAsync());
            }

            var original = await File.ReadAllBytesAsync(file);
            var cases = new Dictionary<string, byte[]>
            {
                ["a flipped bit in the body"] = Flip(original, original.Length / 2),
                ["a flipped bit in the header"] = Flip(original, 10),
                ["a flipped bit in the trailer"] = Flip(original, original.Length - 6),
                ["cut short"] = original[..^20],
                ["empty"] = [],
            };
            foreach (var (what, bytes) in cases)
            {
                await File.WriteAllBytesAsync(file, bytes);
                var target = Path.Combine(root, what.Replace(' ', '-'));
                var output = new StringWriter();
                Assert.True(RestoreCommand.Run(["--snapshot", file, "--data", target, "--Node:Peers:1=127.0.0.1:7001"], output) == 1, what);
                Assert.StartsWith("restore failed: ", output.ToString(), StringComparison.Ordinal);
                Assert.False(Directory.Exists(target), $"{what}: the data directory was left behind");
            }

            // An intact backup is refused into a directory that holds something.
            await File.WriteAllBytesAsync(file, original);
            var used = Path.Combine(root, "used");
            Directory.CreateDirectory(used);
            await File.WriteAllTextAsync(Path.Combine(used, "keep.txt"), "mine");
            var refusal = new StringWriter();
            Assert.Equal(1, RestoreCommand.Run(["--snapshot", file, "--data", used], refusal));
            Assert.Contains("is not empty", refusal.ToString(), StringComparison.Ordinal);
            Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(used).Select(Path.GetFileName));

            Assert.Equal(2, RestoreCommand.Run(["--data", used], TextWriter.Null));
        }
        finally
        {
            File.Delete(file);
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    [Fact]
    public async Task A_backup_asked_with_a_bad_consistency_is_a_json_400()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        await cluster.WaitForLeaderAsync();

        using var response = await cluster.Client(1).GetAsync("/v1/snapshot?consistency=lease");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("invalid_consistency", body.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_survivor_forced_into_a_new_cluster_keeps_every_committed_entry_and_takes_writes()
    {
        await using var cluster = await TestCluster.StartAsync(3, _ => ["--Node:SnapshotEveryEntries=30"]);
        var leader = await cluster.WaitForLeaderAsync();
        var written = new Dictionary<string, string>();
        for (var i = 0; i < 50; i++)
        {
            written[$"k{i}"] = $"v{i}";
            await PutAsync(cluster, leader, $"k{i}", $"v{i}");
        }

        // Every node stops; two never come back. The survivor is one that may hold the writes only as its log says.
        var survivor = leader == 3 ? 2 : 3;
        for (var id = 1; id <= 3; id++)
        {
            await cluster.StopNodeAsync(id);
        }

        await using var alone = await TestCluster.StartAsync(1, startCount: 0);
        Directory.CreateDirectory(Path.GetDirectoryName(alone.DataDirectory(1))!);
        Directory.Move(cluster.DataDirectory(survivor), alone.DataDirectory(1));
        await alone.StartNodeAsync(1, ["--Node:ForceNewCluster=true"]);

        Assert.Equal(1, await alone.WaitForLeaderAsync());
        foreach (var (key, value) in written)
        {
            using var read = await alone.Client(1).GetAsync($"/v1/kv/{key}");
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            Assert.Equal(value, await read.Content.ReadAsStringAsync());
        }

        await PutAsync(alone, 1, "after", "recovery");
        using var status = await alone.ClusterStatusAsync(1);
        Assert.Equal(1, status.RootElement.GetProperty("members").GetArrayLength());
    }

    private static string Value(int i) => string.Create(CultureInfo.InvariantCulture, $"{i:D6}") + new string((char)('a' + (i % 26)), ValueBytes - 6);

    private static byte[] Flip(byte[] bytes, int offset)
    {
        var copy = bytes.ToArray();
        copy[offset] ^= 0x10;
        return copy;
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : throw new InvalidOperationException($"no {name} header");

    private static async Task<ulong> PutAsync(TestCluster cluster, int node, string key, string value)
    {
        using var response = await cluster.Client(node).PutAsync($"/v1/kv/{key}", new StringContent(value));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("index").GetUInt64();
    }

    private static async Task<double> MetricAsync(TestCluster cluster, int node, string name)
    {
        using var response = await cluster.Client(node).GetAsync("/metrics");
        foreach (var line in (await response.Content.ReadAsStringAsync()).Split('\n'))
        {
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"no metric {name}");
    }

    private static Task<double> WaitForMetricAsync(TestCluster cluster, int node, string name, Func<double, bool> done) =>
        TestCluster.WaitUntilAsync(async () => await MetricAsync(cluster, node, name) is var value && done(value) ? value : 0, $"{name} on node {node}");
}
