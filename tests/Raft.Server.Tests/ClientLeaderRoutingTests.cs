using System.Collections.Concurrent;
using Raft.Client;

namespace Raft.Server.Tests;

/// <summary>
/// A client given only a follower's endpoint: it learns the leader from the answers and the members list and sends
/// to the leader itself, and follows leadership through a transfer and through the leader's loss.
/// </summary>
public sealed class ClientLeaderRoutingTests
{
    [Fact]
    public async Task A_client_given_only_a_follower_sends_to_the_leader_and_follows_it_through_a_transfer_and_a_loss()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        var third = 6 - leader - follower;
        var seen = new SeenPorts(new SocketsHttpHandler { AllowAutoRedirect = false });
        using var client = new RaftKvClient([new Uri(cluster.HttpUrl(follower))], new RaftKvClientOptions { Handler = seen, RetryDeadline = TestCluster.WaitLimit });

        await WriteAndReadAsync(client, "a");
        Assert.Equal(new Uri(cluster.HttpUrl(leader) + "/"), client.Leader);
        Assert.Equal([Port(cluster, leader)], await seen.PortsOfAsync(() => WriteAndReadAsync(client, "b")));

        // A transfer: the old leader forwards the next write and names the new one, which the client goes to.
        using (var transfer = await cluster.Client(leader).PostAsync($"/v1/cluster/transfer-leader?to={third}", null))
        {
            transfer.EnsureSuccessStatusCode();
        }

        Assert.Equal(third, await cluster.WaitForLeaderAsync());
        await WriteAndReadAsync(client, "c");
        Assert.Equal([Port(cluster, third)], await seen.PortsOfAsync(() => WriteAndReadAsync(client, "d")));

        // The leader lost: the client falls back to the endpoints it knows and finds the next leader.
        await cluster.StopNodeAsync(third);
        var next = await cluster.WaitForLeaderAsync(excluding: third);
        await WriteAndReadAsync(client, "e");
        Assert.Equal([Port(cluster, next)], await seen.PortsOfAsync(() => WriteAndReadAsync(client, "f")));
        Assert.Equal(new Uri(cluster.HttpUrl(next) + "/"), client.Leader);
    }

    private static async Task WriteAndReadAsync(RaftKvClient client, string key)
    {
        await client.PutAsync(key, key);
        Assert.Equal(key, (await client.GetAsync(key, Consistency.Linearizable))?.ValueAsString());
    }

    private static int Port(TestCluster cluster, int id) => new Uri(cluster.HttpUrl(id)).Port;

    /// <summary>Records the port of every request the client sends.</summary>
    private sealed class SeenPorts(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private readonly ConcurrentQueue<int> _ports = new();

        /// <summary>The distinct ports the requests of <paramref name="action"/> went to.</summary>
        public async Task<int[]> PortsOfAsync(Func<Task> action)
        {
            _ports.Clear();
            await action();
            return [.. _ports.Distinct()];
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            _ports.Enqueue(request.RequestUri!.Port);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
