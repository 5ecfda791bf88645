using Raft.Client;

namespace Raft.Cluster.Tests;

/// <summary>
/// A watch through the .NET client against real node processes: it is served by followers only, while a writer goes
/// through the leader, the leader is killed with kill -9 and started again, and then the node serving the watch is
/// killed too; the watch goes on through the other follower and delivers every acknowledged write once, in order.
/// </summary>
public sealed class WatchTests
{
    [Fact]
    public async Task A_watch_on_followers_sees_every_acknowledged_write_once_in_order_through_a_leader_kill_and_its_own_node_s_kill()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync();
        int[] followers = [.. Enumerable.Range(1, 3).Where(id => id != leader)];
        using var writer = ClientSessionTests.Connect(cluster, "watch-writer");
        var start = (await writer.PutAsync("w/start", "0")).Index;

        // Only the followers: the watch is served by followers[0] first, then by followers[1].
        using var watching = new RaftKvClient(followers.ToDictionary(id => id, cluster.Endpoint),
            new RaftKvClientOptions { RequestTimeout = TimeSpan.FromSeconds(5), RetryDeadline = ProcessCluster.Patience, WatchIdleTimeout = TimeSpan.FromSeconds(10) });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var seen = new List<WatchEvent>();
        var watch = Task.Run(async () =>
        {
            await foreach (var change in watching.WatchPrefixAsync("w/", start, stop.Token))
            {
                lock (seen)
                {
                    seen.Add(change);
                }
            }
        });

        var acknowledged = new List<(ulong Index, string Key)>();
        async Task WriteAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var key = $"w/{acknowledged.Count:D4}";
                acknowledged.Add(((await writer.PutAsync(key, key)).Index, key));
            }
        }

        await WriteAsync(30);
        await cluster.KillAsync(leader);
        await WriteAsync(30);
        cluster.Start(leader);
        await cluster.WaitForLeaderAsync();
        await WriteAsync(10);
        await cluster.KillAsync(followers[0]);
        await WriteAsync(30);

        var deadline = DateTime.UtcNow + ProcessCluster.Patience;
        while (Count() < acknowledged.Count && !watch.IsCompleted)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the watch delivered {Count()} of {acknowledged.Count} writes in time");
            await Task.Delay(20);
        }

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watch);
        lock (seen)
        {
            Assert.Equal(acknowledged.Select(a => $"{a.Index} put {a.Key}"), seen.Select(s => $"{s.Index} {(s.Deleted ? "delete" : "put")} {s.Key}"));
            Assert.All(seen, s => Assert.Equal(s.Key, s.ValueAsString()));
        }

        int Count()
        {
            lock (seen)
            {
                return seen.Count;
            }
        }
    }
}
