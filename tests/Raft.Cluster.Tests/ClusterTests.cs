using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Raft.Cluster.Tests;

/// <summary>Three real node processes on 127.0.0.1, used over HTTP as a client would.</summary>
public sealed class ClusterTests(ITestOutputHelper output)
{
    private static HttpRequestMessage Put(Uri url, string value) => new(HttpMethod.Put, url) { Content = new StringContent(value, Encoding.UTF8) };

    [Fact]
    public async Task ThreeNodes_WriteThroughEachNode_ReadBackLinearizablyFromEach()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        await cluster.WaitForLeaderAsync();

        for (var id = 1; id <= 3; id++)
        {
            using var put = await cluster.SendUntilAnsweredAsync(() => Put(cluster.Url(id, $"/v1/kv/key-{id}"), $"value-{id}"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            Assert.True(put.Headers.Contains("X-Raft-Index"));
        }

        for (var reader = 1; reader <= 3; reader++)
        {
            for (var id = 1; id <= 3; id++)
            {
                using var get = await cluster.SendUntilAnsweredAsync(() => new HttpRequestMessage(HttpMethod.Get, cluster.Url(reader, $"/v1/kv/key-{id}?consistency=linearizable")));
                Assert.Equal(HttpStatusCode.OK, get.StatusCode);
                Assert.Equal($"value-{id}", await get.Content.ReadAsStringAsync());
            }
        }
    }

    [Fact]
    public async Task KillLeaderWhileWriting_WritesResume_NothingAcknowledgedIsLost_AndTheNodeCatchesUpAfterRestart()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync();
        var survivors = Enumerable.Range(1, 3).Where(id => id != leader).ToArray();
        var acknowledged = new List<int>();

        // One writer, one write in flight, through the survivors (forwarded to whoever leads).
        using var stop = new CancellationTokenSource();
        var sequence = 0;
        var killedAt = TimeSpan.Zero;
        var firstAfterKill = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var n = sequence++;
                var node = survivors[n % survivors.Length];
                try
                {
                    using var response = await cluster.Http.SendAsync(Put(cluster.Url(node, $"/v1/kv/w-{n:D6}"), $"v{n}"));
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        lock (acknowledged)
                        {
                            acknowledged.Add(n);
                            if (killedAt != TimeSpan.Zero && firstAfterKill == TimeSpan.Zero)
                            {
                                firstAfterKill = clock.Elapsed;
                            }
                        }
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }
            }
        });

        await WaitUntilAsync(() => { lock (acknowledged) { return acknowledged.Count >= 50; } }, "writes before the kill");
        await cluster.KillAsync(leader);
        lock (acknowledged)
        {
            killedAt = clock.Elapsed;
        }

        await WaitUntilAsync(() => { lock (acknowledged) { return firstAfterKill != TimeSpan.Zero && acknowledged.Count >= 150; } }, "writes after the kill");
        await stop.CancelAsync();
        await writer.WaitAsync(ProcessCluster.Patience);
        output.WriteLine($"kill -9 of leader {leader} -> first acknowledged write: {(firstAfterKill - killedAt).TotalMilliseconds:F0} ms");

        var newLeader = await cluster.WaitForLeaderAsync();
        await AssertAllPresentAsync(cluster, newLeader, acknowledged);

        // The killed node restarts from its data directory, catches up, and serves the same data.
        cluster.Start(leader);
        await WaitUntilAsync(async () => await CountAsync(cluster, leader, "stale") >= acknowledged.Count, "the restarted node catching up");
        await AssertAllPresentAsync(cluster, leader, acknowledged);
    }

    [Fact]
    public async Task RestartedCluster_KeepsEverythingCommitted()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync();
        for (var i = 0; i < 20; i++)
        {
            using var put = await cluster.SendUntilAnsweredAsync(() => Put(cluster.Url(leader, $"/v1/kv/keep-{i:D2}"), $"kept {i}"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        for (var id = 1; id <= 3; id++)
        {
            await cluster.KillAsync(id);
        }

        cluster.StartAll();
        var after = await cluster.WaitForLeaderAsync();
        for (var i = 0; i < 20; i++)
        {
            using var get = await cluster.SendUntilAnsweredAsync(() => new HttpRequestMessage(HttpMethod.Get, cluster.Url(after, $"/v1/kv/keep-{i:D2}")));
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal($"kept {i}", await get.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task RejectMode_FollowerAnswers503NamingTheLeader()
    {
        await using var cluster = new ProcessCluster(3, "--Node:FollowerMode=Reject");
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = Enumerable.Range(1, 3).First(id => id != leader);

        using var response = await cluster.Http.SendAsync(Put(cluster.Url(follower, "/v1/kv/x"), "y"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(leader.ToString(System.Globalization.CultureInfo.InvariantCulture), Assert.Single(response.Headers.GetValues("X-Raft-Leader")));
    }

    [Fact]
    public async Task BadRequests_Get4xxWithAJsonError_AndChangeNothing()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync();
        var before = await CountAsync(cluster, leader, "linearizable");

        using var tooLongKey = await cluster.Http.SendAsync(Put(cluster.Url(leader, $"/v1/kv/{new string('k', 2000)}"), "v"));
        using var tooBigValue = await cluster.Http.SendAsync(new HttpRequestMessage(HttpMethod.Put, cluster.Url(leader, "/v1/kv/big")) { Content = new ByteArrayContent(new byte[(1 << 20) + 1]) });
        using var badConsistency = await cluster.Http.SendAsync(new HttpRequestMessage(HttpMethod.Get, cluster.Url(leader, "/v1/kv/a?consistency=sometimes")));

        Assert.Equal(HttpStatusCode.RequestUriTooLong, tooLongKey.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBigValue.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badConsistency.StatusCode);
        foreach (var response in new[] { tooLongKey, tooBigValue, badConsistency })
        {
            using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.True(error.RootElement.TryGetProperty("error", out _));
        }

        Assert.Equal(before, await CountAsync(cluster, leader, "linearizable"));
    }

    private static async Task<int> CountAsync(ProcessCluster cluster, int node, string consistency)
    {
        using var response = await cluster.SendUntilAnsweredAsync(() => new HttpRequestMessage(HttpMethod.Get, cluster.Url(node, $"/v1/kv?prefix=&limit=10000&consistency={consistency}")));
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = doc.RootElement;
        var items = root.ValueKind == JsonValueKind.Array ? root : root.GetProperty("items");
        return items.GetArrayLength();
    }

    private static async Task AssertAllPresentAsync(ProcessCluster cluster, int node, List<int> acknowledged)
    {
        int[] expected;
        lock (acknowledged)
        {
            expected = [.. acknowledged];
        }

        foreach (var n in expected)
        {
            using var get = await cluster.SendUntilAnsweredAsync(() => new HttpRequestMessage(HttpMethod.Get, cluster.Url(node, $"/v1/kv/w-{n:D6}?consistency=stale")));
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal($"v{n}", await get.Content.ReadAsStringAsync());
        }
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + ProcessCluster.Patience;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(20);
        }
    }
}
