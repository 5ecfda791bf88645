using Raft.Client;
using Raft.Cluster.Tests;

namespace Raft.Cli.Tests;

/// <summary>One real three-node cluster on free ports for the tests of a class; its processes are killed by id when done.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    internal ProcessCluster Cluster { get; } = new(3);

    /// <summary>Every node, as --endpoints takes them.</summary>
    public string Endpoints => string.Join(',', Enumerable.Range(1, 3).Select(id => Cluster.Endpoint(id).ToString().TrimEnd('/')));

    public RaftKvClient NewClient() => new(Enumerable.Range(1, 3).Select(Cluster.Endpoint));

    public async Task InitializeAsync()
    {
        Cluster.StartAll();
        await Cluster.WaitForLeaderAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
