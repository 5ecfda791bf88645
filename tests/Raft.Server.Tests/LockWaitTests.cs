using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Raft.Server.Tests;

/// <summary>
/// A waiting acquire (<c>?waitMs=</c>) sleeps on the leader until the lock changes or its holder's lease ends,
/// then tries once more: the log grows by its attempts, not by its wait.
/// </summary>
public sealed class LockWaitTests
{
    private static StringContent LockBody(string owner, long ttlMs) =>
        new($"{{\"owner\":\"{owner}\",\"ttlMs\":{ttlMs.ToString(CultureInfo.InvariantCulture)}}}", Encoding.UTF8, "application/json");

    private static async Task<ulong> AppliedIndexAsync(TestCluster cluster, int node) => (await PositionAsync(cluster, node)).Applied;

    // Where the log stands, and in which term. A busy machine may hold an election during a wait: the new leader
    // appends an empty entry of its own, and the waiter tries once more when leadership moves, so each term that
    // passed allows two entries more. Polling every 100 ms would still add more than ten in a 1.5 s wait.
    private static async Task<(ulong Applied, ulong Term)> PositionAsync(TestCluster cluster, int node)
    {
        using var status = await cluster.ClusterStatusAsync(node);
        return (status.RootElement.GetProperty("appliedIndex").GetUInt64(), status.RootElement.GetProperty("term").GetUInt64());
    }

    private static long EntriesAdded((ulong Applied, ulong Term) before, (ulong Applied, ulong Term) after) =>
        (long)(after.Applied - before.Applied) - (2 * (long)(after.Term - before.Term));

    private static async Task<(HttpStatusCode Status, JsonDocument Json)> SendAsync(Task<HttpResponseMessage> sending)
    {
        using var response = await sending;
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task A_waiting_acquire_that_is_never_granted_adds_one_entry_for_its_whole_wait()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        var (held, _) = await SendAsync(client.PostAsync("/v1/locks/busy", LockBody("a", 60_000)));
        Assert.Equal(HttpStatusCode.OK, held);

        var before = await PositionAsync(cluster, leader);
        var (refused, body) = await SendAsync(client.PostAsync("/v1/locks/busy?waitMs=1500", LockBody("b", 60_000)));
        var after = await PositionAsync(cluster, leader);

        Assert.Equal(HttpStatusCode.Conflict, refused);
        Assert.Equal("a", body.RootElement.GetProperty("holder").GetString());
        Assert.True(EntriesAdded(before, after) <= 2, $"a 1.5 s wait added {EntriesAdded(before, after)} entries");
    }

    [Fact]
    public async Task A_waiting_acquire_is_granted_promptly_after_a_release_without_polling_the_log()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        var (held, grant) = await SendAsync(cluster.Client(leader).PostAsync("/v1/locks/handed", LockBody("a", 60_000)));
        Assert.Equal(HttpStatusCode.OK, held);

        var before = await PositionAsync(cluster, leader);
        var waiting = SendAsync(cluster.Client(follower).PostAsync("/v1/locks/handed?waitMs=10000", LockBody("b", 60_000)));

        // The waiter's first attempt has been refused once its entry is applied; then a releases.
        await TestCluster.WaitUntilAsync(async () => await AppliedIndexAsync(cluster, leader) > before.Applied, "the waiting acquire's first attempt");
        using (var release = await cluster.Client(leader).SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/v1/locks/handed")
        {
            Content = new StringContent("{\"owner\":\"a\"}", Encoding.UTF8, "application/json"),
        }))
        {
            Assert.Equal(HttpStatusCode.OK, release.StatusCode);
        }

        var released = Stopwatch.StartNew();
        var (granted, body) = await waiting.WaitAsync(TestCluster.WaitLimit);
        var grantedAfter = released.Elapsed;
        var after = await PositionAsync(cluster, leader);

        Assert.Equal(HttpStatusCode.OK, granted);
        Assert.Equal("b", body.RootElement.GetProperty("owner").GetString());
        Assert.True(body.RootElement.GetProperty("fencingToken").GetUInt64() > grant.RootElement.GetProperty("fencingToken").GetUInt64());

        // Woken by the release, not by the end of its 10 s wait.
        Assert.True(grantedAfter < TimeSpan.FromSeconds(5), $"granted {grantedAfter.TotalMilliseconds:F0} ms after the release");

        // The release, and the waiter's two attempts: refused, then granted.
        Assert.True(EntriesAdded(before, after) <= 3, $"the wait added {EntriesAdded(before, after)} entries");
    }

    [Fact]
    public async Task A_waiting_acquire_is_granted_when_the_holders_lease_ends_by_the_leaders_clock()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var (held, grant) = await SendAsync(cluster.Client(leader).PostAsync("/v1/locks/lapsing", LockBody("a", 1_500)));
        Assert.Equal(HttpStatusCode.OK, held);
        var lapsesAtMs = grant.RootElement.GetProperty("expiresAtMs").GetInt64();

        var before = await PositionAsync(cluster, leader);
        var (granted, body) = await SendAsync(cluster.Client(leader).PostAsync("/v1/locks/lapsing?waitMs=10000", LockBody("b", 60_000)));
        var after = await PositionAsync(cluster, leader);

        Assert.Equal(HttpStatusCode.OK, granted);
        var grantedAtMs = body.RootElement.GetProperty("expiresAtMs").GetInt64() - 60_000;
        Assert.True(grantedAtMs >= lapsesAtMs, $"granted at {grantedAtMs}, before the lease ended at {lapsesAtMs}");

        // Woken by the lease's end, not by the end of its 10 s wait.
        Assert.True(grantedAtMs - lapsesAtMs < 5_000, $"granted {grantedAtMs - lapsesAtMs} ms after the lease ended");
        Assert.True(EntriesAdded(before, after) <= 2, $"a wait of about 1.5 s added {EntriesAdded(before, after)} entries");
    }
}
