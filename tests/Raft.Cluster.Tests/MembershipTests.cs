using System.Collections.Concurrent;
using System.Text.Json;
using Raft.Client;

namespace Raft.Cluster.Tests;

/// <summary>
/// Membership changes with real node processes: three voters become five (two new nodes on empty data directories
/// join and are promoted on their own) and shrink back to three, the leader removed first, all under a writer; every
/// write the writer saw acknowledged is then on each remaining member, once. And failback: the preferred leader,
/// killed and started again, gets leadership back on its own.
/// </summary>
public sealed class MembershipTests
{
    [Fact]
    public async Task Three_grow_to_five_and_shrink_to_three_removing_the_leader_under_a_writer_without_losing_a_write()
    {
        await using var cluster = new ProcessCluster(5) { Voters = 3 };
        cluster.StartAll();
        await cluster.WaitForLeaderAsync();
        using var client = ClientSessionTests.Connect(cluster, "grow-and-shrink");
        var acknowledged = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var key = $"m/{i:D5}";
                await client.PutAsync(key, key);
                acknowledged.Enqueue(key);
            }
        });

        cluster.Start(4);
        cluster.Start(5);
        await WaitUntilAsync(async () => (await client.GetMembersAsync()).Members.Count(m => m.Voter) == 5, "five voters", writer);

        // The leader first (it hands over, then goes), then another of the first three.
        var leader = await cluster.WaitForLeaderAsync();
        var other = leader == 1 ? 2 : 1;
        foreach (var removed in new[] { leader, other })
        {
            // A configuration is in force once appended: the last promotion may not be committed yet (409 change_in_progress).
            ClusterMembers? after = null;
            await WaitUntilAsync(async () =>
            {
                try
                {
                    after = await client.RemoveMemberAsync(removed);
                    return true;
                }
                catch (RaftKvException e) when (e.ErrorCode == Raft.Protocol.ErrorCodes.ChangeInProgress)
                {
                    return false;
                }
            }, $"node {removed} removed", writer);
            Assert.DoesNotContain(after!.Members, m => m.Id == removed);
            await cluster.KillAsync(removed);
        }

        var writes = acknowledged.Count;
        await WaitUntilAsync(() => Task.FromResult(acknowledged.Count > writes + 20), "writes after the shrink", writer);
        await stop.CancelAsync();
        await writer.WaitAsync(ProcessCluster.Patience);

        var remaining = Enumerable.Range(1, 5).Except([leader, other]).ToArray();
        Assert.Equal(remaining, (await client.GetMembersAsync()).Members.Where(m => m.Voter).Select(m => m.Id).Order());
        foreach (var id in remaining)
        {
            using var list = await cluster.Http.GetAsync(cluster.Url(id, "/v1/kv?prefix=m/&limit=10000&consistency=linearizable"));
            using var json = JsonDocument.Parse(await list.Content.ReadAsStringAsync());
            var items = json.RootElement.GetProperty("items").EnumerateArray().ToList();
            var keys = items.Select(i => i.GetProperty("key").GetString()!).ToList();
            Assert.Equal(keys.Distinct().Count(), keys.Count);
            Assert.Empty(acknowledged.Except(keys));

            // Written once: a key's version is the index that created it.
            Assert.All(items, i => Assert.Equal(i.GetProperty("createIndex").GetUInt64(), i.GetProperty("version").GetUInt64()));
        }
    }

    [Fact]
    public async Task The_preferred_leader_killed_and_started_again_gets_leadership_back()
    {
        await using var cluster = new ProcessCluster(3, "--Node:PreferredLeader=1", "--Node:FailbackDelayMs=500");
        cluster.StartAll();
        using var client = ClientSessionTests.Connect(cluster, "failback");
        var first = await cluster.WaitForLeaderAsync();
        if (first != 1)
        {
            // Failback moves it to node 1 even at the start, once node 1 has been caught up for the delay.
            await WaitUntilAsync(async () => await cluster.WaitForLeaderAsync() == 1, "node 1 to lead", Task.CompletedTask);
        }

        await cluster.KillAsync(1);
        var interim = await cluster.WaitForLeaderAsync(notThis: 1);
        await client.PutAsync("failback/while-away", "x");
        cluster.Start(1);
        await WaitUntilAsync(async () => await cluster.WaitForLeaderAsync() == 1, $"leadership back on node 1 from node {interim}", Task.CompletedTask);
        Assert.Equal("x", (await client.GetAsync("failback/while-away"))?.ValueAsString());
    }

    // Polls until the probe holds; a writer that failed fails the test at once, and the wait is bounded.
    private static async Task WaitUntilAsync(Func<Task<bool>> probe, string what, Task writer)
    {
        var deadline = DateTime.UtcNow + ProcessCluster.Patience;
        while (!await probe())
        {
            if (writer.IsFaulted)
            {
                await writer;
            }

            Assert.True(DateTime.UtcNow < deadline, $"gave up waiting for {what}");
            await Task.Delay(50);
        }
    }
}
