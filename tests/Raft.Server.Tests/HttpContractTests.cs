using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Server.Tests;

/// <summary>
/// What every caller of the HTTP API can rely on whatever it is written in: errors are JSON with a code and a
/// sentence, a name means the same whether its slashes are escaped or not, and a lock body is judged by its shape.
/// </summary>
public sealed class HttpContractTests
{
    private static readonly string[] LeakedInternals = ["System.", "Path: $", "LineNumber", "BytePosition", "`1", "Exception"];

    private static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    private static StringContent LockBody(string owner, long ttlMs) =>
        Json($"{{\"owner\":\"{owner}\",\"ttlMs\":{ttlMs.ToString(CultureInfo.InvariantCulture)}}}");

    private static async Task<(HttpStatusCode Status, JsonElement Body)> ErrorOf(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var body = json.RootElement.Clone();
            Assert.Contains(body.GetProperty("error").GetString() ?? string.Empty, ErrorCodes.All);
            var detail = body.GetProperty("detail").GetString();
            Assert.False(string.IsNullOrWhiteSpace(detail));
            foreach (var leak in LeakedInternals)
            {
                Assert.DoesNotContain(leak, detail, StringComparison.Ordinal);
            }

            return (response.StatusCode, body);
        }
    }

    private static RaftKvClient Connect(TestCluster cluster, int? only = null)
    {
        var endpoints = Enumerable.Range(1, cluster.Size)
            .Where(id => only is null || id == only)
            .ToDictionary(id => id, id => new Uri(cluster.HttpUrl(id)));
        return new RaftKvClient(endpoints, new RaftKvClientOptions { RequestTimeout = TimeSpan.FromSeconds(10), RetryDeadline = TestCluster.WaitLimit });
    }

    // Sends bytes the HTTP client would refuse to produce (with Connection: close) and reads the whole answer.
    private static async Task<(int Status, string Head, string Body)> SendRawAsync(string url, string request)
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TestCluster.WaitLimit);
        await tcp.ConnectAsync(IPAddress.Loopback, new Uri(url).Port, timeout.Token);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), timeout.Token);
        var received = new MemoryStream();
        await stream.CopyToAsync(received, timeout.Token);
        var all = Encoding.UTF8.GetString(received.ToArray());
        var split = all.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = split >= 0 ? all[..split] : all;
        return (int.Parse(head.AsSpan(9, 3), CultureInfo.InvariantCulture), head, split >= 0 ? all[(split + 4)..] : string.Empty);
    }

    [Fact]
    public async Task Unknown_paths_wrong_methods_and_broken_bodies_are_answered_with_json_errors()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);

        var (status, body) = await ErrorOf(await client.GetAsync("/v1/nothing-here"));
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("no_route", body.GetProperty("error").GetString());

        using (var wrong = await client.PostAsync("/v1/kv/a", new ByteArrayContent([1])))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, wrong.StatusCode);
            var allowed = wrong.Content.Headers.Allow.Count > 0 ? wrong.Content.Headers.Allow : wrong.Headers.GetValues("Allow").SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)).ToHashSet();
            Assert.Equal(["DELETE", "GET", "PUT"], allowed.Order(StringComparer.Ordinal));
            (status, body) = await ErrorOf(wrong);
            Assert.Equal("method_not_allowed", body.GetProperty("error").GetString());
        }

        (status, body) = await ErrorOf(await client.DeleteAsync("/v1/cluster"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, status);

        // A chunked body whose chunk size is not hexadecimal: the framework refuses it while the handler reads.
        var broken = await SendRawAsync(cluster.HttpUrl(leader),
            "PUT /v1/kv/chunks HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
        Assert.Equal(400, broken.Status);
        Assert.Contains("application/json", broken.Head, StringComparison.OrdinalIgnoreCase);
        using (var json = JsonDocument.Parse(broken.Body[broken.Body.IndexOf('{', StringComparison.Ordinal)..(broken.Body.LastIndexOf('}') + 1)]))
        {
            Assert.Equal("bad_request", json.RootElement.GetProperty("error").GetString());
        }

        // Headers over the documented 32 KiB (and under what the listener lets through) are refused in JSON too.
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/v1/kv/a"))
        {
            request.Headers.TryAddWithoutValidation("X-Padding", new string('p', 40 * 1024));
            (status, body) = await ErrorOf(await client.SendAsync(request));
            Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, status);
            Assert.Equal("headers_too_large", body.GetProperty("error").GetString());
        }
    }

    [Fact]
    public async Task A_malformed_lock_body_gets_a_sentence_of_ours_and_a_string_ttl_is_invalid_ttl()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        using var before = await cluster.ClusterStatusAsync(leader);

        foreach (var (text, error) in new[]
        {
            ("{\"owner\":\"worker-1\",\"ttlMs\":\"10000\"}", "invalid_ttl"),
            ("{\"owner\":\"worker-1\",\"ttlMs\":\"x\"}", "invalid_ttl"),
            ("{\"owner\":\"worker-1\",\"ttlMs\":1.5}", "invalid_ttl"),
            ("{\"owner\":\"worker-1\",\"ttlMs\":99999999999999999999999}", "invalid_ttl"),
            ("{\"owner\":\"worker-1\",\"ttlMs\":true}", "invalid_ttl"),
            ("{\"owner\":7,\"ttlMs\":1000}", "invalid_owner"),
            ("{\"owner\":\"worker-1\",\"ttlMs\":1000", "invalid_json"),
            ("{\"owner\":\"worker-1\",\"ttlMs\":1000}}", "invalid_json"),
            ("{\"owner\":\"a\",\"owner\":\"b\",\"ttlMs\":1000}", "invalid_json"),
            ("[\"worker-1\"]", "invalid_json"),
            ("\"worker-1\"", "invalid_json"),
            ("{owner:1}", "invalid_json"),
        })
        {
            var (status, body) = await ErrorOf(await client.PostAsync("/v1/locks/shape", Json(text)));
            Assert.True(status == HttpStatusCode.BadRequest, $"{text}: {(int)status}");
            Assert.True(error == body.GetProperty("error").GetString(), $"{text}: {body}");
        }

        using var after = await cluster.ClusterStatusAsync(leader);
        Assert.Equal(before.RootElement.GetProperty("commitIndex").GetUInt64(), after.RootElement.GetProperty("commitIndex").GetUInt64());
    }

    [Fact]
    public async Task A_lock_name_with_a_slash_is_one_lock_whether_the_slash_is_escaped_or_not()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        using var kv = Connect(cluster);

        // The client escapes the name as one path segment (jobs%2Fnightly); curl sends jobs/nightly.
        var lease = await kv.AcquireLockAsync("jobs/nightly", "dotnet", TimeSpan.FromMinutes(1));
        Assert.Equal("jobs/nightly", lease.Name);
        foreach (var node in new[] { leader, follower })
        {
            var (status, body) = await ErrorOf(await cluster.Client(node).PostAsync("/v1/locks/jobs/nightly", LockBody("curl", 60_000)));
            Assert.Equal(HttpStatusCode.Conflict, status);
            Assert.Equal("lock_held", body.GetProperty("error").GetString());
            Assert.Equal("dotnet", body.GetProperty("holder").GetString());
        }

        using (var read = await cluster.Client(follower).GetAsync("/v1/locks/jobs/nightly"))
        {
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            using var json = JsonDocument.Parse(await read.Content.ReadAsStringAsync());
            Assert.Equal("jobs/nightly", json.RootElement.GetProperty("name").GetString());
            Assert.Equal(lease.FencingToken, json.RootElement.GetProperty("fencingToken").GetUInt64());
        }

        // And the other way round: taken with a plain slash, refused to the client that escapes it.
        using (var taken = await cluster.Client(follower).PostAsync("/v1/locks/jobs/weekly", LockBody("curl", 60_000)))
        {
            Assert.Equal(HttpStatusCode.OK, taken.StatusCode);
        }

        var held = await Assert.ThrowsAsync<LockHeldException>(() => kv.AcquireLockAsync("jobs/weekly", "dotnet", TimeSpan.FromMinutes(1)));
        Assert.Equal("curl", held.Holder);
        Assert.Equal("curl", (await kv.GetLockAsync("jobs/weekly"))?.Owner);
        using (var escaped = await cluster.Client(leader).PostAsync("/v1/locks/jobs%2fweekly", LockBody("other", 60_000)))
        {
            Assert.Equal(HttpStatusCode.Conflict, escaped.StatusCode);
        }
    }

    [Fact]
    public async Task A_key_is_the_same_through_the_client_and_raw_http_and_invalid_utf8_is_refused()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        using var kv = Connect(cluster);

        var put = await kv.PutAsync("dir/a b/c", "through the client");
        foreach (var path in new[] { "/v1/kv/dir/a%20b/c", "/v1/kv/dir%2Fa%20b%2Fc", "/v1/kv/dir%2fa b/c" })
        {
            using var get = await cluster.Client(follower).GetAsync(path);
            Assert.True(get.StatusCode == HttpStatusCode.OK, $"{path}: {(int)get.StatusCode}");
            Assert.Equal("through the client", await get.Content.ReadAsStringAsync());
            Assert.Equal(put.Version.ToString(CultureInfo.InvariantCulture), string.Join(",", get.Headers.GetValues("X-Raft-Version")));
        }

        // Written raw with an escaped slash through a follower (so also forwarded), read by the client.
        using (var raw = await cluster.Client(follower).PutAsync("/v1/kv/raw%2Fkey", new ByteArrayContent("raw"u8.ToArray())))
        {
            Assert.Equal(HttpStatusCode.OK, raw.StatusCode);
        }

        Assert.Equal("raw", (await kv.GetAsync("raw/key"))?.ValueAsString());
        var listed = await kv.ListAsync("raw/");
        Assert.Equal(["raw/key"], listed.Items.Select(i => i.Key));

        // A literal percent sign is its own character: %252F is the three characters %2F, not a slash.
        await kv.PutAsync("100%2Fsure", "percent");
        using (var literal = await cluster.Client(follower).GetAsync("/v1/kv/100%252Fsure"))
        {
            Assert.Equal("percent", await literal.Content.ReadAsStringAsync());
        }

        using (var slash = await cluster.Client(leader).GetAsync("/v1/kv/100/sure"))
        {
            Assert.Equal(HttpStatusCode.NotFound, slash.StatusCode);
        }

        foreach (var request in new Func<HttpClient, Task<HttpResponseMessage>>[]
        {
            c => c.PutAsync("/v1/kv/bad%FFname", new ByteArrayContent([1])),
            c => c.GetAsync("/v1/kv/bad%FFname"),
            c => c.DeleteAsync("/v1/kv/bad%C3"),
            c => c.PostAsync("/v1/locks/bad%FF", LockBody("a", 1000)),
            c => c.GetAsync("/v1/locks/half%E2%82"),
            c => c.GetAsync("/v1/kv?prefix=bad%FF"),
        })
        {
            foreach (var node in new[] { leader, follower })
            {
                var (status, body) = await ErrorOf(await request(cluster.Client(node)));
                Assert.Equal(HttpStatusCode.BadRequest, status);
                Assert.Equal("invalid_key", body.GetProperty("error").GetString());
            }
        }

        // System.Uri would escape this % itself; sent as written, it is a broken escape.
        var broken = await SendRawAsync(cluster.HttpUrl(follower), "PUT /v1/kv/bad%zzescape HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
        Assert.Equal(400, broken.Status);
        Assert.Contains("\"error\":\"invalid_key\"", broken.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_leader_only_request_is_carried_past_a_leader_whose_port_closed()
    {
        // Without a hand-over on stop, the followers go on naming the stopped node for an election timeout.
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:ShutdownTransferTimeoutMs=0"]);
        var leader = await cluster.WaitForLeaderAsync();
        using (var put = await cluster.Client(leader).PutAsync("/v1/kv/leased", new ByteArrayContent("v"u8.ToArray())))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var kinds = new (string What, Func<HttpClient, Task<HttpResponseMessage>> Send)[]
        {
            ("acquire", c => c.PostAsync("/v1/locks/carried", LockBody("a", 60_000))),
            ("renew", c => c.PutAsync("/v1/locks/carried", LockBody("a", 60_000))),
            ("lease read", c => c.GetAsync("/v1/kv/leased?consistency=lease")),
            ("lease lock read", c => c.GetAsync("/v1/locks/carried?consistency=lease")),
            ("release", c => c.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/v1/locks/carried") { Content = Json("{\"owner\":\"a\"}") })),
            ("transfer", c => c.PostAsync("/v1/cluster/transfer-leader", null)),
        };
        foreach (var (what, send) in kinds)
        {
            var follower = leader % 3 + 1;
            await cluster.StopNodeAsync(leader);
            using (var response = await send(cluster.Client(follower)))
            {
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{what} through node {follower} after node {leader} stopped: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }

            await cluster.StartNodeAsync(leader);
            leader = await cluster.WaitForLeaderAsync();
        }
    }

    [Fact]
    public async Task Writes_through_a_follower_while_leadership_moves_back_and_forth_all_succeed_once()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var other = leader % 3 + 1;
        var follower = 6 - leader - other;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var acknowledged = new System.Collections.Concurrent.ConcurrentQueue<(string Key, string Index)>();
        using var stop = new CancellationTokenSource();

        async Task WriteAsync(int writer)
        {
            for (var seq = 0; !stop.IsCancellationRequested; seq++)
            {
                var key = $"moves/{writer}/{seq}";
                using var response = await cluster.Client(follower).PutAsync($"/v1/kv/{key}", new ByteArrayContent(Encoding.UTF8.GetBytes(key)));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    acknowledged.Enqueue((key, string.Join(",", response.Headers.GetValues("X-Raft-Index"))));
                }
                else
                {
                    failures.Enqueue($"{key}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }
            }
        }

        var writers = Enumerable.Range(0, 6).Select(WriteAsync).ToArray();
        for (var transfer = 0; transfer < 16; transfer++)
        {
            var before = acknowledged.Count;
            await TestCluster.WaitUntilAsync(() => Task.FromResult(acknowledged.Count >= before + 10), "writes between transfers");
            using var response = await cluster.Client(leader).PostAsync($"/v1/cluster/transfer-leader?to={other}", null);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"transfer {transfer}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            (leader, other) = (other, leader);
        }

        await stop.CancelAsync();
        await Task.WhenAll(writers).WaitAsync(TestCluster.WaitLimit);

        Assert.Empty(failures);
        Assert.NotEmpty(acknowledged);
        foreach (var (key, index) in acknowledged)
        {
            using var read = await cluster.Client(follower).GetAsync($"/v1/kv/{key}");
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            Assert.Equal(index, string.Join(",", read.Headers.GetValues("X-Raft-Create-Index")));
            Assert.Equal(index, string.Join(",", read.Headers.GetValues("X-Raft-Version")));
        }
    }
}
