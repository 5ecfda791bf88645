using System.Net;
using System.Text;
using System.Text.Json;
using Raft.KeyValue;

namespace Raft.Server.Tests;

/// <summary>Transactions over HTTP, and the cluster version that lets them be proposed.</summary>
public sealed class TxnApiTests
{
    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static async Task<(HttpStatusCode Status, JsonElement Json, string Text)> PostTxn(HttpClient client, string json, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/txn") { Content = JsonBody(json) };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), text);
    }

    private static async Task<ulong> PutAsync(HttpClient client, string key, string value)
    {
        using var response = await client.PutAsync($"/v1/kv/{key}", new ByteArrayContent(Encoding.UTF8.GetBytes(value)));
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("version").GetUInt64();
    }

    private static async Task<string?> GetAsync(HttpClient client, string key)
    {
        using var response = await client.GetAsync($"/v1/kv/{key}");
        return response.StatusCode == HttpStatusCode.NotFound ? null : await response.Content.ReadAsStringAsync();
    }

    /// <summary>Waits until every running node has applied cluster version <paramref name="version"/>.</summary>
    private static Task<bool> ClusterVersionEverywhereAsync(TestCluster cluster, int version, params int[] nodes) =>
        TestCluster.WaitUntilAsync(async () =>
        {
            foreach (var id in nodes)
            {
                using var status = await cluster.ClusterStatusAsync(id);
                if (status.RootElement.GetProperty("clusterVersion").GetInt32() != version)
                {
                    return false;
                }
            }

            return true;
        }, $"cluster version {version} on nodes {string.Join(", ", nodes)}");

    [Fact]
    public async Task A_transaction_applies_one_branch_as_one_entry_with_a_result_per_operation()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        await ClusterVersionEverywhereAsync(cluster, KvClusterVersion.Supported, 1, 2, 3);
        var client = cluster.Client(leader);
        var version = await PutAsync(client, "acct/a", "10");
        await PutAsync(client, "tmp/1", "x");
        await PutAsync(client, "tmp/2", "y");
        await PutAsync(client, "tmpfile", "z");

        var txn = $$"""
            {"compare":[{"key":"acct/a","version":{{version}}},{"key":"acct/b","exists":false}],
             "success":[{"op":"put","key":"acct/a","value":"{{B64("7")}}"},{"op":"put","key":"acct/b","value":"{{B64("3")}}"},
                        {"op":"get","key":"acct/b"},{"op":"deletePrefix","key":"tmp/"},{"op":"delete","key":"nothing"}],
             "failure":[{"op":"get","key":"acct/a"}]}
            """;
        var (status, body, text) = await PostTxn(cluster.Client(follower), txn);
        Assert.True(status == HttpStatusCode.OK, text);
        Assert.True(body.GetProperty("succeeded").GetBoolean());
        var index = body.GetProperty("index").GetUInt64();
        var results = body.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(5, results.Length);
        Assert.Equal(["put", "put", "get", "deletePrefix", "delete"], results.Select(r => r.GetProperty("op").GetString()));
        Assert.Equal(index, results[0].GetProperty("version").GetUInt64());
        Assert.Equal(version, results[0].GetProperty("createIndex").GetUInt64());
        Assert.Equal(index, results[1].GetProperty("createIndex").GetUInt64());
        Assert.True(results[2].GetProperty("found").GetBoolean());
        Assert.Equal(B64("3"), results[2].GetProperty("value").GetString());
        Assert.Equal(2UL, results[3].GetProperty("deleted").GetUInt64());
        Assert.Equal(0UL, results[4].GetProperty("deleted").GetUInt64());

        Assert.Equal("7", await GetAsync(client, "acct/a"));
        Assert.Equal("3", await GetAsync(client, "acct/b"));
        Assert.Null(await GetAsync(client, "tmp/1"));
        Assert.Null(await GetAsync(client, "tmp/2"));
        Assert.Equal("z", await GetAsync(client, "tmpfile"));

        // The same compares no longer hold: the failure branch runs, and nothing else changes.
        (status, body, text) = await PostTxn(client, txn);
        Assert.True(status == HttpStatusCode.OK, text);
        Assert.False(body.GetProperty("succeeded").GetBoolean());
        var failed = Assert.Single(body.GetProperty("results").EnumerateArray());
        Assert.Equal("get", failed.GetProperty("op").GetString());
        Assert.Equal(B64("7"), failed.GetProperty("value").GetString());
        Assert.Equal(index, failed.GetProperty("version").GetUInt64());
        Assert.Equal("3", await GetAsync(client, "acct/b"));
    }

    [Fact]
    public async Task A_transaction_retried_in_its_session_answers_as_the_first_time_and_applies_once()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        await ClusterVersionEverywhereAsync(cluster, KvClusterVersion.Supported, 1, 2, 3);
        var txn = $$"""{"success":[{"op":"put","key":"once","value":"{{B64("1")}}"},{"op":"get","key":"once"}]}""";
        (string, string)[] session = [("X-Client-Id", "txn-client"), ("X-Client-Seq", "1")];

        var (first, _, firstText) = await PostTxn(cluster.Client(leader), txn, session);
        Assert.True(first == HttpStatusCode.OK, firstText);
        var (again, _, againText) = await PostTxn(cluster.Client(leader % 3 + 1), txn, session);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(firstText, againText);

        using var read = await cluster.Client(leader).GetAsync("/v1/kv/once");
        var index = JsonDocument.Parse(firstText).RootElement.GetProperty("index").GetUInt64();
        Assert.Equal(index.ToString(System.Globalization.CultureInfo.InvariantCulture), read.Headers.GetValues("X-Raft-Version").Single());
    }

    [Theory]
    [InlineData("", 400, "invalid_txn")]
    [InlineData("[]", 400, "invalid_txn")]
    [InlineData("{", 400, "invalid_txn")]
    [InlineData("{}", 400, "invalid_txn")]
    [InlineData("""{"success":[{"op":"put","key":"k"}]}""", 400, "invalid_txn")]
    [InlineData("""{"success":[{"op":"get","key":"k","value":"eA=="}]}""", 400, "invalid_txn")]
    [InlineData("""{"success":[{"op":"frob","key":"k"}]}""", 400, "invalid_txn")]
    [InlineData("""{"success":[{"op":"put","key":"k","value":"not base64!"}]}""", 400, "invalid_txn")]
    [InlineData("""{"success":[null]}""", 400, "invalid_txn")]
    [InlineData("""{"compare":[{"key":"k"}],"success":[{"op":"get","key":"k"}]}""", 400, "invalid_txn")]
    [InlineData("""{"compare":[{"key":"k","version":1,"exists":true}]}""", 400, "invalid_txn")]
    [InlineData("""{"compare":[{"key":"k","op":"<","exists":true}]}""", 400, "invalid_txn")]
    [InlineData("""{"compare":[{"key":"k","op":"~","version":1}]}""", 400, "invalid_txn")]
    [InlineData("""{"compare":[{"key":"k","version":-1}]}""", 400, "invalid_txn")]
    [InlineData("""{"success":[{"op":"get","key":""}]}""", 400, "invalid_key")]
    [InlineData("""{"success":[{"op":"get"}]}""", 400, "invalid_key")]
    [InlineData("""{"success":[{"op":"put","key":"a/../b","value":"eA=="}]}""", 400, "invalid_key")]
    [InlineData("""{"success":[{"op":"deletePrefix","key":""}]}""", 400, "invalid_key")]
    [InlineData("""{"success":[{"op":"get","key":"\u0001"}]}""", 400, "invalid_key")]
    [InlineData("""{"success":[{"op":"get","key":"a"},{"op":"get","key":"b"},{"op":"get","key":"c"},{"op":"get","key":"d"},{"op":"get","key":"e"}]}""", 413, "txn_too_large")]
    public async Task A_bad_transaction_is_answered_with_its_problem_and_changes_nothing(string json, int code, string error)
    {
        await using var cluster = await TestCluster.StartAsync(extraArgs: _ => ["--Node:MaxTxnOps=4"]);
        var leader = await cluster.WaitForLeaderAsync();
        await ClusterVersionEverywhereAsync(cluster, KvClusterVersion.Supported, 1, 2, 3);
        var before = (await cluster.ClusterStatusAsync(leader)).RootElement.GetProperty("commitIndex").GetUInt64();

        var (status, body, text) = await PostTxn(cluster.Client(leader), json);
        Assert.True((int)status == code, text);
        Assert.Equal(error, body.GetProperty("error").GetString());
        Assert.Equal(before, (await cluster.ClusterStatusAsync(leader)).RootElement.GetProperty("commitIndex").GetUInt64());
    }

    [Fact]
    public async Task Transactions_wait_for_every_voter_to_support_them_and_the_version_never_goes_back()
    {
        // Node 3 agrees to version 1 only, as a server that predates transactions would.
        await using var cluster = await TestCluster.StartAsync(extraArgs: id => id == 3 ? ["--Node:ClusterVersionMax=1"] : []);
        var leader = await cluster.WaitForLeaderAsync();
        using (var status = await cluster.ClusterStatusAsync(3))
        {
            Assert.Equal(1, status.RootElement.GetProperty("supportsVersion").GetInt32());
        }

        using (var status = await cluster.ClusterStatusAsync(leader == 3 ? 1 : leader))
        {
            Assert.Equal(KvClusterVersion.Supported, status.RootElement.GetProperty("supportsVersion").GetInt32());
        }

        var txn = $$"""{"success":[{"op":"put","key":"v","value":"{{B64("x")}}"}]}""";
        var (refused, body, text) = await PostTxn(cluster.Client(leader), txn);
        Assert.True(refused == HttpStatusCode.Conflict, text);
        Assert.Equal("cluster_version_too_low", body.GetProperty("error").GetString());
        using (var status = await cluster.ClusterStatusAsync(leader))
        {
            Assert.Equal(1, status.RootElement.GetProperty("clusterVersion").GetInt32());
        }

        // Node 3 is upgraded (started again without the pin): the leader raises the version, and transactions go through.
        await cluster.StopNodeAsync(3);
        await cluster.StartNodeAsync(3, ["--Node:ClusterVersionMax=2"]);
        await cluster.WaitForLeaderAsync();
        Assert.True(await ClusterVersionEverywhereAsync(cluster, 2, 1, 2, 3));
        leader = await cluster.WaitForLeaderAsync();
        var (applied, _, appliedText) = await PostTxn(cluster.Client(leader), txn);
        Assert.True(applied == HttpStatusCode.OK, appliedText);
        var metrics = await cluster.Client(leader).GetStringAsync("/metrics");
        Assert.Contains("\nraft_cluster_version 2\n", metrics, StringComparison.Ordinal);

        // A node that supports less than the cluster runs is not let in, and pinning a node back lowers nothing.
        using var join = await cluster.Client(leader).PostAsync("/v1/cluster/members",
            JsonBody("""{"id":9,"peerAddress":"127.0.0.1:1","httpEndpoint":"http://127.0.0.1:1","supportsVersion":1}"""));
        Assert.Equal(HttpStatusCode.Conflict, join.StatusCode);
        Assert.Contains("version_too_old", await join.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await cluster.StopNodeAsync(3);
        await cluster.StartNodeAsync(3, ["--Node:ClusterVersionMax=1"]);
        await cluster.WaitForLeaderAsync();
        Assert.True(await ClusterVersionEverywhereAsync(cluster, 2, 1, 2, 3));
    }
}
