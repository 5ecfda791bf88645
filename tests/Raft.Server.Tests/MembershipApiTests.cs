using System.Net;
using System.Text;
using System.Text.Json;

namespace Raft.Server.Tests;

public sealed class MembershipApiTests
{
    private static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    private static async Task<JsonDocument> Read(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync());

    private static async Task<(int Id, bool Voter)[]> MembersAsync(TestCluster cluster, int askedOf)
    {
        using var response = await cluster.Client(askedOf).GetAsync("/v1/cluster/members");
        response.EnsureSuccessStatusCode();
        using var json = await Read(response);
        return [.. json.RootElement.GetProperty("members").EnumerateArray().Select(m => (m.GetProperty("id").GetInt32(), m.GetProperty("voter").GetBoolean()))];
    }

    private static async Task AssertError(HttpResponseMessage response, HttpStatusCode status, string error, string detail)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{response.StatusCode}: {body}");
        using var json = JsonDocument.Parse(body);
        Assert.Equal(error, json.RootElement.GetProperty("error").GetString());
        Assert.Contains(detail, json.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static async Task<string?> StaleReadAsync(TestCluster cluster, int id, string key)
    {
        using var get = await cluster.Client(id).GetAsync($"/v1/kv/{key}?consistency=stale");
        return get.StatusCode == HttpStatusCode.OK ? await get.Content.ReadAsStringAsync() : null;
    }

    [Fact]
    public async Task Every_node_lists_the_members_with_the_addresses_the_configuration_holds()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();

        using var response = await cluster.Client(leader % 3 + 1).GetAsync("/v1/cluster/members");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = await Read(response);
        Assert.Equal(leader, json.RootElement.GetProperty("leaderId").GetInt32());
        var members = json.RootElement.GetProperty("members").EnumerateArray().ToArray();
        Assert.Equal([1, 2, 3], members.Select(m => m.GetProperty("id").GetInt32()));
        Assert.All(members, m => Assert.True(m.GetProperty("voter").GetBoolean()));
        Assert.Equal(cluster.PeerAddress(2), members[1].GetProperty("peerAddress").GetString());
        Assert.Equal(cluster.HttpUrl(2), members[1].GetProperty("httpEndpoint").GetString());
        Assert.Equal(leader, members.Single(m => m.GetProperty("leader").GetBoolean()).GetProperty("id").GetInt32());
    }

    // The operator's procedure, over the production TCP transport: a member dies; a new node on a new port and an empty
    // data directory joins as a learner, catches up, is promoted, and the dead member is removed; writes go on.
    [Fact]
    public async Task A_dead_member_is_replaced_by_a_new_node_that_joins_catches_up_and_votes()
    {
        await using var cluster = await TestCluster.StartAsync(size: 4, startCount: 3, tcp: true, voters: 3);
        var leader = await cluster.WaitForLeaderAsync();
        for (var i = 0; i < 20; i++)
        {
            using var put = await cluster.Client(leader).PutAsync($"/v1/kv/before/{i}", Json($"v{i}"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var dead = leader % 3 + 1;
        var survivor = 6 - leader - dead;
        await cluster.StopNodeAsync(dead);

        await cluster.StartNodeAsync(4);
        await TestCluster.WaitUntilAsync(async () => (await MembersAsync(cluster, leader)).Contains((4, false)), "node 4 listed as a learner");
        Assert.Equal("v19", await TestCluster.WaitUntilAsync(() => StaleReadAsync(cluster, 4, "before/19"), "node 4 to catch up"));

        // Asked of the survivor, a follower: passed on to the leader, like every change.
        using (var promote = await cluster.Client(survivor).PostAsync("/v1/cluster/members/4/promote", null))
        {
            Assert.True(promote.StatusCode == HttpStatusCode.OK, await promote.Content.ReadAsStringAsync());
            using var json = await Read(promote);
            Assert.True(json.RootElement.GetProperty("index").GetUInt64() > 0);
        }

        using (var remove = await cluster.Client(survivor).DeleteAsync($"/v1/cluster/members/{dead}"))
        {
            Assert.True(remove.StatusCode == HttpStatusCode.OK, await remove.Content.ReadAsStringAsync());
        }

        var expected = new[] { leader, survivor, 4 }.Order().Select(id => (id, true)).ToArray();
        Assert.Equal(expected, await MembersAsync(cluster, leader));
        await TestCluster.WaitUntilAsync(async () => (await MembersAsync(cluster, 4)).SequenceEqual(expected), "node 4 to have the new configuration");

        // Node 4 now counts towards the quorum: with the survivor stopped, the leader and node 4 still commit.
        await cluster.StopNodeAsync(survivor);
        using (var put = await cluster.Client(leader).PutAsync("/v1/kv/after", Json("replaced")))
        {
            Assert.True(put.StatusCode == HttpStatusCode.OK, await put.Content.ReadAsStringAsync());
        }

        Assert.Equal("replaced", await TestCluster.WaitUntilAsync(() => StaleReadAsync(cluster, 4, "after"), "node 4 to apply the write"));
        using var status = await cluster.ClusterStatusAsync(4);
        Assert.True(status.RootElement.GetProperty("role").GetString() is "leader" or "follower");
    }

    [Fact]
    public async Task Removing_the_leader_hands_leadership_over_first()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();

        using (var remove = await cluster.Client(leader).DeleteAsync($"/v1/cluster/members/{leader}"))
        {
            Assert.True(remove.StatusCode == HttpStatusCode.OK, await remove.Content.ReadAsStringAsync());
            using var json = await Read(remove);
            Assert.NotEqual(leader, json.RootElement.GetProperty("leaderId").GetInt32());
            Assert.DoesNotContain(leader, json.RootElement.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("id").GetInt32()));
        }

        var other = leader % 3 + 1;
        using (var put = await cluster.Client(other).PutAsync("/v1/kv/after-removal", Json("ok")))
        {
            Assert.True(put.StatusCode == HttpStatusCode.OK, await put.Content.ReadAsStringAsync());
        }

        Assert.Equal(2, (await MembersAsync(cluster, other)).Length);
    }

    [Fact]
    public async Task Bad_member_requests_are_named_and_change_nothing()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:PromoteMaxLagEntries=0"]);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        var client = cluster.Client(follower);

        await AssertError(await client.PostAsync("/v1/cluster/members", Json("{\"id\":\"x\"}")), HttpStatusCode.BadRequest, "invalid_member", "id must be a positive integer");
        await AssertError(await client.PostAsync("/v1/cluster/members", Json("not json")), HttpStatusCode.BadRequest, "invalid_member", "not valid JSON");
        await AssertError(await client.PostAsync("/v1/cluster/members", Json(new string(' ', 5000))), HttpStatusCode.RequestEntityTooLarge, "body_too_large", "4096 bytes");
        await AssertError(
            await client.PostAsync("/v1/cluster/members", Json($"{{\"id\":2,\"peerAddress\":\"127.0.0.1:9\",\"httpEndpoint\":\"http://127.0.0.1:9\"}}")),
            HttpStatusCode.Conflict, "member_exists", "node 2 is already a member");
        await AssertError(
            await client.PostAsync("/v1/cluster/members", Json($"{{\"id\":7,\"peerAddress\":\"{cluster.PeerAddress(1)}\",\"httpEndpoint\":\"http://127.0.0.1:9\"}}")),
            HttpStatusCode.Conflict, "member_exists", $"node 1 already uses {cluster.PeerAddress(1)}");
        await AssertError(await client.DeleteAsync("/v1/cluster/members/9"), HttpStatusCode.NotFound, "member_not_found", "node 9 is not a member");
        await AssertError(await client.DeleteAsync("/v1/cluster/members/x"), HttpStatusCode.BadRequest, "invalid_member", "positive integer");
        await AssertError(await client.PostAsync("/v1/cluster/members/0/promote", null), HttpStatusCode.BadRequest, "invalid_member", "positive integer");
        await AssertError(await client.PostAsync("/v1/cluster/members/9/promote", null), HttpStatusCode.NotFound, "member_not_found", "node 9");
        Assert.Equal([(1, true), (2, true), (3, true)], await MembersAsync(cluster, leader));

        // A learner that never started has nothing of the log: it is not promoted. Adding it again is no change.
        var add = $"{{\"id\":5,\"peerAddress\":\"127.0.0.1:7005\",\"httpEndpoint\":\"http://127.0.0.1:5005\"}}";
        ulong addedAt;
        using (var added = await client.PostAsync("/v1/cluster/members", Json(add)))
        {
            Assert.True(added.StatusCode == HttpStatusCode.OK, await added.Content.ReadAsStringAsync());
            using var json = await Read(added);
            addedAt = json.RootElement.GetProperty("index").GetUInt64();
        }

        // The leader's status and metrics show the learner and the configuration's index.
        using (var status = await cluster.ClusterStatusAsync(leader))
        {
            Assert.Equal(addedAt, status.RootElement.GetProperty("configIndex").GetUInt64());
            Assert.Equal("learner", status.RootElement.GetProperty("members").EnumerateArray().Single(m => m.GetProperty("id").GetInt32() == 5).GetProperty("role").GetString());
        }

        var metrics = await cluster.Client(leader).GetStringAsync("/metrics");
        Assert.Contains("raft_learners 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("raft_voters 3\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"raft_config_index {addedAt}\n", metrics, StringComparison.Ordinal);
        Assert.Contains("raft_membership_change_pending 0\n", metrics, StringComparison.Ordinal);

        using (var again = await client.PostAsync("/v1/cluster/members", Json(add)))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            Assert.Contains("already a member", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await AssertError(await client.PostAsync("/v1/cluster/members/5/promote", null), HttpStatusCode.Conflict, "not_caught_up", "node 5 has entries up to 0");
        using (var voter = await client.PostAsync("/v1/cluster/members/1/promote", null))
        {
            Assert.Equal(HttpStatusCode.OK, voter.StatusCode);
            Assert.Contains("already a voter", await voter.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal([(1, true), (2, true), (3, true), (5, false)], await MembersAsync(cluster, leader));
        using (var removed = await client.DeleteAsync("/v1/cluster/members/5"))
        {
            Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        }

        Assert.Equal([(1, true), (2, true), (3, true)], await MembersAsync(cluster, leader));
    }

    [Fact]
    public async Task The_last_voter_cannot_be_removed()
    {
        await using var cluster = await TestCluster.StartAsync(size: 1);
        await cluster.WaitForLeaderAsync();

        await AssertError(await cluster.Client(1).DeleteAsync("/v1/cluster/members/1"), HttpStatusCode.Conflict, "invalid_change", "cannot remove the last voter");
    }

    [Fact]
    public async Task An_empty_data_directory_starts_only_as_a_new_cluster_or_to_join_one()
    {
        var data = Path.Combine(Path.GetTempPath(), "raft-server-tests", Guid.NewGuid().ToString("N"));
        try
        {
            await using var app = NodeHost.Build(
                ["--Node:Id=1", $"--Node:DataDirectory={data}", "--Node:Peers:1=127.0.0.1:7001", "--Node:HttpEndpoints:1=http://127.0.0.1:0"],
                new InMemoryNetwork().Factory);
            var refused = await Assert.ThrowsAsync<NodeStartRefusedException>(() => app.StartAsync());
            Assert.Contains("--Node:ClusterState=new", refused.Message, StringComparison.Ordinal);
            Assert.Contains("--Node:Join=", refused.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(data, "members")));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task A_restarted_node_trusts_the_membership_it_began_with_not_its_command_line()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.WaitForLeaderAsync();
        for (var id = 1; id <= 3; id++)
        {
            await cluster.StopNodeAsync(id);
        }

        // Told now that it is alone, node 1 would elect itself; it keeps the three members it was started with.
        await using var app = NodeHost.Build(
            ["--Node:Id=1", $"--Node:DataDirectory={cluster.DataDirectory(1)}", $"--Node:Peers:1={cluster.PeerAddress(1)}",
             $"--Node:HttpEndpoints:1={cluster.HttpUrl(1)}", "--Node:ClusterState=new", "--Logging:LogLevel:Default=Warning"],
            cluster.Network.Factory);
        await app.StartAsync();
        Assert.Equal([(1, true), (2, true), (3, true)], await MembersAsync(cluster, 1));
        using var status = await cluster.ClusterStatusAsync(1);
        Assert.NotEqual("leader", status.RootElement.GetProperty("role").GetString());
        await app.StopAsync();
    }
}

public sealed class FailbackTests
{
    [Fact]
    public async Task Leadership_returns_to_the_preferred_node_once_it_is_back_and_caught_up()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:PreferredLeader=1", "--Node:FailbackDelayMs=200"]);
        Assert.Equal(1, await TestCluster.WaitUntilAsync(async () => await cluster.WaitForLeaderAsync() == 1 ? 1 : 0, "node 1 to lead"));

        // Node 1 fails: another node takes over and the cluster serves without it.
        await cluster.StopNodeAsync(1);
        var interim = await cluster.WaitForLeaderAsync();
        Assert.NotEqual(1, interim);
        using (var put = await cluster.Client(interim).PutAsync("/v1/kv/while-1-was-away", new StringContent("written")))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, put.StatusCode);
        }

        // Back, it catches up, and after the delay the leader hands over to it, on its own.
        await cluster.StartNodeAsync(1);
        Assert.Equal(1, await TestCluster.WaitUntilAsync(async () => await cluster.WaitForLeaderAsync() == 1 ? 1 : 0, "leadership back on node 1"));
        using var get = await cluster.Client(1).GetAsync("/v1/kv/while-1-was-away?consistency=lease");
        Assert.Equal("written", await get.Content.ReadAsStringAsync());
    }
}

public sealed class ClientMembershipTests
{
    [Fact]
    public async Task The_client_lists_adds_promotes_and_removes_members_and_names_what_it_cannot_do()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:PromoteMaxLagEntries=0"]);
        await cluster.WaitForLeaderAsync();
        using var client = new Raft.Client.RaftKvClient([new Uri(cluster.HttpUrl(1))]);

        var members = await client.GetMembersAsync();
        Assert.Equal([1, 2, 3], members.Members.Select(m => m.Id));
        Assert.Equal(new Uri(cluster.HttpUrl(3) + "/"), members.Members[2].HttpEndpoint);
        Assert.Equal(members.LeaderId, Assert.Single(members.Members, m => m.Leader).Id);

        var added = await client.AddMemberAsync(6, "127.0.0.1:7006", new Uri("http://127.0.0.1:5006"));
        Assert.True(added.Index > 0);
        Assert.False(Assert.Single(added.Members, m => m.Id == 6).Voter);

        var behind = await Assert.ThrowsAsync<Raft.Client.RaftKvException>(() => client.PromoteMemberAsync(6));
        Assert.Equal("not_caught_up", behind.ErrorCode);
        var unknown = await Assert.ThrowsAsync<Raft.Client.RaftKvException>(() => client.RemoveMemberAsync(9));
        Assert.Equal("member_not_found", unknown.ErrorCode);

        var removed = await client.RemoveMemberAsync(6);
        Assert.Equal([1, 2, 3], removed.Members.Select(m => m.Id));
    }
}

public sealed class UpgradeSafetyTests
{
    // A command of a type this version does not know (as a newer node would propose) is never skipped: every node that
    // reaches it stops, with the reason, instead of applying it as nothing while newer replicas apply it.
    [Fact]
    public async Task A_committed_command_this_version_does_not_know_stops_every_node_that_reaches_it()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var nodes = Enumerable.Range(1, 3).Select(cluster.Node).ToArray();

        var outcome = await nodes[leader - 1].ProposeAsync([42, 0, 1, 0, (byte)'k'], CancellationToken.None)
            .WaitAsync(TestCluster.WaitLimit);

        Assert.NotEqual(Raft.Node.WriteStatus.Applied, outcome.Status);
        foreach (var node in nodes)
        {
            await node.Stopped.WaitAsync(TestCluster.WaitLimit);
            var failure = Assert.IsType<Raft.KeyValue.UnknownCommandException>(node.Failure);
            Assert.Contains("holds command type 42, which this version of the server does not know", failure.Message, StringComparison.Ordinal);
        }
    }
}

public sealed class GrowAndShrinkTests
{
    // Over the production TCP transport, with a writer going all along: three voters become five (two nodes join and
    // are promoted on their own), then two of the first three, the leader among them if it is one, are removed. Every
    // write the writer saw acknowledged is then on every remaining member, once.
    [Fact]
    public async Task A_cluster_grows_from_three_to_five_and_shrinks_back_to_three_under_a_writer_without_losing_a_write()
    {
        await using var cluster = await TestCluster.StartAsync(size: 5, startCount: 3, tcp: true, voters: 3, extraArgs: id => id > 3 ? ["--Node:AutoPromote=true"] : []);
        await cluster.WaitForLeaderAsync();
        using var client = new Raft.Client.RaftKvClient(
            Enumerable.Range(1, 5).ToDictionary(id => id, id => new Uri(cluster.HttpUrl(id))),
            new Raft.Client.RaftKvClientOptions { RetryDeadline = TimeSpan.FromSeconds(30) });

        var acknowledged = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await client.PutAsync($"w/{i:D5}", $"v{i}");
                acknowledged.Enqueue($"w/{i:D5}");
            }
        });

        await cluster.StartNodeAsync(4);
        await cluster.StartNodeAsync(5);
        await TestCluster.WaitUntilAsync(async () => (await client.GetMembersAsync()).Members.Count(m => m.Voter) == 5, "five voters");

        foreach (var removed in new[] { 1, 2 })
        {
            // A configuration is in force once appended: the last promotion may not be committed yet (409 change_in_progress).
            var after = await TestCluster.WaitUntilAsync(async () =>
            {
                try
                {
                    return await client.RemoveMemberAsync(removed);
                }
                catch (Raft.Client.RaftKvException e) when (e.ErrorCode == Raft.Protocol.ErrorCodes.ChangeInProgress)
                {
                    return null;
                }
            }, $"node {removed} removed");
            Assert.DoesNotContain(after!.Members, m => m.Id == removed);
            await cluster.StopNodeAsync(removed);
        }

        var writes = acknowledged.Count;
        await TestCluster.WaitUntilAsync(() => Task.FromResult(acknowledged.Count > writes + 20), "writes after the shrink");
        await stop.CancelAsync();
        await writer.WaitAsync(TestCluster.WaitLimit);

        var members = await client.GetMembersAsync();
        Assert.Equal([3, 4, 5], members.Members.Where(m => m.Voter).Select(m => m.Id));
        foreach (var id in new[] { 3, 4, 5 })
        {
            using var list = await cluster.Client(id).GetAsync("/v1/kv?prefix=w/&limit=10000&consistency=linearizable");
            using var json = JsonDocument.Parse(await list.Content.ReadAsStringAsync());
            var keys = json.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("key").GetString()!).ToList();
            Assert.Equal(keys.Distinct().Count(), keys.Count);
            Assert.Empty(acknowledged.Except(keys));
        }
    }
}
