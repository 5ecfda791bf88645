using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Raft.Server.Tests;

public sealed class ClusterApiTests
{
    private static readonly string[] LeaderLossErrors = ["leadership_lost", "not_applied", "no_leader"];

    private static ByteArrayContent Body(string text) => new(Encoding.UTF8.GetBytes(text));

    private static async Task<JsonDocument> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync());

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : string.Empty;

    [Fact]
    public async Task Writes_through_every_node_are_committed_and_read_linearizably_from_every_node()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();

        for (var writer = 1; writer <= 3; writer++)
        {
            using var put = await cluster.Client(writer).PutAsync($"/v1/kv/dir/key-{writer}", Body($"value-{writer}"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            using var written = await Json(put);
            var index = written.RootElement.GetProperty("index").GetUInt64();
            Assert.Equal(index, written.RootElement.GetProperty("version").GetUInt64());
            Assert.Equal(index.ToString(System.Globalization.CultureInfo.InvariantCulture), Header(put, "X-Raft-Index"));
            Assert.Equal(TestCluster.Text(leader), Header(put, "X-Raft-Leader"));
            Assert.NotEmpty(Header(put, "X-Raft-Term"));

            for (var reader = 1; reader <= 3; reader++)
            {
                using var get = await cluster.Client(reader).GetAsync($"/v1/kv/dir/key-{writer}");
                Assert.Equal(HttpStatusCode.OK, get.StatusCode);
                Assert.Equal($"value-{writer}", await get.Content.ReadAsStringAsync());
                Assert.Equal(index.ToString(System.Globalization.CultureInfo.InvariantCulture), Header(get, "X-Raft-Version"));
                Assert.True(ulong.Parse(Header(get, "X-Raft-Index"), System.Globalization.CultureInfo.InvariantCulture) >= index);
            }
        }

        using (var lease = await cluster.Client(leader).GetAsync("/v1/kv/dir/key-1?consistency=lease"))
        {
            Assert.Equal(HttpStatusCode.OK, lease.StatusCode);
            Assert.Equal("value-1", await lease.Content.ReadAsStringAsync());
        }

        var follower = leader % 3 + 1;
        using (var list = await cluster.Client(follower).GetAsync("/v1/kv?prefix=dir/&limit=2"))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            using var json = await Json(list);
            var items = json.RootElement.GetProperty("items");
            Assert.Equal(2, items.GetArrayLength());
            Assert.Equal("dir/key-1", items[0].GetProperty("key").GetString());
            Assert.Equal("value-1", Encoding.UTF8.GetString(items[0].GetProperty("value").GetBytesFromBase64()));
            Assert.True(json.RootElement.GetProperty("more").GetBoolean());
        }

        using (var delete = await cluster.Client(follower).DeleteAsync("/v1/kv/dir/key-2"))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
            using var json = await Json(delete);
            Assert.True(json.RootElement.GetProperty("deleted").GetBoolean());
        }

        for (var reader = 1; reader <= 3; reader++)
        {
            using var gone = await cluster.Client(reader).GetAsync("/v1/kv/dir/key-2");
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            using var error = await Json(gone);
            Assert.Equal("not_found", error.RootElement.GetProperty("error").GetString());
        }

        // A stale read is served locally and catches up without any extra round trip.
        using var stale = await cluster.Client(follower).GetAsync("/v1/kv/dir/key-3?consistency=stale");
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
    }

    [Fact]
    public async Task Followers_forward_redirect_or_reject_as_configured()
    {
        // Node 1 forwards, node 2 redirects, node 3 rejects; leadership is moved to node 1 first.
        await using var cluster = await TestCluster.StartAsync(extraArgs: id => [$"--Node:FollowerMode={(id == 1 ? "Forward" : id == 2 ? "Redirect" : "Reject")}"]);
        var leader = await cluster.WaitForLeaderAsync();
        if (leader != 1)
        {
            using var transfer = await cluster.Client(leader).PostAsync("/v1/cluster/transfer-leader?to=1", null);
            Assert.Equal(HttpStatusCode.OK, transfer.StatusCode);
            leader = await cluster.WaitForLeaderAsync();
        }

        Assert.Equal(1, leader);

        using (var redirect = await cluster.Client(2).PutAsync("/v1/kv/r", Body("x")))
        {
            Assert.Equal(HttpStatusCode.TemporaryRedirect, redirect.StatusCode);
            Assert.Equal(new Uri(cluster.HttpUrl(1) + "/v1/kv/r"), redirect.Headers.Location);
            Assert.Equal("1", Header(redirect, "X-Raft-Leader"));
        }

        using (var reject = await cluster.Client(3).PutAsync("/v1/kv/r", Body("x")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, reject.StatusCode);
            Assert.Equal("1", Header(reject, "X-Raft-Leader"));
            using var error = await Json(reject);
            Assert.Equal("not_leader", error.RootElement.GetProperty("error").GetString());
        }

        using (var leaseOnFollower = await cluster.Client(3).GetAsync("/v1/kv/r?consistency=lease"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, leaseOnFollower.StatusCode);
        }

        // Nothing was written by the refused requests.
        using (var absent = await cluster.Client(1).GetAsync("/v1/kv/r"))
        {
            Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);
        }

        // The leader hands over to node 2; now node 1 forwards writes to it.
        using (var transfer = await cluster.Client(1).PostAsync("/v1/cluster/transfer-leader?to=2", null))
        {
            Assert.Equal(HttpStatusCode.OK, transfer.StatusCode);
        }

        Assert.Equal(2, await cluster.WaitForLeaderAsync());
        using var forwarded = await cluster.Client(1).PutAsync("/v1/kv/f", Body("forwarded"));
        Assert.Equal(HttpStatusCode.OK, forwarded.StatusCode);
        Assert.Equal("2", Header(forwarded, "X-Raft-Leader"));
        using var read = await cluster.Client(3).GetAsync("/v1/kv/f");
        Assert.Equal("forwarded", await read.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Bad_requests_get_json_4xx_and_write_nothing()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:MaxKeyBytes=16", "--Node:MaxValueBytes=32"]);
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        using var before = await cluster.ClusterStatusAsync(leader);
        var commitBefore = before.RootElement.GetProperty("commitIndex").GetUInt64();

        async Task Expect(HttpResponseMessage response, HttpStatusCode status, string error)
        {
            using (response)
            {
                Assert.Equal(status, response.StatusCode);
                Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
                using var json = await Json(response);
                Assert.Equal(error, json.RootElement.GetProperty("error").GetString());
                Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("detail").GetString()));
            }
        }

        await Expect(await client.PutAsync("/v1/kv/", Body("v")), HttpStatusCode.BadRequest, "invalid_key");
        await Expect(await client.PutAsync("/v1/kv/" + new string('k', 17), Body("v")), HttpStatusCode.RequestUriTooLong, "key_too_long");
        await Expect(await client.PutAsync("/v1/kv/" + Uri.EscapeDataString("ключ-ключ"), Body("v")), HttpStatusCode.RequestUriTooLong, "key_too_long");
        await Expect(await client.PutAsync("/v1/kv/a%01b", Body("v")), HttpStatusCode.BadRequest, "invalid_key");
        await Expect(await client.PutAsync("/v1/kv/big", Body(new string('v', 33))), HttpStatusCode.RequestEntityTooLarge, "value_too_large");
        var chunked = new StreamContent(new MemoryStream(new byte[100]));
        chunked.Headers.ContentLength = null;
        using (var request = new HttpRequestMessage(HttpMethod.Put, "/v1/kv/chunked") { Content = chunked })
        {
            request.Headers.TransferEncodingChunked = true;
            await Expect(await client.SendAsync(request), HttpStatusCode.RequestEntityTooLarge, "value_too_large");
        }

        await Expect(await client.GetAsync("/v1/kv/a?consistency=eventual"), HttpStatusCode.BadRequest, "invalid_consistency");
        await Expect(await client.GetAsync("/v1/kv?limit=0"), HttpStatusCode.BadRequest, "invalid_limit");
        await Expect(await client.GetAsync("/v1/kv?limit=x"), HttpStatusCode.BadRequest, "invalid_limit");
        await Expect(await client.DeleteAsync("/v1/kv/" + new string('k', 17)), HttpStatusCode.RequestUriTooLong, "key_too_long");
        await Expect(await client.PostAsync("/v1/cluster/transfer-leader?to=9", null), HttpStatusCode.BadRequest, "invalid_target");

        using var after = await cluster.ClusterStatusAsync(leader);
        Assert.Equal(commitBefore, after.RootElement.GetProperty("commitIndex").GetUInt64());
        using var list = await client.GetAsync("/v1/kv");
        using var listed = await Json(list);
        Assert.Equal(0, listed.RootElement.GetProperty("items").GetArrayLength());

        // The largest allowed value still goes through.
        using var fits = await client.PutAsync("/v1/kv/" + new string('k', 16), Body(new string('v', 32)));
        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
    }

    [Fact]
    public async Task A_restarted_cluster_keeps_everything_committed_through_snapshots_and_the_log()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:SnapshotEveryEntries=7"]);
        var leader = await cluster.WaitForLeaderAsync();
        for (var i = 0; i < 20; i++)
        {
            using var put = await cluster.Client(leader).PutAsync($"/v1/kv/k{i:D2}", Body($"v{i}"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var delete = await cluster.Client(leader).DeleteAsync("/v1/kv/k03"))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        for (var id = 1; id <= 3; id++)
        {
            await cluster.StopNodeAsync(id);
        }

        for (var id = 1; id <= 3; id++)
        {
            await cluster.StartNodeAsync(id);
        }

        await cluster.WaitForLeaderAsync();
        for (var id = 1; id <= 3; id++)
        {
            using var list = await cluster.Client(id).GetAsync("/v1/kv?prefix=k&limit=100");
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            using var json = await Json(list);
            var keys = json.RootElement.GetProperty("items").EnumerateArray().Select(x => x.GetProperty("key").GetString()).ToList();
            Assert.Equal(19, keys.Count);
            Assert.DoesNotContain("k03", keys);
            using var get = await cluster.Client(id).GetAsync("/v1/kv/k19");
            Assert.Equal("v19", await get.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task An_isolated_leader_fails_its_pending_write_and_the_rest_carry_on()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        cluster.Network.Isolate(leader);

        // The write cannot commit; CheckQuorum makes the leader step down, which fails the proposal.
        using (var put = await cluster.Client(leader).PutAsync("/v1/kv/lost", Body("x")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, put.StatusCode);
            using var json = await Json(put);
            Assert.Contains(json.RootElement.GetProperty("error").GetString(), LeaderLossErrors);
        }

        var newLeader = await cluster.WaitForLeaderAsync(excluding: leader);
        Assert.NotEqual(leader, newLeader);
        using (var put = await cluster.Client(newLeader).PutAsync("/v1/kv/after", Body("y")))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        cluster.Network.Heal();
        await TestCluster.WaitUntilAsync(async () =>
        {
            using var get = await cluster.Client(leader).GetAsync("/v1/kv/after");
            return get.StatusCode == HttpStatusCode.OK;
        }, "the old leader to rejoin and serve the new write");
        using var lost = await cluster.Client(leader).GetAsync("/v1/kv/lost");
        Assert.Equal(HttpStatusCode.NotFound, lost.StatusCode);
    }

    [Fact]
    public async Task Cluster_health_and_metrics_describe_the_node()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        using (var put = await cluster.Client(leader).PutAsync("/v1/kv/m", Body("1")))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using var status = await cluster.ClusterStatusAsync(leader);
        var root = status.RootElement;
        Assert.Equal(leader, root.GetProperty("nodeId").GetInt32());
        Assert.Equal("leader", root.GetProperty("role").GetString());
        Assert.Equal(leader, root.GetProperty("leaderId").GetInt32());
        Assert.True(root.GetProperty("term").GetUInt64() > 0);
        Assert.True(root.GetProperty("commitIndex").GetUInt64() >= 2);
        Assert.True(root.GetProperty("appliedIndex").GetUInt64() >= 2);
        Assert.NotEqual(JsonValueKind.Null, root.GetProperty("leaderSince").ValueKind);
        var members = root.GetProperty("members").EnumerateArray().ToList();
        Assert.Equal([1, 2, 3], members.Select(m => m.GetProperty("id").GetInt32()));
        foreach (var member in members)
        {
            Assert.True(member.GetProperty("voter").GetBoolean());
            Assert.Equal(cluster.HttpUrl(member.GetProperty("id").GetInt32()), member.GetProperty("http").GetString());
            Assert.Equal(JsonValueKind.Number, member.GetProperty("matchIndex").ValueKind);
            Assert.Equal(JsonValueKind.Number, member.GetProperty("lag").ValueKind);
        }

        using (var live = await cluster.Client(2).GetAsync("/health/live"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        await TestCluster.WaitUntilAsync(async () =>
        {
            using var ready = await cluster.Client(leader % 3 + 1).GetAsync("/health/ready");
            return ready.StatusCode == HttpStatusCode.OK;
        }, "a follower to be ready");

        using var metrics = await cluster.Client(leader).GetAsync("/metrics");
        var text = await metrics.Content.ReadAsStringAsync();
        foreach (var name in new[] { "raft_term", "raft_leader_changes_total", "raft_elections_total", "raft_commit_index", "raft_applied_index",
            "raft_proposal_duration_seconds_bucket", "raft_fsync_duration_seconds_count", "http_requests_total{route=\"/v1/kv/{**key}\",method=\"PUT\",status=\"200\"}" })
        {
            Assert.Contains(name, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Transfer_without_a_target_picks_an_up_to_date_follower()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        using var transfer = await cluster.Client(leader).PostAsync("/v1/cluster/transfer-leader", null);
        Assert.Equal(HttpStatusCode.OK, transfer.StatusCode);
        using var json = await Json(transfer);
        var to = json.RootElement.GetProperty("to").GetInt32();
        Assert.NotEqual(leader, to);
        Assert.Equal(to, await cluster.WaitForLeaderAsync());
    }

    [Fact]
    public async Task A_planned_switchover_fails_no_write_in_flight()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var target = leader % 3 + 1;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var acknowledged = new System.Collections.Concurrent.ConcurrentQueue<(string Key, string Index)>();
        var switched = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Writers keep one write each in flight at the old leader, before, during and after the hand-over.
        async Task WriteAsync(int writer)
        {
            var afterSwitch = 0;
            for (var seq = 0; afterSwitch < 20; seq++)
            {
                var key = $"sw/{writer}/{seq}";
                using var response = await cluster.Client(leader).PutAsync($"/v1/kv/{key}", Body(key));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    acknowledged.Enqueue((key, Header(response, "X-Raft-Index")));
                }
                else
                {
                    failures.Enqueue($"{key}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }

                if (switched.Task.IsCompleted)
                {
                    afterSwitch++;
                }
            }
        }

        var writers = Enumerable.Range(0, 8).Select(WriteAsync).ToArray();
        await TestCluster.WaitUntilAsync(() => Task.FromResult(acknowledged.Count >= 50), "writes before the switchover");
        using (var transfer = await cluster.Client(leader).PostAsync($"/v1/cluster/transfer-leader?to={target}", null))
        {
            Assert.Equal(HttpStatusCode.OK, transfer.StatusCode);
        }

        switched.SetResult();
        await Task.WhenAll(writers).WaitAsync(TestCluster.WaitLimit);
        Assert.Equal(target, await cluster.WaitForLeaderAsync());

        Assert.Empty(failures);
        // Each acknowledged write is there once: created by the entry acknowledged, and never written again.
        foreach (var (key, index) in acknowledged)
        {
            using var read = await cluster.Client(target).GetAsync($"/v1/kv/{key}");
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            Assert.Equal(index, Header(read, "X-Raft-Create-Index"));
            Assert.Equal(index, Header(read, "X-Raft-Version"));
        }
    }

    [Fact]
    public void An_unusable_configuration_is_refused_with_every_problem_named()
    {
        var error = Assert.Throws<NodeConfigurationException>(() => NodeHost.Build(
            ["--Node:Id=4", "--Node:Peers:1=127.0.0.1", "--Node:TickMs=0", "--Node:MaxKeyBytes=0"], new InMemoryNetwork().Factory));
        Assert.Contains("Node:Peers has no entry for this node", error.Message, StringComparison.Ordinal);
        Assert.Contains("Node:Peers:1 must be host:port", error.Message, StringComparison.Ordinal);
        Assert.Contains("Node:HttpEndpoints has no entry for this node", error.Message, StringComparison.Ordinal);
        Assert.Contains("Node:TickMs", error.Message, StringComparison.Ordinal);
        Assert.Contains("Node:MaxKeyBytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_leader_requests_get_503_with_retry_after()
    {
        // One node of three can never win an election.
        await using var cluster = await TestCluster.StartAsync(size: 3, startCount: 1);
        var client = cluster.Client(1);
        foreach (var request in new Func<Task<HttpResponseMessage>>[]
        {
            () => client.PutAsync("/v1/kv/a", Body("x")),
            () => client.GetAsync("/v1/kv/a"),
            () => client.DeleteAsync("/v1/kv/a"),
        })
        {
            using var response = await request();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.Equal("0", Header(response, "X-Raft-Leader"));
            using var json = await Json(response);
            Assert.Equal("no_leader", json.RootElement.GetProperty("error").GetString());
        }

        using (var ready = await client.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }

        using var stale = await client.GetAsync("/v1/kv/a?consistency=stale");
        Assert.Equal(HttpStatusCode.NotFound, stale.StatusCode);
    }

    [Fact]
    public async Task Stopping_the_leader_hands_leadership_over_first()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        using (var put = await cluster.Client(leader).PutAsync("/v1/kv/before-stop", Body("1")))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        await cluster.StopNodeAsync(leader);

        // The transfer completed before the stop returned: the new leader already knows it leads.
        var roles = new List<string?>();
        for (var id = 1; id <= 3; id++)
        {
            if (id != leader)
            {
                using var status = await cluster.ClusterStatusAsync(id);
                roles.Add(status.RootElement.GetProperty("role").GetString());
            }
        }

        Assert.Contains("leader", roles);
        var newLeader = await cluster.WaitForLeaderAsync(excluding: leader);
        using var get = await cluster.Client(newLeader).GetAsync("/v1/kv/before-stop");
        Assert.Equal("1", await get.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Over_the_tcp_transport_writes_commit_and_a_killed_leader_is_replaced()
    {
        await using var cluster = await TestCluster.StartAsync(tcp: true);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        using (var put = await cluster.Client(follower).PutAsync("/v1/kv/tcp", Body("over-tcp")))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        for (var id = 1; id <= 3; id++)
        {
            using var get = await cluster.Client(id).GetAsync("/v1/kv/tcp");
            Assert.Equal("over-tcp", await get.Content.ReadAsStringAsync());
        }

        await cluster.StopNodeAsync(leader);
        var newLeader = await cluster.WaitForLeaderAsync(excluding: leader);
        using (var put = await cluster.Client(newLeader).PutAsync("/v1/kv/tcp", Body("after")))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        await cluster.StartNodeAsync(leader);
        await TestCluster.WaitUntilAsync(async () =>
        {
            using var get = await cluster.Client(leader).GetAsync("/v1/kv/tcp");
            return get.StatusCode == HttpStatusCode.OK && await get.Content.ReadAsStringAsync() == "after";
        }, "the restarted node to catch up over TCP");
    }
}
