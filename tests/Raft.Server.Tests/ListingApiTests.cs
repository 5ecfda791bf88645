using System.Net;
using System.Text;
using System.Text.Json;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Server.Tests;

/// <summary>
/// <c>GET /v1/kv?prefix=p</c> paged with <c>after</c> and <c>next</c>, keys only with <c>keys=true</c>, bad
/// parameters refused, and the client walking a listing page by page.
/// </summary>
public sealed class ListingApiTests
{
    // Beside plain ASCII keys, ones whose ordinal UTF-16 order is not their UTF-8 byte order (a surrogate pair sorts
    // below U+E000), escaped on the way into after and decoded back.
    private static readonly string[] Unusual = ["page/é", "page/中 文", "page/\ud83d\ude00", "page/\ue000", "page/a+b&c=d"];

    private static async Task<JsonDocument> Json(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        }
    }

    private static List<string> Keys(JsonDocument page) =>
        [.. page.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("key").GetString()!)];

    private static string? Next(JsonDocument page) =>
        page.RootElement.TryGetProperty("next", out var next) ? next.GetString() : null;

    private static async Task WriteAsync(TestCluster cluster, int node, IEnumerable<string> keys)
    {
        using var timeout = new CancellationTokenSource(TestCluster.WaitLimit * 4);
        var options = new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = timeout.Token };
        await Parallel.ForEachAsync(keys, options, async (key, cancellationToken) =>
        {
            using var put = await cluster.Client(node).PutAsync("/v1/kv/" + Uri.EscapeDataString(key), new ByteArrayContent(Encoding.UTF8.GetBytes("v:" + key)), cancellationToken);
            Assert.True(put.StatusCode == HttpStatusCode.OK, $"{key}: {(int)put.StatusCode}");
        });
    }

    [Fact]
    public async Task Paging_by_next_lists_every_key_once_in_order()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        var keys = Enumerable.Range(0, 250 - Unusual.Length).Select(i => $"page/{i:D3}").Concat(Unusual).ToList();
        await WriteAsync(cluster, leader, keys.Concat(["pag", "page", "page0", "pagf"]));
        var expected = keys.Order(StringComparer.Ordinal).ToList();

        var listed = new List<string>();
        var sizes = new List<int>();
        string? after = null;
        do
        {
            Assert.True(sizes.Count < 3, "a listing of 250 keys by 100 takes 3 pages");
            var query = "/v1/kv?prefix=page%2F&limit=100" + (after is null ? string.Empty : "&after=" + Uri.EscapeDataString(after));
            using var page = await Json(await cluster.Client(follower).GetAsync(query));
            var pageKeys = Keys(page);
            var more = page.RootElement.GetProperty("more").GetBoolean();
            Assert.Equal(more ? pageKeys[^1] : null, Next(page));
            listed.AddRange(pageKeys);
            sizes.Add(pageKeys.Count);
            after = Next(page);
        }
        while (after is not null);

        Assert.Equal([100, 100, 50], sizes);
        Assert.Equal(expected, listed);

        // after before the prefix starts at it; after a stored key goes on with the next; after past the prefix's
        // keys finds none and says no more.
        using (var before = await Json(await cluster.Client(leader).GetAsync("/v1/kv?prefix=page%2F&limit=2&after=pag")))
        {
            Assert.Equal(expected[..2], Keys(before));
            Assert.Equal(expected[1], Next(before));
        }

        using (var between = await Json(await cluster.Client(leader).GetAsync("/v1/kv?prefix=page/&limit=2&after=page/099")))
        {
            Assert.Equal(["page/100", "page/101"], Keys(between));
        }

        using (var surrogate = await Json(await cluster.Client(leader).GetAsync("/v1/kv?prefix=page/&after=" + Uri.EscapeDataString("page/\ud83d\ude00"))))
        {
            Assert.Equal(["page/\ue000"], Keys(surrogate));
            Assert.False(surrogate.RootElement.GetProperty("more").GetBoolean());
        }

        foreach (var past in new[] { "page/\ue000", "page/\uffff", "pagf", "zzz" })
        {
            using var none = await Json(await cluster.Client(leader).GetAsync("/v1/kv?prefix=page/&limit=5&after=" + Uri.EscapeDataString(past)));
            Assert.Empty(Keys(none));
            Assert.False(none.RootElement.GetProperty("more").GetBoolean());
            Assert.Null(Next(none));
        }
    }

    [Fact]
    public async Task A_keys_only_listing_leaves_the_values_out_and_keeps_the_versions()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        await WriteAsync(cluster, leader, ["ko/a", "ko/b", "ko/c"]);

        using var full = await Json(await cluster.Client(leader).GetAsync("/v1/kv?prefix=ko/&keys=false"));
        var versions = full.RootElement.GetProperty("items").EnumerateArray()
            .Select(i => (i.GetProperty("key").GetString(), i.GetProperty("version").GetUInt64(), i.GetProperty("createIndex").GetUInt64())).ToList();
        Assert.Equal("v:ko/a", Encoding.UTF8.GetString(full.RootElement.GetProperty("items")[0].GetProperty("value").GetBytesFromBase64()));

        // Through a follower as a lease read too, which goes to the leader with its query as written.
        foreach (var (node, query) in new[] { (leader, "keys=true"), (follower, "keys=TRUE&consistency=lease"), (follower, "keys=true&consistency=stale") })
        {
            using var response = await cluster.Client(node).GetAsync("/v1/kv?prefix=ko/&" + query);
            var text = await response.Content.ReadAsStringAsync();
            using var keysOnly = await Json(response);
            Assert.DoesNotContain("\"value\"", text, StringComparison.Ordinal);
            var items = keysOnly.RootElement.GetProperty("items").EnumerateArray()
                .Select(i => (i.GetProperty("key").GetString(), i.GetProperty("version").GetUInt64(), i.GetProperty("createIndex").GetUInt64())).ToList();
            Assert.Equal(versions, items);
        }

        using var paged = await Json(await cluster.Client(follower).GetAsync("/v1/kv?prefix=ko/&keys=true&limit=1&after=ko/a&consistency=lease"));
        Assert.Equal(["ko/b"], Keys(paged));
        Assert.Equal("ko/b", Next(paged));
    }

    [Fact]
    public async Task A_bad_after_or_keys_is_answered_400_with_its_code_and_changes_nothing()
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:MaxKeyBytes=16"]);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        await WriteAsync(cluster, leader, ["b/1", "b/2"]);
        using var before = await cluster.ClusterStatusAsync(leader);
        var commitBefore = before.RootElement.GetProperty("commitIndex").GetUInt64();

        var cases = new (string Query, string Error)[]
        {
            ("after=", ErrorCodes.InvalidAfter),
            ("after", ErrorCodes.InvalidAfter),
            ("after=b/1&after=b/2", ErrorCodes.InvalidAfter),
            ("after=bad%FF", ErrorCodes.InvalidAfter),
            ("after=half%E2%82", ErrorCodes.InvalidAfter),
            ("after=%ED%A0%80", ErrorCodes.InvalidAfter),
            ("after=a%01b", ErrorCodes.InvalidAfter),
            ("after=" + new string('k', 17), ErrorCodes.InvalidAfter),
            ("after=" + Uri.EscapeDataString("ключ-ключ"), ErrorCodes.InvalidAfter),
            ("keys=yes", ErrorCodes.InvalidKeys),
            ("keys=1", ErrorCodes.InvalidKeys),
            ("keys=", ErrorCodes.InvalidKeys),
            ("keys", ErrorCodes.InvalidKeys),
            ("keys=true&keys=true", ErrorCodes.InvalidKeys),
            ("keys=true&after=", ErrorCodes.InvalidAfter),
        };
        foreach (var (query, error) in cases)
        {
            foreach (var node in new[] { leader, follower })
            {
                using var response = await cluster.Client(node).GetAsync("/v1/kv?prefix=b/&" + query + "&consistency=lease");
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{query} on node {node}: {(int)response.StatusCode} {body}");
                Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
                using var json = JsonDocument.Parse(body);
                Assert.Equal(error, json.RootElement.GetProperty("error").GetString());
                Assert.False(string.IsNullOrWhiteSpace(json.RootElement.GetProperty("detail").GetString()), query);
            }
        }

        using var after = await cluster.ClusterStatusAsync(leader);
        Assert.Equal(commitBefore, after.RootElement.GetProperty("commitIndex").GetUInt64());
        using var list = await Json(await cluster.Client(leader).GetAsync("/v1/kv?prefix="));
        Assert.Equal(["b/1", "b/2"], Keys(list));

        // The longest key is still a good after.
        using var longest = await Json(await cluster.Client(leader).GetAsync("/v1/kv?prefix=b/&after=" + new string('b', 16)));
        Assert.Empty(Keys(longest));
    }

    [Fact]
    public async Task The_client_walks_a_whole_listing_page_by_page()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var keys = Enumerable.Range(0, 250 - Unusual.Length).Select(i => $"page/{i:D3}").Concat(Unusual).ToList();
        await WriteAsync(cluster, leader, keys.Concat(["page", "pagf"]));
        var expected = keys.Order(StringComparer.Ordinal).ToList();
        var endpoints = Enumerable.Range(1, cluster.Size).ToDictionary(id => id, id => new Uri(cluster.HttpUrl(id)));
        using var client = new RaftKvClient(endpoints, new RaftKvClientOptions { RequestTimeout = TimeSpan.FromSeconds(10), RetryDeadline = TestCluster.WaitLimit });
        using var timeout = new CancellationTokenSource(TestCluster.WaitLimit * 2);

        var entries = new List<KvEntry>();
        await foreach (var entry in client.ListAllAsync("page/", pageSize: 100, cancellationToken: timeout.Token))
        {
            entries.Add(entry);
        }

        Assert.Equal(expected, entries.Select(e => e.Key));
        Assert.All(entries, e => Assert.Equal("v:" + e.Key, e.ValueAsString()));

        var keysOnly = new List<KvEntry>();
        await foreach (var entry in client.ListAllAsync("page/", pageSize: 7, keysOnly: true, cancellationToken: timeout.Token))
        {
            keysOnly.Add(entry);
        }

        Assert.Equal(entries.Select(e => (e.Key, e.Version, e.CreateIndex)), keysOnly.Select(e => (e.Key, e.Version, e.CreateIndex)));
        Assert.All(keysOnly, e => Assert.Empty(e.Value));

        var first = await client.ListAsync("page/", 100, after: null, keysOnly: false, timeout.Token);
        Assert.True(first.More);
        Assert.Equal(expected[99], first.Next);
        var second = await client.ListAsync("page/", 100, first.Next, keysOnly: false, timeout.Token);
        Assert.Equal(expected[100..200], second.Items.Select(e => e.Key));
        var last = await client.ListAsync("page/", 100, expected[^2], keysOnly: false, timeout.Token);
        Assert.Equal([expected[^1]], last.Items.Select(e => e.Key));
        Assert.False(last.More);
        Assert.Null(last.Next);
        Assert.Equal(expected[..3], (await client.ListAsync("page/", 3, after: "pag", keysOnly: true, timeout.Token)).Items.Select(e => e.Key));
        var refused = await Assert.ThrowsAsync<RaftKvException>(() => client.ListAsync("page/", 3, "a\u0001b", keysOnly: false, timeout.Token));
        Assert.Equal(ErrorCodes.InvalidAfter, refused.ErrorCode);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
    }
}
