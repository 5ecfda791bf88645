using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Core;
using Raft.Node;

namespace Raft.Server.Api;

/// <summary>Cluster status, planned leadership transfer, health and metrics.</summary>
internal static class ClusterApi
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/v1/cluster", StatusAsync);
        routes.MapPost("/v1/cluster/transfer-leader", TransferAsync);
        routes.MapGet("/health/live", (NodeLoop node) => Health("live", node.View, StatusCodes.Status200OK));
        routes.MapGet("/health/ready", Ready);
        routes.MapGet("/metrics", (NodeMetrics metrics) => Results.Text(metrics.Render(), "text/plain; version=0.0.4; charset=utf-8"));
    }

    private static async Task<IResult> StatusAsync(HttpContext context, NodeLoop node, NodeOptions options)
    {
        try
        {
            var status = await node.GetStatusAsync(context.RequestAborted)
                .WaitAsync(TimeSpan.FromMilliseconds(options.RequestTimeoutMs), context.RequestAborted).ConfigureAwait(false);
            return status is null
                ? ApiResults.Error(StatusCodes.Status503ServiceUnavailable, "shutting_down", "the node is stopping")
                : Results.Json(status, ApiJsonContext.Default.ClusterStatus);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the status request");
        }
    }

    private static async Task<IResult> TransferAsync(HttpContext context, string? to, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        var target = 0;
        if (to is not null && (!int.TryParse(to, NumberStyles.None, CultureInfo.InvariantCulture, out target) || !options.Peers.ContainsKey(target)))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, "invalid_target", $"to must name a member's id (got '{to}')");
        }

        if (await node.LeaderViewAsync(options, context).ConfigureAwait(false) is { Role: not RaftRole.Leader } view)
        {
            return await routing.RouteAsync(context, view.LeaderId, null).ConfigureAwait(false);
        }

        if (target == options.Id)
        {
            return ApiResults.Error(StatusCodes.Status409Conflict, "already_leader", $"node {target} is already the leader");
        }

        TransferOutcome outcome;
        try
        {
            outcome = await node.TransferLeadershipAsync(target, context.RequestAborted)
                .WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the transfer");
        }

        return outcome.Status switch
        {
            TransferStatus.Moved => Results.Json(new TransferResponse(outcome.From, outcome.Target, outcome.LeaderId, outcome.Detail), ApiJsonContext.Default.TransferResponse),
            TransferStatus.NotLeader => await routing.RouteAsync(context, outcome.LeaderId, null).ConfigureAwait(false),
            TransferStatus.ShuttingDown => ApiResults.Error(StatusCodes.Status503ServiceUnavailable, "shutting_down", outcome.Detail),
            _ => ApiResults.Error(StatusCodes.Status409Conflict, "transfer_failed", outcome.Detail),
        };
    }

    private static IResult Ready(NodeLoop node)
    {
        var view = node.View;
        if (view.LeaderId == 0)
        {
            return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, "not_ready", "no leader is known");
        }

        if (view.AppliedIndex < view.CommitIndex)
        {
            return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, "not_ready", $"applied {view.AppliedIndex} of {view.CommitIndex} committed entries");
        }

        return Health("ready", view, StatusCodes.Status200OK);
    }

    private static IResult Health(string status, NodeView view, int code) =>
        Results.Json(new HealthResponse(status, view.LeaderId, view.CommitIndex, view.AppliedIndex), ApiJsonContext.Default.HealthResponse, statusCode: code);
}
