using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Raft.Server.Tests;

/// <summary>
/// What the dashboard stands on, without a browser: its files served without a token, CORS for the members' origins
/// only, the events history with its causes, and a snapshot taken on request.
/// </summary>
public sealed class DashboardApiTests
{
    private const string AdminToken = "dashboard-admin-0123456789";

    private static async Task<TestCluster> StartAsync()
    {
        var cluster = await TestCluster.StartAsync(3, _ => ["--Node:Auth:Tokens:0:Name=ops", $"--Node:Auth:Tokens:0:Token={AdminToken}", "--Node:Auth:Tokens:0:Roles:0=admin"]);
        for (var id = 1; id <= 3; id++)
        {
            cluster.Client(id).DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        }

        return cluster;
    }

    private static async Task<JsonDocument> EventsAsync(TestCluster cluster, int id)
    {
        using var response = await cluster.Client(id).GetAsync("/v1/cluster/events");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    private static string? Cause(JsonDocument events, int leader) =>
        events.RootElement.GetProperty("leaderChanges").EnumerateArray()
            .LastOrDefault(c => c.GetProperty("leaderId").GetInt32() == leader) is { ValueKind: JsonValueKind.Object } change
            ? change.GetProperty("cause").GetString()
            : null;

    [Fact]
    public async Task The_page_needs_no_token_and_only_members_origins_may_call_the_api_from_a_browser()
    {
        await using var cluster = await StartAsync();
        await cluster.WaitForLeaderAsync();
        using var anonymous = new HttpClient { BaseAddress = new Uri(cluster.HttpUrl(1)) };

        using (var page = await anonymous.GetAsync("/ui"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            Assert.Contains("/ui/dashboard.js", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Contains("default-src 'self'", string.Join(",", page.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        }

        using (var script = await anonymous.GetAsync("/ui/dashboard.js"))
        {
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        }

        using (var missing = await anonymous.GetAsync("/ui/secrets.json"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Contains("\"error\":\"no_route\"", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var data = await anonymous.GetAsync("/v1/cluster/events"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, data.StatusCode);
        }

        // A preflight from node 2's origin, asking to send the token, is answered without one.
        var member = new Uri(cluster.HttpUrl(2)).GetLeftPart(UriPartial.Authority);
        using (var preflight = await anonymous.SendAsync(Preflight(member)))
        {
            Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
            Assert.Equal(member, string.Join(",", preflight.Headers.GetValues("Access-Control-Allow-Origin")));
            Assert.Contains("authorization", string.Join(",", preflight.Headers.GetValues("Access-Control-Allow-Headers")), StringComparison.OrdinalIgnoreCase);
        }

        using (var foreign = await anonymous.SendAsync(Preflight("http://127.0.0.1:1")))
        {
            Assert.False(foreign.Headers.Contains("Access-Control-Allow-Origin"));
        }

        using var read = new HttpRequestMessage(HttpMethod.Get, "/v1/cluster/events");
        read.Headers.Add("Origin", member);
        read.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        using var answer = await anonymous.SendAsync(read);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal(member, string.Join(",", answer.Headers.GetValues("Access-Control-Allow-Origin")));
    }

    [Fact]
    public async Task Events_name_the_cause_of_each_leader_change_and_the_elections_won()
    {
        await using var cluster = await StartAsync();
        var leader = await cluster.WaitForLeaderAsync();

        using (var first = await EventsAsync(cluster, leader))
        {
            Assert.Equal(leader, first.RootElement.GetProperty("nodeId").GetInt32());
            Assert.Equal("election-timeout", Cause(first, leader));
            Assert.Contains(first.RootElement.GetProperty("elections").EnumerateArray(), e =>
                e.GetProperty("candidate").GetInt32() == leader && e.GetProperty("outcome").GetString() == "won" && e.GetProperty("durationMs").GetDouble() >= 0);
            Assert.Equal(2, first.RootElement.GetProperty("contacts").GetArrayLength());
        }

        var target = leader % 3 + 1;
        using (var transfer = await cluster.Client(leader).PostAsync($"/v1/cluster/transfer-leader?to={target}", null))
        {
            Assert.Equal(HttpStatusCode.OK, transfer.StatusCode);
        }

        Assert.Equal(target, await cluster.WaitForLeaderAsync());
        for (var id = 1; id <= 3; id++)
        {
            // Every node read the cause off the new leader's vote requests.
            var observer = id;
            await TestCluster.WaitUntilAsync(async () =>
            {
                using var events = await EventsAsync(cluster, observer);
                return Cause(events, target) == "transfer";
            }, $"node {observer} to record the transfer to node {target}");
        }
    }

    [Fact]
    public async Task A_snapshot_is_taken_on_request_and_then_is_up_to_date()
    {
        await using var cluster = await StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        using (var put = await cluster.Client(leader).PutAsync("/v1/kv/dashboard", new ByteArrayContent(Encoding.UTF8.GetBytes("v"))))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var anonymous = new HttpClient { BaseAddress = new Uri(cluster.HttpUrl(follower)) })
        using (var refused = await anonymous.PostAsync("/v1/cluster/snapshot", null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        await TestCluster.WaitUntilAsync(async () =>
        {
            using var status = await cluster.ClusterStatusAsync(follower);
            return status.RootElement.GetProperty("appliedIndex").GetUInt64() >= 2;
        }, "the follower to apply the write");

        using (var started = await cluster.Client(follower).PostAsync("/v1/cluster/snapshot", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
            using var body = JsonDocument.Parse(await started.Content.ReadAsStringAsync());
            Assert.Equal(follower, body.RootElement.GetProperty("nodeId").GetInt32());
            Assert.Equal("started", body.RootElement.GetProperty("status").GetString());
            Assert.True(body.RootElement.GetProperty("index").GetUInt64() >= 2);
        }

        await TestCluster.WaitUntilAsync(async () =>
        {
            using var again = await cluster.Client(follower).PostAsync("/v1/cluster/snapshot", null);
            using var body = JsonDocument.Parse(await again.Content.ReadAsStringAsync());
            return again.StatusCode == HttpStatusCode.OK && body.RootElement.GetProperty("status").GetString() == "up-to-date";
        }, "the requested snapshot to be taken");
    }

    [Fact]
    public void Contact_with_a_known_peer_is_recorded_without_allocating()
    {
        // Every message a node receives passes through here, on the node's thread.
        var history = new NodeHistory(1, TimeProvider.System);
        var heartbeat = new Raft.Core.Message { Type = Raft.Core.MessageType.HeartbeatResponse, From = 2, To = 1, Term = 1 };
        history.Received(heartbeat);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            history.Received(heartbeat);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        var contact = Assert.Single(history.Read().Contacts);
        Assert.Equal(2, contact.Id);
        Assert.InRange(contact.SilentMs ?? -1, 0, 60_000);
    }

    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/v1/cluster/events");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "GET");
        request.Headers.Add("Access-Control-Request-Headers", "authorization");
        return request;
    }
}
