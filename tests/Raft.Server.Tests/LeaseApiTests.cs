using System.Net;
using System.Text;
using System.Text.Json;
using Raft.KeyValue;

namespace Raft.Server.Tests;

/// <summary>Leases over HTTP: grant, keep-alive, read, revoke, keys and locks bound to them, and their end by expiry.</summary>
public sealed class LeaseApiTests
{
    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<(HttpStatusCode Status, JsonElement Json, string Text)> SendAsync(HttpClient client, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = json is null ? null : JsonBody(json) };
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), text);
    }

    private static async Task<ulong> GrantAsync(HttpClient client, long ttlMs)
    {
        var (status, json, text) = await SendAsync(client, HttpMethod.Post, "/v1/leases", $$"""{"ttlMs":{{ttlMs}}}""");
        Assert.True(status == HttpStatusCode.OK, text);
        Assert.Equal(ttlMs, json.GetProperty("ttlMs").GetInt64());
        return json.GetProperty("id").GetUInt64();
    }

    private static async Task<HttpResponseMessage> PutAsync(HttpClient client, string path, string value) =>
        await client.PutAsync(path, new ByteArrayContent(Encoding.UTF8.GetBytes(value)));

    private static async Task<ulong> CommitIndexAsync(TestCluster cluster, int id)
    {
        using var status = await cluster.ClusterStatusAsync(id);
        return status.RootElement.GetProperty("commitIndex").GetUInt64();
    }

    private static Task<bool> GoneEverywhereAsync(TestCluster cluster, string key) =>
        TestCluster.WaitUntilAsync(async () =>
        {
            for (var id = 1; id <= 3; id++)
            {
                using var response = await cluster.Client(id).GetAsync($"/v1/kv/{key}?consistency=stale");
                if (response.StatusCode != HttpStatusCode.NotFound)
                {
                    return false;
                }
            }

            return true;
        }, $"'{key}' deleted on every node");

    [Fact]
    public async Task A_lease_is_granted_kept_alive_read_and_revoked_and_its_keys_go_with_it()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        var client = cluster.Client(leader);

        // Asked of a follower, the grant is served by the leader like any write.
        var lease = await GrantAsync(cluster.Client(follower), 60_000);
        using (var put = await PutAsync(client, $"/v1/kv/service/a?lease={lease}", "10.0.0.1"))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var put = await PutAsync(client, "/v1/kv/service/plain", "x"))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var get = await client.GetAsync("/v1/kv/service/a"))
        {
            Assert.Equal(lease.ToString(System.Globalization.CultureInfo.InvariantCulture), Assert.Single(get.Headers.GetValues("X-Raft-Lease")));
        }

        var (_, listing, _) = await SendAsync(client, HttpMethod.Get, "/v1/kv?prefix=service/");
        Assert.Equal(lease, listing.GetProperty("items")[0].GetProperty("lease").GetUInt64());
        Assert.False(listing.GetProperty("items")[1].TryGetProperty("lease", out _));

        var (readStatus, read, readText) = await SendAsync(cluster.Client(follower), HttpMethod.Get, $"/v1/leases/{lease}");
        Assert.True(readStatus == HttpStatusCode.OK, readText);
        Assert.Equal("service/a", read.GetProperty("keys")[0].GetString());
        Assert.InRange(read.GetProperty("remainingMs").GetInt64(), 1, 60_000);
        var firstEnd = read.GetProperty("expiresAtMs").GetInt64();

        var (kept, keptJson, keptText) = await SendAsync(client, HttpMethod.Post, $"/v1/leases/{lease}/keepalive");
        Assert.True(kept == HttpStatusCode.OK, keptText);
        Assert.True(keptJson.GetProperty("expiresAtMs").GetInt64() >= firstEnd);

        var (listStatus, leases, _) = await SendAsync(client, HttpMethod.Get, "/v1/leases");
        Assert.Equal(HttpStatusCode.OK, listStatus);
        Assert.Equal(lease, Assert.Single(leases.GetProperty("leases").EnumerateArray()).GetUInt64());

        var (revoked, revokedJson, revokedText) = await SendAsync(client, HttpMethod.Delete, $"/v1/leases/{lease}");
        Assert.True(revoked == HttpStatusCode.OK, revokedText);
        Assert.Equal(lease, revokedJson.GetProperty("id").GetUInt64());
        Assert.True(await GoneEverywhereAsync(cluster, "service/a"));
        using (var plain = await client.GetAsync("/v1/kv/service/plain"))
        {
            Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        }

        foreach (var (method, path) in new[] { (HttpMethod.Get, $"/v1/leases/{lease}"), (HttpMethod.Post, $"/v1/leases/{lease}/keepalive"), (HttpMethod.Delete, $"/v1/leases/{lease}") })
        {
            var (status, json, text) = await SendAsync(client, method, path);
            Assert.True(status == HttpStatusCode.NotFound, $"{method} {path}: {text}");
            Assert.Equal("lease_not_found", json.GetProperty("error").GetString());
        }
    }

    [Fact]
    public async Task A_lease_not_kept_alive_ends_after_its_time_with_its_keys_and_its_lock_on_every_node()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        var lease = await GrantAsync(client, 1_000);
        using (var put = await PutAsync(client, $"/v1/kv/workers/1?lease={lease}", "busy"))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var (locked, lockJson, lockText) = await SendAsync(client, HttpMethod.Post, "/v1/locks/jobs", $$"""{"owner":"worker-1","lease":{{lease}}}""");
        Assert.True(locked == HttpStatusCode.OK, lockText);
        Assert.Equal(lease, lockJson.GetProperty("lease").GetUInt64());

        var (other, otherJson, _) = await SendAsync(client, HttpMethod.Post, "/v1/locks/jobs", """{"owner":"worker-2","ttlMs":5000}""");
        Assert.Equal(HttpStatusCode.Conflict, other);
        Assert.Equal("lock_held", otherJson.GetProperty("error").GetString());

        Assert.True(await GoneEverywhereAsync(cluster, "workers/1"));
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("\nraft_leases 0\n", metrics, StringComparison.Ordinal);
        var duties = metrics.Split('\n').Single(line => line.StartsWith("raft_lease_duties_total ", StringComparison.Ordinal));
        Assert.True(long.Parse(duties.AsSpan("raft_lease_duties_total ".Length), System.Globalization.CultureInfo.InvariantCulture) >= 1, duties);
        var (lockGone, _, _) = await SendAsync(client, HttpMethod.Get, "/v1/locks/jobs");
        Assert.Equal(HttpStatusCode.NotFound, lockGone);
        var (taken, takenJson, takenText) = await SendAsync(client, HttpMethod.Post, "/v1/locks/jobs", """{"owner":"worker-2","ttlMs":5000}""");
        Assert.True(taken == HttpStatusCode.OK, takenText);
        Assert.True(takenJson.GetProperty("fencingToken").GetUInt64() > lockJson.GetProperty("fencingToken").GetUInt64());
    }

    [Fact]
    public async Task A_watch_sees_a_key_put_with_its_lease_and_every_key_of_a_lease_deleted_in_the_entry_that_ends_it()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        var start = await CommitIndexAsync(cluster, leader);
        using var watch = await WatchApiTests.Watch.OpenAsync(cluster.Client(leader % 3 + 1), $"prefix=svc/&fromIndex={start}");
        var lease = await GrantAsync(client, 60_000);
        foreach (var key in new[] { "svc/a", "svc/b" })
        {
            using var put = await PutAsync(client, $"/v1/kv/{key}?lease={lease}", "x");
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        for (var i = 0; i < 2; i++)
        {
            var change = (await watch.NextAsync())!.Value.GetProperty("changes")[0];
            Assert.Equal(("put", lease), (change.GetProperty("type").GetString(), change.GetProperty("lease").GetUInt64()));
        }

        var (_, revoked, _) = await SendAsync(client, HttpMethod.Delete, $"/v1/leases/{lease}");
        var ended = (await watch.NextAsync())!.Value;
        Assert.Equal(revoked.GetProperty("index").GetUInt64(), ended.GetProperty("index").GetUInt64());
        Assert.Equal(["delete svc/a", "delete svc/b"], ended.GetProperty("changes").EnumerateArray().Select(c => $"{c.GetProperty("type").GetString()} {c.GetProperty("key").GetString()}"));
    }

    [Theory]
    [InlineData("POST", "/v1/leases", """{"ttlMs":999}""", 400, "invalid_ttl")]
    [InlineData("POST", "/v1/leases", """{"ttlMs":86400001}""", 400, "invalid_ttl")]
    [InlineData("POST", "/v1/leases", """{}""", 400, "invalid_ttl")]
    [InlineData("POST", "/v1/leases", """{"ttlMs":"5000"}""", 400, "invalid_json")]
    [InlineData("POST", "/v1/leases", """[5000]""", 400, "invalid_json")]
    [InlineData("POST", "/v1/leases", "", 400, "invalid_json")]
    [InlineData("POST", "/v1/leases/abc/keepalive", null, 400, "invalid_lease")]
    [InlineData("POST", "/v1/leases/0/keepalive", null, 400, "invalid_lease")]
    [InlineData("DELETE", "/v1/leases/-1", null, 400, "invalid_lease")]
    [InlineData("GET", "/v1/leases/1x", null, 400, "invalid_lease")]
    [InlineData("PUT", "/v1/kv/k?lease=abc", "v", 400, "invalid_lease")]
    [InlineData("PUT", "/v1/kv/k?lease=987654", "v", 404, "lease_not_found")]
    [InlineData("POST", "/v1/locks/l", """{"owner":"a","ttlMs":1000,"lease":7}""", 400, "invalid_lease")]
    [InlineData("POST", "/v1/locks/l", """{"owner":"a","lease":"7"}""", 400, "invalid_lease")]
    [InlineData("PUT", "/v1/locks/l", """{"owner":"a","lease":7}""", 400, "invalid_lease")]
    [InlineData("POST", "/v1/locks/l", """{"owner":"a","lease":987654}""", 404, "lease_not_found")]
    [InlineData("POST", "/v1/txn", """{"success":[{"op":"get","key":"k","lease":7}]}""", 400, "invalid_lease")]
    [InlineData("POST", "/v1/txn", """{"success":[{"op":"put","key":"k","value":"eA==","lease":987654}]}""", 404, "lease_not_found")]
    public async Task A_bad_lease_request_is_answered_with_its_problem_and_writes_nothing(string method, string path, string? body, int code, string error)
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        var before = await CommitIndexAsync(cluster, leader);

        using var request = new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = body is null ? null : method == "PUT" && path.StartsWith("/v1/kv/", StringComparison.Ordinal) ? new ByteArrayContent(Encoding.UTF8.GetBytes(body)) : JsonBody(body),
        };
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == code, text);
        Assert.Equal(error, JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());

        // A refusal by the state machine takes an entry that changes nothing; one by the API takes none.
        Assert.True(await CommitIndexAsync(cluster, leader) <= before + (code == 404 ? 1UL : 0UL));
        using var key = await client.GetAsync("/v1/kv/k");
        Assert.Equal(HttpStatusCode.NotFound, key.StatusCode);
        var (_, leases, _) = await SendAsync(client, HttpMethod.Get, "/v1/leases");
        Assert.Empty(leases.GetProperty("leases").EnumerateArray());
    }

    [Fact]
    public async Task Leases_wait_for_every_voter_to_support_them()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: id => id == 3 ? [$"--Node:ClusterVersionMax={KvClusterVersion.Transactions}"] : []);
        var leader = await cluster.WaitForLeaderAsync();
        var (status, json, text) = await SendAsync(cluster.Client(leader), HttpMethod.Post, "/v1/leases", """{"ttlMs":5000}""");
        Assert.True(status == HttpStatusCode.Conflict, text);
        Assert.Equal("cluster_version_too_low", json.GetProperty("error").GetString());
        Assert.Contains("leases need cluster version 3", text, StringComparison.Ordinal);
    }
}
