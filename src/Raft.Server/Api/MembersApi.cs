using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Core;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>
/// The members of the replicated configuration: list them (any node, as it has them), add one, promote a learner,
/// remove one. Changes are leader-only requests on the one leader path, one at a time, answered once committed.
/// </summary>
internal static class MembersApi
{
    private const int BodyBytesMax = 4096;

    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet(ApiPaths.Members, (NodeLoop node, NodeOptions options) => Results.Json(Members(node.View.Membership, node.View.LeaderId, options), ProtocolJsonContext.Wire.MembersResponse)).Needs(ApiRole.Read);
        routes.MapPost(ApiPaths.Members, AddAsync).Needs(ApiRole.Admin);
        routes.MapPost(ApiPaths.Members + "/{id}/promote", PromoteAsync).Needs(ApiRole.Admin);
        routes.MapDelete(ApiPaths.Members + "/{id}", RemoveAsync).Needs(ApiRole.Admin);
    }

    private static MembersResponse Members(Membership membership, int leaderId, NodeOptions options, ulong index = 0, string? detail = null)
    {
        var members = new List<MemberResponse>(membership.Count);
        foreach (var id in membership.Ids.Order())
        {
            var addresses = options.AddressesOf(membership, id) ?? MemberAddresses.Unknown;
            members.Add(new MemberResponse(id, addresses.Peer, addresses.Http, membership.IsVoter(id), id == leaderId));
        }

        return new MembersResponse(leaderId, members, index, detail);
    }

    private static async Task<IResult> AddAsync(HttpContext context, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        var body = context.Request.ContentLength > BodyBytesMax ? null : await KvApi.ReadBodyAsync(context.Request, BodyBytesMax, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            return ApiResults.Error(StatusCodes.Status413PayloadTooLarge, ErrorCodes.BodyTooLarge, $"a member request has at most {BodyBytesMax} bytes");
        }

        if (MemberRequestReader.TryRead(body, out var problem) is not { } request)
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidMember, problem!);
        }

        return await routing.ServeAsync(context, node, body, 0, () => AddHereAsync(context, request, node, options)).ConfigureAwait(false);
    }

    private static async Task<IResult> AddHereAsync(HttpContext context, MemberRequest request, NodeLoop node, NodeOptions options)
    {
        var view = node.View;
        var membership = view.Membership;
        var addresses = new MemberAddresses(request.PeerAddress, request.HttpEndpoint);
        if (membership.Contains(request.Id))
        {
            // Asked again (a joining node retrying): the same member as it stands is no change.
            return options.AddressesOf(membership, request.Id) == addresses && (membership.IsLearner(request.Id) || !request.Learner)
                ? Results.Json(Members(membership, view.LeaderId, options, 0, $"node {request.Id} is already a member with these addresses"), ProtocolJsonContext.Wire.MembersResponse)
                : ApiResults.Error(StatusCodes.Status409Conflict, ErrorCodes.MemberExists, $"node {request.Id} is already a member, with other addresses or another role: remove it first");
        }

        foreach (var id in membership.Ids)
        {
            if (options.AddressesOf(membership, id) is { } other && (other.Peer == addresses.Peer || other.Http == addresses.Http))
            {
                return ApiResults.Error(StatusCodes.Status409Conflict, ErrorCodes.MemberExists, $"node {id} already uses {(other.Peer == addresses.Peer ? addresses.Peer : addresses.Http)}");
            }
        }

        if (request.SupportsVersion is { } supports && supports < node.ClusterVersion)
        {
            return ApiResults.Error(StatusCodes.Status409Conflict, ErrorCodes.VersionTooOld,
                $"node {request.Id} supports cluster versions up to {supports}, and the cluster runs version {node.ClusterVersion}: it could not apply the log; upgrade it first");
        }

        var kind = request.Learner ? MembershipChangeKind.AddLearner : MembershipChangeKind.AddVoter;
        return await ChangeAsync(context, node, options, new MembershipChange(kind, request.Id, addresses)).ConfigureAwait(false);
    }

    private static Task<IResult> PromoteAsync(HttpContext context, string id, NodeLoop node, NodeOptions options, LeaderRouting routing) =>
        ServeMemberAsync(context, id, node, routing, async (view, nodeId) => view.Membership.IsVoter(nodeId)
            ? Results.Json(Members(view.Membership, view.LeaderId, options, 0, $"node {nodeId} is already a voter"), ProtocolJsonContext.Wire.MembersResponse)
            : await ChangeAsync(context, node, options, new MembershipChange(MembershipChangeKind.PromoteLearner, nodeId)).ConfigureAwait(false));

    private static Task<IResult> RemoveAsync(HttpContext context, string id, NodeLoop node, NodeOptions options, LeaderRouting routing) =>
        ServeMemberAsync(context, id, node, routing, async (view, nodeId) =>
        {
            if (nodeId == options.Id && view.Membership.Voters.Length > 1)
            {
                // The leader removes itself only after handing over: the next leader then removes it, and writes
                // never wait on a leader that is leaving.
                var moved = await node.TransferLeadershipAsync(0, context.RequestAborted).WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
                return moved.Status switch
                {
                    TransferStatus.Moved or TransferStatus.NotLeader => new LeaderMoved(moved.LeaderId),
                    TransferStatus.ShuttingDown => ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.ShuttingDown, moved.Detail),
                    _ => ApiResults.Error(StatusCodes.Status409Conflict, ErrorCodes.TransferFailed, $"node {nodeId} leads and could not hand over before its removal: {moved.Detail}"),
                };
            }

            return await ChangeAsync(context, node, options, new MembershipChange(MembershipChangeKind.Remove, nodeId)).ConfigureAwait(false);
        });

    // A change to an existing member: the id checked, then served on the leader path, where the member must exist.
    private static async Task<IResult> ServeMemberAsync(HttpContext context, string id, NodeLoop node, LeaderRouting routing, Func<NodeView, int, Task<IResult>> serveHere)
    {
        if (ParseId(id, out var nodeId) is { } bad)
        {
            return bad;
        }

        return await routing.ServeAsync(context, node, null, 0, () =>
        {
            var view = node.View;
            return view.Membership.Contains(nodeId) ? serveHere(view, nodeId) : Task.FromResult(NotFound(nodeId));
        }).ConfigureAwait(false);
    }

    private static async Task<IResult> ChangeAsync(HttpContext context, NodeLoop node, NodeOptions options, MembershipChange change)
    {
        MembershipOutcome outcome;
        try
        {
            outcome = await node.ChangeMembershipAsync(change, context.RequestAborted).WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the membership change");
        }

        if (outcome.Status == MembershipStatus.Committed)
        {
            context.Response.Headers[ApiHeaders.Index] = outcome.Index.ToString(CultureInfo.InvariantCulture);
        }

        return outcome.Status switch
        {
            MembershipStatus.Committed => Results.Json(Members(outcome.Membership, outcome.LeaderId, options, outcome.Index, outcome.Detail), ProtocolJsonContext.Wire.MembersResponse),
            MembershipStatus.NotLeader => new LeaderMoved(outcome.LeaderId),
            MembershipStatus.ChangeInProgress => ApiResults.Error(StatusCodes.Status409Conflict, ErrorCodes.ChangeInProgress, outcome.Detail),
            MembershipStatus.NotCaughtUp => ApiResults.Error(StatusCodes.Status409Conflict, ErrorCodes.NotCaughtUp, outcome.Detail),
            MembershipStatus.Invalid => ApiResults.Error(StatusCodes.Status409Conflict, ErrorCodes.InvalidChange, outcome.Detail),
            MembershipStatus.LeadershipLost => ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.LeadershipLost, outcome.Detail),
            MembershipStatus.TimedOut => ApiResults.Error(StatusCodes.Status504GatewayTimeout, ErrorCodes.Timeout, outcome.Detail),
            MembershipStatus.Overloaded => ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.Overloaded, outcome.Detail),
            _ => ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.ShuttingDown, outcome.Detail),
        };
    }

    private static IResult? ParseId(string id, out int nodeId) =>
        int.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out nodeId) && nodeId > 0
            ? null
            : ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidMember, $"a member id is a positive integer (got '{id}')");

    private static IResult NotFound(int id) =>
        ApiResults.Error(StatusCodes.Status404NotFound, ErrorCodes.MemberNotFound, $"node {id} is not a member");
}
