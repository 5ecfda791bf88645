using Raft.Client;
using Xunit.Abstractions;

namespace Raft.Cluster.Tests;

/// <summary>The .NET client against real node processes in each follower mode, through a kill -9 of the leader.</summary>
public sealed class ClientFailoverTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("Forward")]
    [InlineData("Redirect")]
    [InlineData("Reject")]
    public async Task PutGetListDelete_ThroughALeaderKill_HideTheFailover(string followerMode)
    {
        await using var cluster = new ProcessCluster(3, $"--Node:FollowerMode={followerMode}");
        cluster.StartAll();
        await cluster.WaitForLeaderAsync();
        using var client = ClientSessionTests.Connect(cluster);

        var before = await client.PutAsync("fo/before", "1");
        var leader = await cluster.WaitForLeaderAsync();
        await cluster.KillAsync(leader);

        // No wait for the election: the client finds the new leader itself.
        var after = await client.PutAsync("fo/after", "2");
        Assert.True(after.Index > before.Index, $"the write after the kill got index {after.Index}, not above {before.Index}");
        Assert.NotEqual(cluster.Endpoint(leader), client.Leader);

        var read = await client.GetAsync("fo/before", Consistency.Linearizable);
        Assert.Equal("1", read?.ValueAsString());
        Assert.Equal(before.Version, read?.Version);
        Assert.Null(await client.GetAsync("fo/missing"));

        var listed = await client.ListAsync("fo/");
        Assert.Equal(["fo/after", "fo/before"], listed.Items.Select(i => i.Key));

        var deleted = await client.DeleteAsync("fo/before");
        Assert.True(deleted.Deleted);
        Assert.False((await client.DeleteAsync("fo/before")).Deleted);
        Assert.Null(await client.GetAsync("fo/before", Consistency.Lease));
        output.WriteLine($"{followerMode}: leader {leader} killed; the client moved to {client.Leader}");
    }
}
