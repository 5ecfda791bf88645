using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Raft.Server.Tests;

/// <summary>Watches and blocking reads over HTTP, served by any node from its own history.</summary>
public sealed class WatchApiTests
{
    private static string Text(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    private static async Task<ulong> PutAsync(HttpClient client, string key, string value)
    {
        using var response = await client.PutAsync($"/v1/kv/{key}", new ByteArrayContent(Encoding.UTF8.GetBytes(value)));
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("index").GetUInt64();
    }

    private static async Task<ulong> DeleteAsync(HttpClient client, string key)
    {
        using var response = await client.DeleteAsync($"/v1/kv/{key}");
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("index").GetUInt64();
    }

    private static async Task<ulong> CommitIndexAsync(TestCluster cluster, int id)
    {
        using var status = await cluster.ClusterStatusAsync(id);
        return status.RootElement.GetProperty("commitIndex").GetUInt64();
    }

    /// <summary>
    /// An open watch: its lines, read one at a time, each within the test's wait limit. It has a client of its own, with
    /// no overall timeout: a watch lasts as long as its reader wants.
    /// </summary>
    internal sealed class Watch : IDisposable
    {
        private readonly HttpClient _client;
        private readonly HttpResponseMessage _response;
        private readonly StreamReader _reader;

        private Watch(HttpClient client, HttpResponseMessage response, Stream body)
        {
            _client = client;
            _response = response;
            _reader = new StreamReader(body, Encoding.UTF8);
        }

        public static async Task<Watch> OpenAsync(HttpClient node, string query)
        {
            var client = new HttpClient { BaseAddress = node.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
            using var opening = new CancellationTokenSource(TestCluster.WaitLimit);
            var response = await client.GetAsync($"/v1/watch?{query}", HttpCompletionOption.ResponseHeadersRead, opening.Token);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                // Only a refusal's body ends: a watch's is read line by line.
                Assert.Fail($"{query}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }

            Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
            return new Watch(client, response, await response.Content.ReadAsStreamAsync());
        }

        /// <summary>The next line with changes (progress lines skipped); null at the end of the stream.</summary>
        public async Task<JsonElement?> NextAsync(bool skipProgress = true)
        {
            using var limit = new CancellationTokenSource(TestCluster.WaitLimit);
            while (true)
            {
                var line = await _reader.ReadLineAsync(limit.Token);
                if (line is null)
                {
                    return null;
                }

                var element = JsonDocument.Parse(line).RootElement.Clone();
                if (!skipProgress || element.TryGetProperty("changes", out _) || element.TryGetProperty("error", out _))
                {
                    return element;
                }
            }
        }

        // The client first: it aborts the connection, where disposing an endless body could wait to drain it.
        public void Dispose()
        {
            _client.CancelPendingRequests();
            _client.Dispose();
            _response.Dispose();
            _reader.Dispose();
        }
    }

    private static string Describe(JsonElement line) =>
        $"{line.GetProperty("index").GetUInt64()}:" + string.Join(",", line.GetProperty("changes").EnumerateArray()
            .Select(c => $"{c.GetProperty("type").GetString()} {c.GetProperty("key").GetString()}"
                + (c.TryGetProperty("value", out var v) ? "=" + Encoding.UTF8.GetString(v.GetBytesFromBase64()) : string.Empty)));

    [Fact]
    public async Task A_watch_on_a_follower_sees_every_change_under_its_prefix_in_log_order_and_resumes_exactly_after_an_index()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        var client = cluster.Client(leader);
        var start = await CommitIndexAsync(cluster, leader);

        using var watch = await Watch.OpenAsync(cluster.Client(follower), $"prefix=app/&fromIndex={Text(start)}");
        var put1 = await PutAsync(client, "app/1", "one");
        await PutAsync(client, "other/x", "ignored");
        var delete1 = await DeleteAsync(client, "app/1");
        using (var txn = await client.PostAsync("/v1/txn", new StringContent(
            """{"success":[{"op":"put","key":"app/2","value":"dHdv"},{"op":"put","key":"app/3","value":"dGhyZWU="},{"op":"put","key":"other/y","value":"eA=="}]}""")))
        {
            txn.EnsureSuccessStatusCode();
        }

        var put4 = await PutAsync(client, "app/4", "four");
        var seen = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            seen.Add(Describe((await watch.NextAsync())!.Value));
        }

        Assert.Equal(
            [$"{put1}:put app/1=one", $"{delete1}:delete app/1", $"{delete1 + 1}:put app/2=two,put app/3=three", $"{put4}:put app/4=four"],
            seen);

        // From the delete's index on another node: the transaction and the last put, nothing before, nothing twice.
        using var resumed = await Watch.OpenAsync(cluster.Client(6 - leader - follower), $"prefix=app/&fromIndex={Text(delete1)}&consistency=stale");
        Assert.Equal($"{delete1 + 1}:put app/2=two,put app/3=three", Describe((await resumed.NextAsync())!.Value));
        Assert.Equal($"{put4}:put app/4=four", Describe((await resumed.NextAsync())!.Value));

        // One key, from now (no fromIndex): only what comes after.
        using var one = await Watch.OpenAsync(cluster.Client(follower), "key=app/4");
        await PutAsync(client, "app/5", "five");
        var last = await PutAsync(client, "app/4", "four again");
        Assert.Equal($"{last}:put app/4=four again", Describe((await one.NextAsync())!.Value));
    }

    [Fact]
    public async Task A_watch_from_before_the_history_is_answered_410_with_the_oldest_index_to_watch_from()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:WatchHistoryChanges=4"]);
        var leader = await cluster.WaitForLeaderAsync();
        var first = await PutAsync(cluster.Client(leader), "h/0", "0");
        ulong last = 0;
        for (var i = 1; i < 10; i++)
        {
            last = await PutAsync(cluster.Client(leader), $"h/{i}", $"{i}");
        }

        using var response = await cluster.Client(leader).GetAsync($"/v1/watch?prefix=h/&fromIndex={Text(first)}");
        Assert.Equal(HttpStatusCode.Gone, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("compacted", body.RootElement.GetProperty("error").GetString());
        var oldest = body.RootElement.GetProperty("oldestIndex").GetUInt64();
        Assert.InRange(oldest, first + 1, last - 1);

        using var watch = await Watch.OpenAsync(cluster.Client(leader), $"prefix=h/&fromIndex={Text(oldest)}");
        Assert.Equal(oldest + 1, (await watch.NextAsync())!.Value.GetProperty("index").GetUInt64());
    }

    [Theory]
    [InlineData("", 400, "invalid_watch")]
    [InlineData("key=a&prefix=b", 400, "invalid_watch")]
    [InlineData("prefix=a&fromIndex=-1", 400, "invalid_watch")]
    [InlineData("prefix=a&fromIndex=x", 400, "invalid_watch")]
    [InlineData("key=", 400, "invalid_key")]
    [InlineData("key=%FF", 400, "invalid_key")]
    [InlineData("prefix=a&consistency=lease", 400, "invalid_consistency")]
    [InlineData("prefix=a&consistency=eventual", 400, "invalid_consistency")]
    public async Task A_bad_watch_is_answered_with_its_problem(string query, int code, string error)
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        using var response = await cluster.Client(leader).GetAsync($"/v1/watch?{query}");
        Assert.Equal(code, (int)response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(error, body.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Watches_beyond_the_node_s_limit_are_refused_429_and_a_closed_one_frees_its_place()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:WatchersMax=1"]);
        var leader = await cluster.WaitForLeaderAsync();
        using (await Watch.OpenAsync(cluster.Client(leader), "prefix="))
        {
            using var refused = await cluster.Client(leader).GetAsync("/v1/watch?prefix=", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Contains("too_many_watchers", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await TestCluster.WaitUntilAsync(async () =>
        {
            using var again = await cluster.Client(leader).GetAsync("/v1/watch?prefix=", HttpCompletionOption.ResponseHeadersRead);
            return again.StatusCode == HttpStatusCode.OK;
        }, "the closed watch's place to be free");
    }

    [Fact]
    public async Task A_watcher_that_stops_reading_is_dropped_with_a_last_line_instead_of_holding_memory()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:WatchHistoryChanges=16", "--Node:WatchHistoryBytes=1048576"]);
        var leader = await cluster.WaitForLeaderAsync();
        using var watch = await Watch.OpenAsync(cluster.Client(leader), "prefix=big/");

        // 32 MiB, far more than the sockets between them buffer: the node's writes to the watcher block, and the history
        // (16 changes) moves on without it. Once the watcher reads again, it gets what was sent, then the last line.
        var value = new string('v', 64 * 1024);
        for (var i = 0; i < 512; i++)
        {
            await PutAsync(cluster.Client(leader), $"big/{i % 10}", value);
        }

        JsonElement? line;
        JsonElement? lastLine = null;
        ulong previous = 0;
        while ((line = await watch.NextAsync()) is { } current)
        {
            var index = current.GetProperty("index").GetUInt64();
            if (current.TryGetProperty("error", out var error))
            {
                Assert.Equal("watch_dropped", error.GetString());
                Assert.Equal(previous, index);
            }
            else
            {
                Assert.True(index > previous);
            }

            previous = index;
            lastLine = current;
        }

        Assert.True(lastLine?.TryGetProperty("error", out _), "the stream ended without saying it was dropped");
        var metrics = await cluster.Client(leader).GetStringAsync("/metrics");
        Assert.Contains("\nraft_watches_dropped_total 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_blocking_read_answers_once_the_key_changes_after_the_index_or_when_its_wait_ends()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        var before = await PutAsync(cluster.Client(leader), "cfg/mode", "blue");
        await PutAsync(cluster.Client(leader), "cfg/other", "x");

        var blocked = cluster.Client(follower).GetStringAsync($"/v1/kv/cfg/mode?waitIndex={Text(before)}&waitMs=30000");
        var listing = cluster.Client(follower).GetStringAsync($"/v1/kv?prefix=cfg/&waitIndex={Text(before + 1)}&waitMs=30000");
        await PutAsync(cluster.Client(leader), "cfg/mode", "green");

        // Answered before the change, they would show blue.
        Assert.Equal("green", await blocked.WaitAsync(TestCluster.WaitLimit));
        Assert.Contains("\"value\":\"Z3JlZW4=\"", await listing.WaitAsync(TestCluster.WaitLimit), StringComparison.Ordinal);

        using var quiet = await cluster.Client(follower).GetAsync($"/v1/kv/cfg/mode?waitIndex={Text(before + 10)}&waitMs=50");
        Assert.Equal("green", await quiet.Content.ReadAsStringAsync());

        using var bad = await cluster.Client(follower).GetAsync("/v1/kv/cfg/mode?waitMs=50");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("invalid_wait", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var badIndex = await cluster.Client(follower).GetAsync("/v1/kv/cfg/mode?waitIndex=soon");
        Assert.Equal(HttpStatusCode.BadRequest, badIndex.StatusCode);
        Assert.Contains("invalid_watch", await badIndex.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
