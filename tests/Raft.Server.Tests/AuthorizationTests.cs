using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Raft.Server.Tests;

/// <summary>API tokens: roles, key-prefix scopes, the open endpoints, forwarding, the node's own calls, and the rate limit.</summary>
public sealed class AuthorizationTests
{
    private const string AdminToken = "admin-0123456789abcdef";
    private const string WriterToken = "writer-0123456789abcdef";
    private const string ReaderToken = "reader-0123456789abcdef";
    private const string AppToken = "app-writer-0123456789abcdef";

    // Every node accepts the same four tokens; the reader's is given as its hash, as a token file would hold it.
    private static string[] TokenArgs(string readerRole = "read") =>
    [
        "--Node:Auth:Tokens:0:Name=admin", $"--Node:Auth:Tokens:0:Token={AdminToken}", "--Node:Auth:Tokens:0:Roles:0=admin",
        "--Node:Auth:Tokens:1:Name=writer", $"--Node:Auth:Tokens:1:Token={WriterToken}", "--Node:Auth:Tokens:1:Roles:0=write",
        "--Node:Auth:Tokens:2:Name=reader", $"--Node:Auth:Tokens:2:Sha256={Sha256(ReaderToken)}", $"--Node:Auth:Tokens:2:Roles:0={readerRole}",
        "--Node:Auth:Tokens:3:Name=app", $"--Node:Auth:Tokens:3:Token={AppToken}", "--Node:Auth:Tokens:3:Roles:0=write",
        "--Node:Auth:Tokens:3:Prefixes:0=app/", "--Node:Auth:Tokens:3:Prefixes:1=shared/",
    ];

    private static string Sha256(string token) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Starts a cluster with tokens on; the cluster's own clients (used to wait for a leader) carry the admin token.</summary>
    private static async Task<TestCluster> StartAsync(int size = 3, Func<int, string[]>? extraArgs = null, int? startCount = null, int? voters = null, bool tcp = false)
    {
        var cluster = await TestCluster.StartAsync(size, id => [.. TokenArgs(), .. extraArgs?.Invoke(id) ?? []], startCount, tcp, voters);
        for (var id = 1; id <= size; id++)
        {
            cluster.Client(id).DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        }

        return cluster;
    }

    private static async Task<(HttpStatusCode Status, string Text, HttpResponseMessage Response)> Send(TestCluster cluster, int node, string? token, HttpMethod method, string path, string? body = null)
    {
        using var client = new HttpClient { BaseAddress = new Uri(cluster.HttpUrl(node)), Timeout = TestCluster.WaitLimit };
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", token.Contains(' ', StringComparison.Ordinal) ? token : $"Bearer {token}");
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var text = path.StartsWith("/v1/watch", StringComparison.Ordinal) && response.IsSuccessStatusCode ? string.Empty : await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text, response);
    }

    private static async Task AssertError(Task<(HttpStatusCode Status, string Text, HttpResponseMessage Response)> sent, HttpStatusCode status, string error)
    {
        var (actual, text, response) = await sent;
        using (response)
        {
            Assert.True(actual == status, $"expected {(int)status} {error}, got {(int)actual}: {text}");
            using var json = JsonDocument.Parse(text);
            Assert.Equal(error, json.RootElement.GetProperty("error").GetString());
            Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("detail").GetString()));
        }
    }

    private static async Task AssertOk(Task<(HttpStatusCode Status, string Text, HttpResponseMessage Response)> sent)
    {
        var (status, text, response) = await sent;
        using (response)
        {
            Assert.True((int)status is >= 200 and < 300, $"expected success, got {(int)status}: {text}");
        }
    }

    private static async Task<string?> ValueAsync(TestCluster cluster, int node, string key)
    {
        var (status, text, response) = await Send(cluster, node, AdminToken, HttpMethod.Get, $"/v1/kv/{key}");
        response.Dispose();
        return status == HttpStatusCode.NotFound ? null : text;
    }

    private static string LockBody(string owner) => $$"""{"owner":"{{owner}}","ttlMs":60000}""";

    private static string TxnPut(string key, string value) =>
        $$"""{"success":[{"op":"put","key":"{{key}}","value":"{{Convert.ToBase64String(Encoding.UTF8.GetBytes(value))}}"}]}""";

    [Fact]
    public async Task Without_a_known_token_every_request_but_health_is_answered_401_in_json()
    {
        await using var cluster = await StartAsync(size: 1);
        await cluster.WaitForLeaderAsync();

        foreach (var token in new string?[] { null, "Bearer not-a-token-of-this-node", $"Basic {AdminToken}", "Bearer", $"Bearer {AdminToken}x" })
        {
            var (status, text, response) = await Send(cluster, 1, token, HttpMethod.Get, "/v1/kv/a");
            using (response)
            {
                Assert.True(status == HttpStatusCode.Unauthorized, $"{token}: {(int)status} {text}");
                Assert.Equal("unauthenticated", JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
                Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            }
        }

        await AssertError(Send(cluster, 1, null, HttpMethod.Put, "/v1/kv/a", "x"), HttpStatusCode.Unauthorized, "unauthenticated");
        await AssertError(Send(cluster, 1, null, HttpMethod.Get, "/v1/cluster"), HttpStatusCode.Unauthorized, "unauthenticated");
        await AssertError(Send(cluster, 1, null, HttpMethod.Get, "/metrics"), HttpStatusCode.Unauthorized, "unauthenticated");
        await AssertError(Send(cluster, 1, null, HttpMethod.Get, "/no/such/route"), HttpStatusCode.Unauthorized, "unauthenticated");
        Assert.Null(await ValueAsync(cluster, 1, "a"));

        // The probes need no token; the metrics do, by default.
        await AssertOk(Send(cluster, 1, null, HttpMethod.Get, "/health/live"));
        await AssertOk(Send(cluster, 1, null, HttpMethod.Get, "/health/ready"));
        await AssertOk(Send(cluster, 1, ReaderToken, HttpMethod.Get, "/metrics"));
    }

    [Fact]
    public async Task Metrics_are_open_without_a_token_when_configured()
    {
        await using var cluster = await StartAsync(size: 1, extraArgs: _ => ["--Node:Auth:OpenMetrics=true"]);
        await cluster.WaitForLeaderAsync();

        await AssertOk(Send(cluster, 1, null, HttpMethod.Get, "/metrics"));
        await AssertError(Send(cluster, 1, null, HttpMethod.Get, "/v1/kv/a"), HttpStatusCode.Unauthorized, "unauthenticated");
    }

    [Fact]
    public async Task A_read_token_reads_and_watches_but_every_write_is_403_and_changes_nothing()
    {
        await using var cluster = await StartAsync(size: 1);
        await cluster.WaitForLeaderAsync();
        await AssertOk(Send(cluster, 1, AdminToken, HttpMethod.Put, "/v1/kv/k", "before"));

        await AssertOk(Send(cluster, 1, ReaderToken, HttpMethod.Get, "/v1/kv/k"));
        await AssertOk(Send(cluster, 1, ReaderToken, HttpMethod.Get, "/v1/kv?prefix="));
        await AssertOk(Send(cluster, 1, ReaderToken, HttpMethod.Get, "/v1/cluster"));
        await AssertOk(Send(cluster, 1, ReaderToken, HttpMethod.Get, "/v1/watch?prefix=&consistency=stale"));

        await AssertError(Send(cluster, 1, ReaderToken, HttpMethod.Put, "/v1/kv/k", "after"), HttpStatusCode.Forbidden, "forbidden");
        await AssertError(Send(cluster, 1, ReaderToken, HttpMethod.Delete, "/v1/kv/k"), HttpStatusCode.Forbidden, "forbidden");
        await AssertError(Send(cluster, 1, ReaderToken, HttpMethod.Post, "/v1/txn", TxnPut("k", "txn")), HttpStatusCode.Forbidden, "forbidden");
        await AssertError(Send(cluster, 1, ReaderToken, HttpMethod.Post, "/v1/locks/l", LockBody("r")), HttpStatusCode.Forbidden, "forbidden");
        await AssertError(Send(cluster, 1, ReaderToken, HttpMethod.Post, "/v1/leases", """{"ttlMs":10000}"""), HttpStatusCode.Forbidden, "forbidden");

        Assert.Equal("before", await ValueAsync(cluster, 1, "k"));
        var (_, locks, response) = await Send(cluster, 1, AdminToken, HttpMethod.Get, "/v1/locks/l");
        response.Dispose();
        Assert.Contains("lock_not_held", locks, StringComparison.Ordinal);
        var (_, leases, leasesResponse) = await Send(cluster, 1, AdminToken, HttpMethod.Get, "/v1/leases");
        leasesResponse.Dispose();
        Assert.Equal(0, JsonDocument.Parse(leases).RootElement.GetProperty("leases").GetArrayLength());
    }

    // The bar: a token without admin cannot transfer leadership or change members, and nothing changes.
    [Fact]
    public async Task A_write_token_writes_but_cannot_transfer_leadership_change_members_or_back_up()
    {
        await using var cluster = await StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        using var before = await cluster.ClusterStatusAsync(leader);
        var term = before.RootElement.GetProperty("term").GetInt64();

        await AssertOk(Send(cluster, follower, WriterToken, HttpMethod.Put, "/v1/kv/k", "v"));
        await AssertOk(Send(cluster, follower, WriterToken, HttpMethod.Post, "/v1/txn", TxnPut("t", "v")));
        await AssertOk(Send(cluster, follower, WriterToken, HttpMethod.Post, "/v1/locks/l", LockBody("w")));
        await AssertOk(Send(cluster, follower, WriterToken, HttpMethod.Post, "/v1/leases", """{"ttlMs":10000}"""));

        foreach (var node in new[] { leader, follower })
        {
            await AssertError(Send(cluster, node, WriterToken, HttpMethod.Post, $"/v1/cluster/transfer-leader?to={follower}"), HttpStatusCode.Forbidden, "forbidden");
            await AssertError(Send(cluster, node, WriterToken, HttpMethod.Post, "/v1/cluster/members",
                """{"id":9,"peerAddress":"127.0.0.1:1","httpEndpoint":"http://127.0.0.1:2","learner":true}"""), HttpStatusCode.Forbidden, "forbidden");
            await AssertError(Send(cluster, node, WriterToken, HttpMethod.Delete, $"/v1/cluster/members/{follower}"), HttpStatusCode.Forbidden, "forbidden");
            await AssertError(Send(cluster, node, WriterToken, HttpMethod.Post, $"/v1/cluster/members/{follower}/promote"), HttpStatusCode.Forbidden, "forbidden");
            await AssertError(Send(cluster, node, WriterToken, HttpMethod.Get, "/v1/snapshot"), HttpStatusCode.Forbidden, "forbidden");
        }

        // Nothing changed: the same leader in the same term, the same three voters.
        using (var after = await cluster.ClusterStatusAsync(leader))
        {
            Assert.Equal(leader, after.RootElement.GetProperty("leaderId").GetInt32());
            Assert.Equal(term, after.RootElement.GetProperty("term").GetInt64());
            Assert.Equal([1, 2, 3], after.RootElement.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("id").GetInt32()));
        }

        // The admin token may: the refusal above was the role, not the request.
        await AssertOk(Send(cluster, follower, AdminToken, HttpMethod.Post, $"/v1/cluster/transfer-leader?to={follower}"));
        Assert.Equal(follower, await cluster.WaitForLeaderAsync(excluding: leader));
        var (status, _, snapshot) = await Send(cluster, follower, AdminToken, HttpMethod.Get, "/v1/snapshot");
        snapshot.Dispose();
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task A_token_limited_to_prefixes_reaches_only_keys_and_locks_under_them()
    {
        await using var cluster = await StartAsync(size: 1);
        await cluster.WaitForLeaderAsync();
        await AssertOk(Send(cluster, 1, AdminToken, HttpMethod.Put, "/v1/kv/other/k", "theirs"));

        await AssertOk(Send(cluster, 1, AppToken, HttpMethod.Put, "/v1/kv/app/k", "mine"));
        await AssertOk(Send(cluster, 1, AppToken, HttpMethod.Put, "/v1/kv/shared/k", "mine"));
        await AssertOk(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/kv/app/k"));
        await AssertOk(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/kv?prefix=app/"));
        await AssertOk(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/kv?prefix=app/k"));
        await AssertOk(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/watch?prefix=app/&consistency=stale"));
        await AssertOk(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/watch?key=shared/k&consistency=stale"));
        await AssertOk(Send(cluster, 1, AppToken, HttpMethod.Post, "/v1/locks/app/l", LockBody("a")));
        await AssertOk(Send(cluster, 1, AppToken, HttpMethod.Post, "/v1/txn", TxnPut("app/t", "mine")));

        // Keys: written, read, deleted.
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Put, "/v1/kv/other/k", "mine"), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Put, "/v1/kv/other/new", "mine"), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/kv/other/k"), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Delete, "/v1/kv/other/k"), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/kv/ap"), HttpStatusCode.Forbidden, "out_of_scope");

        // Listings and watches over a prefix that reaches past the scope are refused, not narrowed.
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/kv?prefix="), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/kv?prefix=ap"), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/kv?prefix=other/&waitIndex=1&waitMs=0"), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/watch?prefix=&consistency=stale"), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/watch?key=other/k&consistency=stale"), HttpStatusCode.Forbidden, "out_of_scope");

        // A transaction touching one key outside is refused whole: compares, reads and prefix deletes included.
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Post, "/v1/txn",
            $$"""{"success":[{"op":"put","key":"app/t2","value":"eA=="},{"op":"put","key":"other/k","value":"eA=="}]}"""), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Post, "/v1/txn",
            """{"compare":[{"key":"other/k","exists":true}],"success":[{"op":"put","key":"app/t3","value":"eA=="}]}"""), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Post, "/v1/txn",
            """{"success":[{"op":"get","key":"other/k"}]}"""), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Post, "/v1/txn",
            """{"success":[{"op":"deletePrefix","key":"a"}]}"""), HttpStatusCode.Forbidden, "out_of_scope");

        // Locks, and the backup that holds every key.
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Post, "/v1/locks/other/l", LockBody("a")), HttpStatusCode.Forbidden, "out_of_scope");
        await AssertError(Send(cluster, 1, AppToken, HttpMethod.Get, "/v1/locks/other/l"), HttpStatusCode.Forbidden, "out_of_scope");

        Assert.Equal("theirs", await ValueAsync(cluster, 1, "other/k"));
        Assert.Null(await ValueAsync(cluster, 1, "other/new"));
        Assert.Null(await ValueAsync(cluster, 1, "app/t2"));
        Assert.Null(await ValueAsync(cluster, 1, "app/t3"));
        Assert.Equal("mine", await ValueAsync(cluster, 1, "app/t"));
        var (_, lockText, lockResponse) = await Send(cluster, 1, AdminToken, HttpMethod.Get, "/v1/locks/other/l");
        lockResponse.Dispose();
        Assert.Contains("lock_not_held", lockText, StringComparison.Ordinal);
    }

    // Node 1's configuration makes the reader's token a write token, the others' a read token: a write with it sent to
    // node 1 as a follower passes node 1's check, and only the leader's own check refuses it, which it can do only if
    // node 1 forwarded the caller's token rather than its own. The writer's token through node 1 is applied.
    [Fact]
    public async Task A_follower_forwards_the_callers_token_and_the_leader_authorizes_the_caller()
    {
        await using var cluster = await TestCluster.StartAsync(3, id => TokenArgs(readerRole: id == 1 ? "write" : "read"));
        for (var id = 1; id <= 3; id++)
        {
            cluster.Client(id).DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        }

        var leader = await cluster.WaitForLeaderAsync();
        if (leader == 1)
        {
            await AssertOk(Send(cluster, 1, AdminToken, HttpMethod.Post, "/v1/cluster/transfer-leader?to=2"));
            leader = await cluster.WaitForLeaderAsync(excluding: 1);
        }

        await AssertError(Send(cluster, 1, ReaderToken, HttpMethod.Put, "/v1/kv/forwarded", "by-reader"), HttpStatusCode.Forbidden, "forbidden");
        Assert.Null(await ValueAsync(cluster, leader, "forwarded"));

        var (status, text, response) = await Send(cluster, 1, WriterToken, HttpMethod.Put, "/v1/kv/forwarded", "by-writer");
        response.Dispose();
        Assert.True(status == HttpStatusCode.OK, text);
        Assert.Equal(leader.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Headers.GetValues("X-Raft-Leader").Single());
        Assert.Equal("by-writer", await ValueAsync(cluster, leader, "forwarded"));
    }

    // With tokens on, a new node's request to be added, and its request to be promoted, carry its node token.
    [Fact]
    public async Task A_node_joins_and_is_promoted_with_its_node_token()
    {
        await using var cluster = await StartAsync(size: 4, startCount: 3, voters: 3, extraArgs: id => id == 4 ? ["--Node:AutoPromote=true"] : []);
        var leader = await cluster.WaitForLeaderAsync();
        await cluster.StartNodeAsync(4);

        await TestCluster.WaitUntilAsync(async () =>
        {
            using var status = await cluster.ClusterStatusAsync(leader);
            return status.RootElement.GetProperty("members").EnumerateArray().Any(m => m.GetProperty("id").GetInt32() == 4 && m.GetProperty("voter").GetBoolean());
        }, "node 4 joined and promoted to a voter");
    }

    [Fact]
    public async Task A_burst_beyond_the_rate_limit_is_answered_429_with_retry_after_per_token()
    {
        await using var cluster = await StartAsync(size: 1, extraArgs: _ => ["--Node:RateLimit:PermitsPerSecond=1", "--Node:RateLimit:Burst=3"]);
        await TestCluster.WaitUntilAsync(async () =>
        {
            var (status, _, response) = await Send(cluster, 1, null, HttpMethod.Get, "/health/ready");
            response.Dispose();
            return status == HttpStatusCode.OK;
        }, "a leader");

        // A full bucket takes three; then only a second's refill lets one more through.
        var statuses = new List<HttpStatusCode>();
        string? retryAfter = null;
        string? refused = null;
        for (var i = 0; i < 12; i++)
        {
            var (status, text, response) = await Send(cluster, 1, WriterToken, HttpMethod.Get, "/v1/kv/k");
            using (response)
            {
                statuses.Add(status);
                if (status == HttpStatusCode.TooManyRequests)
                {
                    retryAfter ??= response.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    refused ??= text;
                }
            }
        }

        Assert.All(statuses.Take(3), s => Assert.Equal(HttpStatusCode.NotFound, s));
        Assert.InRange(statuses.Count(s => s == HttpStatusCode.TooManyRequests), 1, 9);
        Assert.All(statuses, s => Assert.True(s is HttpStatusCode.NotFound or HttpStatusCode.TooManyRequests, s.ToString()));
        Assert.Equal("1", retryAfter);
        Assert.Equal("rate_limited", JsonDocument.Parse(refused!).RootElement.GetProperty("error").GetString());

        // Another token has a bucket of its own, and the probes are never limited.
        await AssertOk(Send(cluster, 1, ReaderToken, HttpMethod.Get, "/v1/cluster"));
        for (var i = 0; i < 5; i++)
        {
            await AssertOk(Send(cluster, 1, null, HttpMethod.Get, "/health/live"));
        }
    }

    // The .NET client against a node with tokens and a rate limit: it sends its token, raises typed errors for 401 and
    // 403, and rides out 429s by waiting as told, so every write of a burst beyond the limit is applied once.
    [Fact]
    public async Task The_client_sends_its_token_reports_refusals_and_honours_the_rate_limit()
    {
        await using var cluster = await StartAsync(size: 1, extraArgs: _ => ["--Node:RateLimit:PermitsPerSecond=2", "--Node:RateLimit:Burst=2"]);
        var endpoints = new[] { new Uri(cluster.HttpUrl(1)) };
        using var app = new Raft.Client.RaftKvClient(endpoints, new Raft.Client.RaftKvClientOptions { BearerToken = AppToken, RetryDeadline = TimeSpan.FromSeconds(30) });
        for (var i = 0; i < 6; i++)
        {
            await app.PutAsync($"app/{i}", $"v{i}");
        }

        var denied = await Assert.ThrowsAsync<Raft.Client.PermissionDeniedException>(() => app.PutAsync("other/k", "v"));
        Assert.Equal("out_of_scope", denied.ErrorCode);
        using (var anonymous = new Raft.Client.RaftKvClient(endpoints))
        {
            await Assert.ThrowsAsync<Raft.Client.UnauthenticatedException>(() => anonymous.GetAsync("app/0"));
        }

        // Read back by a client of its own, since the admin's token is limited too.
        using (var admin = new Raft.Client.RaftKvClient(endpoints, new Raft.Client.RaftKvClientOptions { BearerToken = AdminToken, RetryDeadline = TimeSpan.FromSeconds(30) }))
        {
            for (var i = 0; i < 6; i++)
            {
                Assert.Equal($"v{i}", (await admin.GetAsync($"app/{i}"))?.ValueAsString());
            }

            Assert.Null(await admin.GetAsync("other/k"));
        }

        var (_, metrics, response) = await Send(cluster, 1, ReaderToken, HttpMethod.Get, "/metrics");
        response.Dispose();
        var limited = metrics.Split('\n').Where(line => line.StartsWith("http_requests_total{route=\"/v1/kv/{**key}\",method=\"PUT\",status=\"429\"}", StringComparison.Ordinal));
        Assert.True(long.Parse(Assert.Single(limited).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) >= 1, metrics);
    }

    [Fact]
    public async Task A_token_file_with_hashes_is_read_and_a_bad_one_stops_the_node_before_it_starts()
    {
        var folder = Path.Combine(Path.GetTempPath(), "raft-server-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var file = Path.Combine(folder, "tokens.json");
            await File.WriteAllTextAsync(file, $$"""
                {"tokens":[
                  {"name":"ops","token":"{{AdminToken}}","roles":["admin"]},
                  {"name":"ci","sha256":"{{Sha256(WriterToken).ToLowerInvariant()}}","roles":["read","write"],"prefixes":["ci/"]}
                ]}
                """);
            await using (var cluster = await TestCluster.StartAsync(1, _ => [$"--Node:Auth:TokensFile={file}"]))
            {
                cluster.Client(1).DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
                await cluster.WaitForLeaderAsync();
                await AssertOk(Send(cluster, 1, WriterToken, HttpMethod.Put, "/v1/kv/ci/build", "1"));
                await AssertError(Send(cluster, 1, WriterToken, HttpMethod.Put, "/v1/kv/build", "1"), HttpStatusCode.Forbidden, "out_of_scope");
            }

            await File.WriteAllTextAsync(file, """{"tokens":[{"name":"short","token":"short","roles":["reader"]}]}""");
            var error = Assert.Throws<NodeConfigurationException>(() => NodeHost.Build(
                ["--Node:Id=1", "--Node:Peers:1=127.0.0.1:1", "--Node:HttpEndpoints:1=http://127.0.0.1:1", $"--Node:DataDirectory={folder}", $"--Node:Auth:TokensFile={file}"]));
            Assert.Contains("at least 16 characters", error.Message, StringComparison.Ordinal);
            Assert.Contains("role 'reader' is not read, write or admin", error.Message, StringComparison.Ordinal);

            // Tokens on, but none the node could send to other nodes: refused at start.
            var noNodeToken = Assert.Throws<NodeConfigurationException>(() => NodeHost.Build(
                ["--Node:Id=1", "--Node:Peers:1=127.0.0.1:1", "--Node:HttpEndpoints:1=http://127.0.0.1:1", $"--Node:DataDirectory={folder}",
                 "--Node:Auth:Tokens:0:Name=w", $"--Node:Auth:Tokens:0:Token={WriterToken}", "--Node:Auth:Tokens:0:Roles:0=write"]));
            Assert.Contains("Node:Auth:NodeToken", noNodeToken.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
