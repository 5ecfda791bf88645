using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Raft.Core;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>Cluster status, planned leadership transfer, health and metrics.</summary>
internal static class ClusterApi
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet(ApiPaths.Cluster, StatusAsync).Needs(ApiRole.Read);
        routes.MapPost(ApiPaths.TransferLeader, TransferAsync).Needs(ApiRole.Admin);
        routes.MapGet(ApiPaths.ClusterEvents, (NodeLoop node) => Results.Json(node.History.Read(), ProtocolJsonContext.Wire.ClusterEventsResponse)).Needs(ApiRole.Read);
        routes.MapPost(ApiPaths.ClusterSnapshot, SnapshotAsync).Needs(ApiRole.Admin);
        routes.MapGet(ApiPaths.HealthLive, (NodeLoop node) => Health("live", node.View, StatusCodes.Status200OK)).Needs(ApiRole.Open);
        routes.MapGet(ApiPaths.HealthReady, Ready).Needs(ApiRole.Open);
        routes.MapGet(ApiPaths.Metrics, (NodeMetrics metrics) => Results.Text(metrics.Render(), "text/plain; version=0.0.4; charset=utf-8"))
            .Needs(routes.ServiceProvider.GetRequiredService<NodeOptions>().Auth.OpenMetrics ? ApiRole.Open : ApiRole.Read);
    }

    private static async Task<IResult> StatusAsync(HttpContext context, NodeLoop node, NodeOptions options)
    {
        try
        {
            var status = await node.GetStatusAsync(context.RequestAborted)
                .WaitAsync(TimeSpan.FromMilliseconds(options.RequestTimeoutMs), context.RequestAborted).ConfigureAwait(false);
            return status is null
                ? ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.ShuttingDown, "the node is stopping")
                : Results.Json(status, ProtocolJsonContext.Wire.ClusterStatusResponse);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the status request");
        }
    }

    // This node's snapshot, whichever its role: each node compacts its own log.
    private static async Task<IResult> SnapshotAsync(HttpContext context, NodeLoop node, NodeOptions options)
    {
        try
        {
            var answer = await node.RequestSnapshotAsync(context.RequestAborted)
                .WaitAsync(TimeSpan.FromMilliseconds(options.RequestTimeoutMs), context.RequestAborted).ConfigureAwait(false);
            if (answer is not var (status, index))
            {
                return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.ShuttingDown, "the node is stopping");
            }

            var name = status switch
            {
                SnapshotRequestStatus.Started => "started",
                SnapshotRequestStatus.Running => "running",
                _ => "up-to-date",
            };
            return Results.Json(new SnapshotTakenResponse(options.Id, name, index), ProtocolJsonContext.Wire.SnapshotTakenResponse,
                statusCode: status == SnapshotRequestStatus.UpToDate ? StatusCodes.Status200OK : StatusCodes.Status202Accepted);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the snapshot request");
        }
    }

    private static async Task<IResult> TransferAsync(HttpContext context, string? to, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        var target = 0;
        if (to is not null && (!int.TryParse(to, NumberStyles.None, CultureInfo.InvariantCulture, out target) || !node.View.Membership.IsVoter(target)))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidTarget, $"to must name a voter's id (got '{to}')");
        }

        return await routing.ServeAsync(context, node, null, 0, () => TransferHereAsync(context, target, node, options)).ConfigureAwait(false);
    }

    private static async Task<IResult> TransferHereAsync(HttpContext context, int target, NodeLoop node, NodeOptions options)
    {
        if (target == options.Id)
        {
            return ApiResults.Error(StatusCodes.Status409Conflict, ErrorCodes.AlreadyLeader, $"node {target} is already the leader");
        }

        TransferOutcome outcome;
        try
        {
            outcome = await node.TransferLeadershipAsync(target, context.RequestAborted).WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the transfer");
        }

        return outcome.Status switch
        {
            TransferStatus.Moved => Results.Json(new TransferResponse(outcome.From, outcome.Target, outcome.LeaderId, outcome.Detail), ProtocolJsonContext.Wire.TransferResponse),
            TransferStatus.NotLeader => new LeaderMoved(outcome.LeaderId),
            TransferStatus.ShuttingDown => ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.ShuttingDown, outcome.Detail),
            _ => ApiResults.Error(StatusCodes.Status409Conflict, ErrorCodes.TransferFailed, outcome.Detail),
        };
    }

    private static IResult Ready(NodeLoop node)
    {
        var view = node.View;
        if (view.DiskFull)
        {
            return ApiResults.DiskFull();
        }

        if (view.LeaderId == 0)
        {
            return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.NotReady, "no leader is known");
        }

        if (view.AppliedIndex < view.CommitIndex)
        {
            return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.NotReady, $"applied {view.AppliedIndex} of {view.CommitIndex} committed entries");
        }

        return Health("ready", view, StatusCodes.Status200OK);
    }

    private static IResult Health(string status, NodeView view, int code) =>
        Results.Json(new HealthResponse(status, view.LeaderId, view.CommitIndex, view.AppliedIndex), ProtocolJsonContext.Wire.HealthResponse, statusCode: code);
}
