using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Raft.Server.Tests;

/// <summary>Compare-and-set, locks with fencing tokens and client sessions, end to end over HTTP.</summary>
public sealed class LockAndCasApiTests
{
    private static ByteArrayContent Body(string text) => new(Encoding.UTF8.GetBytes(text));

    private static StringContent LockBody(string owner, long ttlMs) =>
        new($"{{\"owner\":\"{owner}\",\"ttlMs\":{ttlMs.ToString(CultureInfo.InvariantCulture)}}}", Encoding.UTF8, "application/json");

    private static async Task<JsonDocument> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync());

    private static HttpRequestMessage Request(HttpMethod method, string path, HttpContent? content, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    private static async Task<(HttpStatusCode Status, JsonDocument Json)> Send(HttpClient client, HttpRequestMessage request)
    {
        using (request)
        using (var response = await client.SendAsync(request))
        {
            return (response.StatusCode, await Json(response));
        }
    }

    [Fact]
    public async Task Compare_and_set_writes_only_on_a_matching_version_and_answers_412_with_the_current_one()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        var client = cluster.Client(leader);

        var (status, created) = await Send(client, Request(HttpMethod.Put, "/v1/kv/cas", Body("one"), ("If-Match", "0")));
        Assert.Equal(HttpStatusCode.OK, status);
        var version = created.RootElement.GetProperty("version").GetUInt64();

        // Through a follower too: the forwarded request keeps its If-Match.
        foreach (var target in new[] { leader, follower })
        {
            var (again, mismatch) = await Send(cluster.Client(target), Request(HttpMethod.Put, "/v1/kv/cas", Body("two"), ("If-Match", "0")));
            Assert.Equal(HttpStatusCode.PreconditionFailed, again);
            Assert.Equal("precondition_failed", mismatch.RootElement.GetProperty("error").GetString());
            Assert.Equal(version, mismatch.RootElement.GetProperty("currentVersion").GetUInt64());
        }

        var (absent, absentBody) = await Send(client, Request(HttpMethod.Put, "/v1/kv/missing", Body("x"), ("If-Match", "7")));
        Assert.Equal(HttpStatusCode.PreconditionFailed, absent);
        Assert.Equal(0UL, absentBody.RootElement.GetProperty("currentVersion").GetUInt64());

        var (badDelete, _) = await Send(client, Request(HttpMethod.Delete, "/v1/kv/cas", null, ("If-Match", (version + 1).ToString(CultureInfo.InvariantCulture))));
        Assert.Equal(HttpStatusCode.PreconditionFailed, badDelete);
        using (var get = await client.GetAsync("/v1/kv/cas"))
        {
            Assert.Equal("one", await get.Content.ReadAsStringAsync());
        }

        using (var missing = await client.GetAsync("/v1/kv/missing"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        var (swapped, swappedBody) = await Send(client, Request(HttpMethod.Put, "/v1/kv/cas", Body("two"), ("If-Match", $"\"{version}\"")));
        Assert.Equal(HttpStatusCode.OK, swapped);
        var newVersion = swappedBody.RootElement.GetProperty("version").GetUInt64();
        Assert.True(newVersion > version);
        var (deleted, deletedBody) = await Send(client, Request(HttpMethod.Delete, "/v1/kv/cas", null, ("If-Match", newVersion.ToString(CultureInfo.InvariantCulture))));
        Assert.Equal(HttpStatusCode.OK, deleted);
        Assert.True(deletedBody.RootElement.GetProperty("deleted").GetBoolean());

        var (badHeader, badHeaderBody) = await Send(client, Request(HttpMethod.Put, "/v1/kv/cas", Body("x"), ("If-Match", "abc")));
        Assert.Equal(HttpStatusCode.BadRequest, badHeader);
        Assert.Equal("invalid_if_match", badHeaderBody.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_lock_is_held_by_one_owner_renewed_by_it_and_released_only_by_it()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        var follower = cluster.Client(leader % 3 + 1);

        var (granted, grant) = await Send(follower, Request(HttpMethod.Post, "/v1/locks/job", LockBody("a", 60_000)));
        Assert.Equal(HttpStatusCode.OK, granted);
        Assert.Equal("job", grant.RootElement.GetProperty("name").GetString());
        Assert.Equal("a", grant.RootElement.GetProperty("owner").GetString());
        var token = grant.RootElement.GetProperty("fencingToken").GetUInt64();
        var expires = grant.RootElement.GetProperty("expiresAtMs").GetInt64();

        var (conflict, held) = await Send(client, Request(HttpMethod.Post, "/v1/locks/job", LockBody("b", 60_000)));
        Assert.Equal(HttpStatusCode.Conflict, conflict);
        Assert.Equal("lock_held", held.RootElement.GetProperty("error").GetString());
        Assert.Equal("a", held.RootElement.GetProperty("holder").GetString());
        Assert.Equal(expires, held.RootElement.GetProperty("expiresAtMs").GetInt64());

        var (again, reacquired) = await Send(client, Request(HttpMethod.Post, "/v1/locks/job", LockBody("a", 60_000)));
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(token, reacquired.RootElement.GetProperty("fencingToken").GetUInt64());

        Assert.Equal(HttpStatusCode.Conflict, (await Send(client, Request(HttpMethod.Put, "/v1/locks/job", LockBody("b", 1000)))).Status);
        var (renewed, renewal) = await Send(client, Request(HttpMethod.Put, "/v1/locks/job", LockBody("a", 120_000)));
        Assert.Equal(HttpStatusCode.OK, renewed);
        Assert.Equal(token, renewal.RootElement.GetProperty("fencingToken").GetUInt64());
        Assert.True(renewal.RootElement.GetProperty("expiresAtMs").GetInt64() > expires);

        var (read, readBody) = await Send(follower, Request(HttpMethod.Get, "/v1/locks/job", null));
        Assert.Equal(HttpStatusCode.OK, read);
        Assert.Equal(token, readBody.RootElement.GetProperty("fencingToken").GetUInt64());

        Assert.Equal(HttpStatusCode.Conflict, (await Send(client, Request(HttpMethod.Delete, "/v1/locks/job", new StringContent("{\"owner\":\"b\"}")))).Status);
        var (released, releasedBody) = await Send(follower, Request(HttpMethod.Delete, "/v1/locks/job", new StringContent("{\"owner\":\"a\"}")));
        Assert.Equal(HttpStatusCode.OK, released);
        Assert.Equal(token, releasedBody.RootElement.GetProperty("fencingToken").GetUInt64());
        Assert.Equal(HttpStatusCode.NotFound, (await Send(client, Request(HttpMethod.Put, "/v1/locks/job", LockBody("a", 1000)))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(client, Request(HttpMethod.Get, "/v1/locks/job", null))).Status);

        var (next, nextGrant) = await Send(client, Request(HttpMethod.Post, "/v1/locks/job", LockBody("b", 60_000)));
        Assert.Equal(HttpStatusCode.OK, next);
        Assert.True(nextGrant.RootElement.GetProperty("fencingToken").GetUInt64() > token);
    }

    [Fact]
    public async Task An_expired_lock_is_taken_by_another_owner_with_a_larger_token()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);

        var (granted, grant) = await Send(client, Request(HttpMethod.Post, "/v1/locks/lease", LockBody("a", 200)));
        Assert.Equal(HttpStatusCode.OK, granted);
        var token = grant.RootElement.GetProperty("fencingToken").GetUInt64();

        // The server retries until a's lease has run out in leader time; waitMs bounds the wait.
        var (taken, takenBody) = await Send(client, Request(HttpMethod.Post, "/v1/locks/lease?waitMs=10000", LockBody("b", 60_000)));
        Assert.Equal(HttpStatusCode.OK, taken);
        Assert.Equal("b", takenBody.RootElement.GetProperty("owner").GetString());
        Assert.True(takenBody.RootElement.GetProperty("fencingToken").GetUInt64() > token);
        Assert.True(takenBody.RootElement.GetProperty("expiresAtMs").GetInt64() >= grant.RootElement.GetProperty("expiresAtMs").GetInt64());

        // a's lease is gone: it can neither renew nor release.
        Assert.Equal(HttpStatusCode.Conflict, (await Send(client, Request(HttpMethod.Put, "/v1/locks/lease", LockBody("a", 200)))).Status);
        var (waited, waitedBody) = await Send(client, Request(HttpMethod.Post, "/v1/locks/lease?waitMs=50", LockBody("a", 200)));
        Assert.Equal(HttpStatusCode.Conflict, waited);
        Assert.Equal("b", waitedBody.RootElement.GetProperty("holder").GetString());
    }

    [Fact]
    public async Task A_follower_forwards_an_acquire_that_waits_longer_than_a_write_may()
    {
        // A write gives up after RequestTimeoutMs (1 s here); the acquire below waits about 2.5 s for the lease.
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:RequestTimeoutMs=1000"]);
        var leader = await cluster.WaitForLeaderAsync();
        var (granted, grant) = await Send(cluster.Client(leader), Request(HttpMethod.Post, "/v1/locks/slow", LockBody("a", 2_500)));
        Assert.Equal(HttpStatusCode.OK, granted);

        var (taken, takenBody) = await Send(cluster.Client(leader % 3 + 1), Request(HttpMethod.Post, "/v1/locks/slow?waitMs=10000", LockBody("b", 1_000)));
        Assert.Equal(HttpStatusCode.OK, taken);
        Assert.True(takenBody.RootElement.GetProperty("fencingToken").GetUInt64() > grant.RootElement.GetProperty("fencingToken").GetUInt64());
    }

    [Fact]
    public async Task Malformed_lock_requests_get_400_and_write_nothing()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        using var before = await cluster.ClusterStatusAsync(leader);
        var commitBefore = before.RootElement.GetProperty("commitIndex").GetUInt64();

        async Task Expect(HttpRequestMessage request, string error)
        {
            var (status, body) = await Send(client, request);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal(error, body.RootElement.GetProperty("error").GetString());
            Assert.False(string.IsNullOrEmpty(body.RootElement.GetProperty("detail").GetString()));
        }

        await Expect(Request(HttpMethod.Post, "/v1/locks/m", new StringContent("{")), "invalid_json");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", new StringContent("")), "invalid_json");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", new StringContent("{\"owner\":\"a\",\"ttlMs\":\"x\"}")), "invalid_ttl");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", new StringContent("null")), "invalid_owner");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", new StringContent("{\"ttlMs\":1000}")), "invalid_owner");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", new StringContent("{\"owner\":\"\",\"ttlMs\":1000}")), "invalid_owner");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", new StringContent("{\"owner\":\"a\"}")), "invalid_ttl");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", LockBody("a", 0)), "invalid_ttl");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", LockBody("a", -5)), "invalid_ttl");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", LockBody("a", 100L * 24 * 3600 * 1000)), "invalid_ttl");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m?waitMs=999999", LockBody("a", 1000)), "invalid_wait");
        await Expect(Request(HttpMethod.Put, "/v1/locks/m", new StringContent("[1,2]")), "invalid_json");
        await Expect(Request(HttpMethod.Delete, "/v1/locks/m", new StringContent("{}")), "invalid_owner");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", LockBody("a", 1000), ("X-Client-Id", "c")), "invalid_session");
        await Expect(Request(HttpMethod.Post, "/v1/locks/m", LockBody("a", 1000), ("X-Client-Id", "c"), ("X-Client-Seq", "0")), "invalid_session");
        await Expect(Request(HttpMethod.Put, "/v1/kv/m", Body("v"), ("X-Client-Id", new string('c', 129)), ("X-Client-Seq", "1")), "invalid_session");

        using var after = await cluster.ClusterStatusAsync(leader);
        Assert.Equal(commitBefore, after.RootElement.GetProperty("commitIndex").GetUInt64());
        Assert.Equal(HttpStatusCode.NotFound, (await Send(client, Request(HttpMethod.Get, "/v1/locks/m", null))).Status);
    }

    [Fact]
    public async Task A_duplicate_client_sequence_gets_the_original_answer_and_applies_once()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        var follower = cluster.Client(leader % 3 + 1);

        async Task<(HttpStatusCode Status, string Body, string Index)> Put(HttpClient target, string value, ulong seq)
        {
            using var request = Request(HttpMethod.Put, "/v1/kv/once", Body(value), ("X-Client-Id", "client-1"), ("X-Client-Seq", seq.ToString(CultureInfo.InvariantCulture)));
            using var response = await target.SendAsync(request);
            var index = response.Headers.TryGetValues("X-Raft-Index", out var values) ? string.Join(",", values) : "";
            return (response.StatusCode, await response.Content.ReadAsStringAsync(), index);
        }

        var first = await Put(client, "first", 1);
        Assert.Equal(HttpStatusCode.OK, first.Status);
        var retry = await Put(follower, "retried", 1);
        Assert.Equal(first, retry);
        using (var get = await client.GetAsync("/v1/kv/once"))
        {
            Assert.Equal("first", await get.Content.ReadAsStringAsync());
        }

        var second = await Put(client, "second", 2);
        Assert.Equal(HttpStatusCode.OK, second.Status);
        Assert.NotEqual(first.Index, second.Index);
        var stale = await Put(client, "stale", 1);
        Assert.Equal(HttpStatusCode.Conflict, stale.Status);
        Assert.Contains("stale_sequence", stale.Body, StringComparison.Ordinal);
        using (var get = await client.GetAsync("/v1/kv/once"))
        {
            Assert.Equal("second", await get.Content.ReadAsStringAsync());
        }

        // A lock acquire in a session: the retry answers with the same token even though the lock is now held.
        var session = new[] { ("X-Client-Id", "client-2"), ("X-Client-Seq", "5") };
        var (granted, grant) = await Send(client, Request(HttpMethod.Post, "/v1/locks/session-lock", LockBody("a", 60_000), session));
        var (again, regrant) = await Send(follower, Request(HttpMethod.Post, "/v1/locks/session-lock", LockBody("a", 60_000), session));
        Assert.Equal(HttpStatusCode.OK, granted);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(grant.RootElement.GetRawText(), regrant.RootElement.GetRawText());
    }

    [Fact]
    public async Task A_counter_incremented_by_compare_and_set_from_three_clients_through_a_leader_loss_counts_every_acknowledged_increment_once()
    {
        const int IncrementsPerClient = 12;
        await using var cluster = await TestCluster.StartAsync();
        var firstLeader = await cluster.WaitForLeaderAsync();
        using (var created = await cluster.Client(firstLeader).PutAsync("/v1/kv/counter", Body("0")))
        {
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var acknowledged = 0;
        var leaderStopped = 0;

        async Task Increment(string clientId, int firstNode)
        {
            var node = firstNode;
            ulong seq = 0;
            for (var done = 0; done < IncrementsPerClient;)
            {
                Assert.True(DateTime.UtcNow < deadline, $"{clientId} made {done} increments before the deadline");
                node = node % cluster.Size + 1;
                if (Volatile.Read(ref leaderStopped) == 1 && node == firstLeader)
                {
                    continue;
                }

                try
                {
                    using var read = await cluster.Client(node).GetAsync("/v1/kv/counter");
                    if (read.StatusCode != HttpStatusCode.OK)
                    {
                        continue;
                    }

                    var value = int.Parse(await read.Content.ReadAsStringAsync(), CultureInfo.InvariantCulture);
                    var version = string.Join(",", read.Headers.GetValues("X-Raft-Version"));
                    seq++;

                    // Retry this write with the same sequence until its outcome is known, on whichever node answers.
                    while (true)
                    {
                        Assert.True(DateTime.UtcNow < deadline, $"{clientId} could not settle sequence {seq}");
                        try
                        {
                            using var put = Request(HttpMethod.Put, "/v1/kv/counter", Body((value + 1).ToString(CultureInfo.InvariantCulture)),
                                ("If-Match", version), ("X-Client-Id", clientId), ("X-Client-Seq", seq.ToString(CultureInfo.InvariantCulture)));
                            using var response = await cluster.Client(node).SendAsync(put);
                            if (response.StatusCode == HttpStatusCode.OK)
                            {
                                Interlocked.Increment(ref acknowledged);
                                done++;
                                break;
                            }

                            if (response.StatusCode == HttpStatusCode.PreconditionFailed)
                            {
                                break;
                            }
                        }
                        catch (HttpRequestException)
                        {
                        }
                        catch (TaskCanceledException)
                        {
                        }

                        node = node % cluster.Size + 1;
                        if (Volatile.Read(ref leaderStopped) == 1 && node == firstLeader)
                        {
                            node = node % cluster.Size + 1;
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
        }

        var clients = new[] { Increment("c1", 0), Increment("c2", 1), Increment("c3", 2) };
        await TestCluster.WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref acknowledged) >= 6 ? 1 : 0), "six increments before the leader stops");
        await cluster.StopNodeAsync(firstLeader);
        Volatile.Write(ref leaderStopped, 1);
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(90));

        Assert.Equal(3 * IncrementsPerClient, acknowledged);
        var survivor = firstLeader % 3 + 1;
        using var final = await cluster.Client(survivor).GetAsync("/v1/kv/counter");
        Assert.Equal(HttpStatusCode.OK, final.StatusCode);
        Assert.Equal(acknowledged.ToString(CultureInfo.InvariantCulture), await final.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Two_owners_contending_through_a_leader_loss_never_both_hold_the_lock_and_tokens_only_grow()
    {
        const long TtlMs = 150;
        await using var cluster = await TestCluster.StartAsync();
        var firstLeader = await cluster.WaitForLeaderAsync();
        var grants = new List<(string Owner, ulong Token, long ExpiresAtMs)>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
        var leaderStopped = 0;
        var grantsAfterStop = 0;

        async Task Contend(string owner)
        {
            var node = 1;
            while (DateTime.UtcNow < deadline && Volatile.Read(ref grantsAfterStop) < 6)
            {
                node = node % cluster.Size + 1;
                if (Volatile.Read(ref leaderStopped) == 1 && node == firstLeader)
                {
                    continue;
                }

                try
                {
                    using var request = Request(HttpMethod.Post, "/v1/locks/contended?waitMs=500", LockBody(owner, TtlMs));
                    using var response = await cluster.Client(node).SendAsync(request);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        // 409 while the other owner holds it; 5xx while the cluster elects a new leader.
                        continue;
                    }

                    using var json = await Json(response);
                    lock (grants)
                    {
                        grants.Add((owner, json.RootElement.GetProperty("fencingToken").GetUInt64(), json.RootElement.GetProperty("expiresAtMs").GetInt64()));
                        if (Volatile.Read(ref leaderStopped) == 1)
                        {
                            Interlocked.Increment(ref grantsAfterStop);
                        }
                    }

                    // Use the lock for its lease and stay away as long again, so the other owner's waiting acquire
                    // finds it free; the lock changes hands many times.
                    await Task.Delay(TimeSpan.FromMilliseconds(2 * TtlMs));
                }
                catch (HttpRequestException)
                {
                    // The stopped leader's port: try the next node.
                }
                catch (TaskCanceledException)
                {
                }
            }
        }

        var contenders = new[] { Contend("a"), Contend("b") };
        await TestCluster.WaitUntilAsync(
            () =>
            {
                lock (grants)
                {
                    return Task.FromResult(grants.Count >= 4 ? 1 : 0);
                }
            },
            "four grants before the leader stops");
        await cluster.StopNodeAsync(firstLeader);
        Volatile.Write(ref leaderStopped, 1);
        await Task.WhenAll(contenders).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(grantsAfterStop >= 6, $"only {grantsAfterStop} grants after the leader stopped");

        // Each grant's lease is [expiresAt - ttl, expiresAt) in leader time. Ordered by token, a grant to another
        // owner (a new token) starts no earlier than every lease of the previous token ended, and tokens only grow.
        grants.Sort((x, y) => x.Token.CompareTo(y.Token));
        var previousOwner = grants[0].Owner;
        var previousToken = grants[0].Token;
        var previousEnd = grants[0].ExpiresAtMs;
        foreach (var (owner, token, expiresAt) in grants.Skip(1))
        {
            if (token == previousToken)
            {
                Assert.Equal(previousOwner, owner);
                previousEnd = Math.Max(previousEnd, expiresAt);
                continue;
            }

            Assert.True(expiresAt - TtlMs >= previousEnd, $"token {token} ({owner}) granted at {expiresAt - TtlMs}, before token {previousToken} ({previousOwner}) expired at {previousEnd}");
            previousOwner = owner;
            previousToken = token;
            previousEnd = expiresAt;
        }

        Assert.Contains(grants, g => g.Owner == "a");
        Assert.Contains(grants, g => g.Owner == "b");
    }
}
