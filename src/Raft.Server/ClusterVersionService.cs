using System.Globalization;
using System.Net.Http.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server;

/// <summary>
/// On the leader, raises the cluster version (<see cref="KvClusterVersion"/>) to the lowest every voter agrees to, as
/// its <c>/v1/cluster</c> says (<c>supportsVersion</c>; a server without the field is one of version 1), once that is
/// above the version in force: a <see cref="KvCommandType.SetClusterVersion"/> entry, committed like any write. A voter
/// that does not answer holds the version where it is. The version never goes down.
/// </summary>
internal sealed class ClusterVersionService(NodeLoop node, NodeOptions options, NodeSecurity security, ApiTokens tokens, ILogger<ClusterVersionService> logger) : BackgroundService
{
    // A new leader raises the version within moments; one held back by a voter asks again now and then.
    private static readonly TimeSpan CheckInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan HeldInterval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var client = new HttpClient(security.CreateHandler()) { Timeout = TimeSpan.FromMilliseconds(options.RequestTimeoutMs) };
        tokens.Authorize(client);
        string? held = null;
        // The version only grows and this node's bound is fixed: once there, there is nothing left to do.
        while (!stoppingToken.IsCancellationRequested && node.ClusterVersion < options.ClusterVersionMax)
        {
            if (node.View.Role == RaftRole.Leader)
            {
                var (agreed, holder) = await AgreedVersionAsync(client, stoppingToken).ConfigureAwait(false);
                var current = node.ClusterVersion;
                if (agreed > current)
                {
                    var outcome = await node.ProposeAsync(KvCommandCodec.EncodeSetClusterVersion(agreed), stoppingToken).ConfigureAwait(false);
                    if (outcome.Status == WriteStatus.Applied)
                    {
                        NodeLog.ClusterVersion(logger, options.Id, string.Create(CultureInfo.InvariantCulture,
                            $"raised from {current} to {node.ClusterVersion} at index {outcome.Result.Index}: every voter supports it"));
                    }
                }
                else if (holder != held && holder is not null)
                {
                    NodeLog.ClusterVersion(logger, options.Id, string.Create(CultureInfo.InvariantCulture, $"stays at {current}: {holder}"));
                }

                held = holder;
            }

            await Task.Delay(held is null ? CheckInterval : HeldInterval, stoppingToken).ConfigureAwait(false);
        }
    }

    // The lowest version the voters agree to, and what holds it below this node's own (null when nothing does); 0 when
    // a voter could not be asked.
    private async Task<(int Agreed, string? Holder)> AgreedVersionAsync(HttpClient client, CancellationToken cancellationToken)
    {
        var membership = node.View.Membership;
        var agreed = options.ClusterVersionMax;
        string? holder = null;
        foreach (var id in membership.Voters.ToArray())
        {
            if (id == options.Id)
            {
                continue;
            }

            if (options.HttpEndpointOf(membership, id) is not { } endpoint)
            {
                return (0, $"node {id}'s HTTP endpoint is not known");
            }

            try
            {
                var status = await client.GetFromJsonAsync(endpoint.TrimEnd('/') + ApiPaths.Cluster, ProtocolJsonContext.Wire.ClusterStatusResponse, cancellationToken).ConfigureAwait(false);
                var supports = status is null ? 0 : Math.Max(status.SupportsVersion, KvClusterVersion.Initial);
                if (supports < agreed)
                {
                    (agreed, holder) = (supports, $"node {id} agrees to cluster versions up to {supports}");
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
            {
                return (0, $"node {id} did not say which versions it supports ({ex.Message})");
            }
        }

        return (agreed, holder);
    }
}
