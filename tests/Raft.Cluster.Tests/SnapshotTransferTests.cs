using System.Globalization;
using System.Net;
using System.Text;
using Xunit.Abstractions;

namespace Raft.Cluster.Tests;

/// <summary>
/// A snapshot transfer between real node processes, cut halfway by kill -9 of its receiver or of its sender: the
/// follower still catches up, with every acknowledged write. The transfer is made long on purpose (small chunks,
/// several MiB), and the kill comes while the follower's temporary snapshot file is growing.
/// </summary>
public sealed class SnapshotTransferTests(ITestOutputHelper output)
{
    private const int Keys = 300;
    private const int ValueBytes = 16 * 1024;

    [Fact]
    public async Task A_transfer_cut_by_killing_the_receiver_starts_over_when_it_comes_back_and_completes()
    {
        await using var cluster = StartCluster();
        var (_, lagging, partial) = await StartTransferAsync(cluster);
        await cluster.KillAsync(lagging);
        output.WriteLine($"node {lagging} killed with {partial} bytes of the snapshot received");
        Assert.Empty(Directory.GetFiles(SnapshotDirectory(cluster, lagging), "*.snap"));

        cluster.Start(lagging);
        await AssertCaughtUpAsync(cluster, lagging);
    }

    [Fact]
    public async Task A_transfer_cut_by_killing_the_sender_is_taken_over_by_the_next_leader()
    {
        await using var cluster = StartCluster();
        var (leader, lagging, partial) = await StartTransferAsync(cluster);
        await cluster.KillAsync(leader);
        output.WriteLine($"leader {leader} killed with {partial} bytes of its snapshot at node {lagging}");

        var next = await cluster.WaitForLeaderAsync(notThis: leader);
        Assert.NotEqual(lagging, next);
        await AssertCaughtUpAsync(cluster, lagging);
    }

    // A follower is down while the leader takes in the data, then started again: returns once a snapshot is streaming to
    // it, with how many bytes of it the follower holds.
    private static async Task<(int Leader, int Lagging, long Partial)> StartTransferAsync(ProcessCluster cluster)
    {
        var leader = await cluster.WaitForLeaderAsync();
        var lagging = leader == 3 ? 2 : 3;
        await cluster.KillAsync(lagging);
        await FillAsync(cluster, leader);

        cluster.Start(lagging);
        return (leader, lagging, await WaitForIncomingSnapshotAsync(cluster, lagging));
    }

    // Chunks of 4 KiB make a transfer of about 5 MiB some 1,200 round trips long: long enough to be caught halfway.
    private static ProcessCluster StartCluster()
    {
        var cluster = new ProcessCluster(
            3,
            "--Node:SnapshotEveryEntries=100",
            "--Node:SnapshotTrailingEntries=0",
            "--Node:SnapshotChunkBytes=4096",
            $"--Node:MaxValueBytes={ValueBytes}",
            "--Logging:LogLevel:Default=Warning");
        cluster.StartAll();
        return cluster;
    }

    private static string Value(int i) => i.ToString("D6", CultureInfo.InvariantCulture) + new string((char)('a' + (i % 26)), ValueBytes - 6);

    private static async Task FillAsync(ProcessCluster cluster, int leader)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, Keys), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            using var response = await cluster.SendUntilAnsweredAsync(() => new HttpRequestMessage(HttpMethod.Put, cluster.Url(leader, $"/v1/kv/big/{i:D4}"))
            {
                Content = new StringContent(Value(i), Encoding.UTF8),
            });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        });
    }

    private static string SnapshotDirectory(ProcessCluster cluster, int id) => Path.Combine(cluster.DataDirectory, $"node-{id}", "snapshots");

    // The follower's temporary file of an incoming snapshot, once it holds some bytes and the snapshot is not yet whole.
    private static async Task<long> WaitForIncomingSnapshotAsync(ProcessCluster cluster, int id)
    {
        var deadline = DateTime.UtcNow + ProcessCluster.Patience;
        var directory = SnapshotDirectory(cluster, id);
        while (DateTime.UtcNow < deadline)
        {
            if (Directory.Exists(directory))
            {
                foreach (var file in Directory.GetFiles(directory, "incoming-*.snap.tmp"))
                {
                    var length = new FileInfo(file).Length;
                    if (length > 0 && Directory.GetFiles(directory, "*.snap").Length == 0)
                    {
                        return length;
                    }
                }
            }

            await Task.Delay(2);
        }

        throw new TimeoutException($"node {id} never began to receive a snapshot\n{cluster.Logs()}");
    }

    // Every key is there, read from the follower's own state, once it applied what the leader committed.
    private static async Task AssertCaughtUpAsync(ProcessCluster cluster, int id)
    {
        var deadline = DateTime.UtcNow + ProcessCluster.Patience;
        while (true)
        {
            using var probe = await cluster.SendUntilAnsweredAsync(() => new HttpRequestMessage(HttpMethod.Get, cluster.Url(id, $"/v1/kv/big/{Keys - 1:D4}?consistency=stale")));
            if (probe.StatusCode == HttpStatusCode.OK)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"node {id} did not catch up\n{cluster.Logs()}");
            await Task.Delay(20);
        }

        for (var i = 0; i < Keys; i++)
        {
            using var read = await cluster.Http.GetAsync(cluster.Url(id, $"/v1/kv/big/{i:D4}?consistency=stale"));
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            Assert.Equal(Value(i), await read.Content.ReadAsStringAsync());
        }

        using var metrics = await cluster.Http.GetAsync(cluster.Url(id, "/metrics"));
        var text = await metrics.Content.ReadAsStringAsync();
        Assert.Contains("\nraft_snapshots_installed_total 1\n", text, StringComparison.Ordinal);
    }
}
