using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Raft.Core;

namespace Raft.Server.Api;

/// <summary>
/// What a node does with a request only the leader can serve: forward it, redirect the client, or refuse it,
/// as <see cref="NodeOptions.FollowerMode"/> says.
/// </summary>
internal sealed class LeaderRouting(NodeOptions options, HttpClient client)
{
    /// <summary>Marks a forwarded request, so a node that is not the leader either never forwards it again.</summary>
    public const string ForwardedHeader = "X-Raft-Forwarded-By";

    public const string LeaderHeader = "X-Raft-Leader";

    // Request headers that change what a write does: the leader must see them as the client sent them.
    private static readonly string[] ForwardedRequestHeaders = ["If-Match", ApiHeaders.ClientId, ApiHeaders.ClientSeq];

    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Server", "Date",
    };

    /// <summary>
    /// Answers a request this node cannot serve because <paramref name="leaderId"/> (0: none known) leads.
    /// <paramref name="body"/> is the request body already read, for forwarding; <paramref name="extraWaitMs"/> is how
    /// much longer than a plain write the leader may legitimately take (a lock acquire's <c>waitMs</c>).
    /// </summary>
    /// <summary>
    /// Serves a request that only the leader may: with <paramref name="serveHere"/> when this node leads, otherwise as
    /// <see cref="NodeOptions.FollowerMode"/> says. Waits for an election to name a leader (Node:LeaderWaitMs). A forward
    /// that finds the leader's port closed (it crashed; nothing was sent) waits for the next leader and goes there,
    /// or is served here if that is this node, so a write sent during a failover is not refused for it.
    /// </summary>
    public async Task<IResult> ServeAsync(HttpContext context, NodeLoop node, byte[]? body, Func<Task<IResult>> serveHere)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(serveHere);
        var view = await node.LeaderViewAsync(options, context).ConfigureAwait(false);
        view = await node.AudibleLeaderViewAsync(view, options, context).ConfigureAwait(false);
        if (view.Role == RaftRole.Leader)
        {
            return await serveHere().ConfigureAwait(false);
        }

        var (result, refused) = await RouteCoreAsync(context, view.LeaderId, body, 0).ConfigureAwait(false);
        if (!refused)
        {
            return result;
        }

        var next = await node.LeaderOtherThanAsync(view.LeaderId, TimeSpan.FromMilliseconds(options.LeaderWaitMs), context.RequestAborted).ConfigureAwait(false);
        if (next.LeaderId == 0 || next.LeaderId == view.LeaderId)
        {
            return result;
        }

        // The failed attempt named the dead leader and asked for a retry; the answer comes from the next one.
        context.Response.Headers.Remove(LeaderHeader);
        context.Response.Headers.RetryAfter = default;

        return next.Role == RaftRole.Leader
            ? await serveHere().ConfigureAwait(false)
            : (await RouteCoreAsync(context, next.LeaderId, body, 0).ConfigureAwait(false)).Result;
    }

    public async Task<IResult> RouteAsync(HttpContext context, int leaderId, byte[]? body, int extraWaitMs = 0) =>
        (await RouteCoreAsync(context, leaderId, body, extraWaitMs).ConfigureAwait(false)).Result;

    // Refused: the forward could not connect to the leader, so nothing reached it.
    private async Task<(IResult Result, bool Refused)> RouteCoreAsync(HttpContext context, int leaderId, byte[]? body, int extraWaitMs)
    {
        if (leaderId == 0 || leaderId == options.Id || !options.HttpEndpoints.TryGetValue(leaderId, out var leaderUrl))
        {
            return (NoLeader(context), false);
        }

        var target = leaderUrl.TrimEnd('/') + context.Request.Path.ToUriComponent() + context.Request.QueryString.ToUriComponent();
        context.Response.Headers[LeaderHeader] = leaderId.ToString(CultureInfo.InvariantCulture);
        var mode = options.FollowerMode;
        if (mode == FollowerMode.Forward && context.Request.Headers.ContainsKey(ForwardedHeader))
        {
            // The node that forwarded this believed we lead; we do not. Refuse rather than bounce it around.
            mode = FollowerMode.Reject;
        }

        switch (mode)
        {
            case FollowerMode.Redirect:
                context.Response.Headers.Location = target;
                return (Results.StatusCode(StatusCodes.Status307TemporaryRedirect), false);
            case FollowerMode.Reject:
                return (ApiResults.Error(StatusCodes.Status503ServiceUnavailable, "not_leader", $"node {leaderId} is the leader: {leaderUrl}"), false);
            default:
                return await ForwardAsync(context, target, body, extraWaitMs).ConfigureAwait(false);
        }
    }

    public static IResult NoLeader(HttpContext context)
    {
        context.Response.Headers.RetryAfter = "1";
        return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, "no_leader", "no leader is known: an election is under way; retry shortly");
    }

    private async Task<(IResult Result, bool Refused)> ForwardAsync(HttpContext context, string target, byte[]? body, int extraWaitMs)
    {
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), target);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            if (context.Request.ContentType is { } contentType)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }
        }

        foreach (var name in ForwardedRequestHeaders)
        {
            if (context.Request.Headers.TryGetValue(name, out var values))
            {
                request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        request.Headers.TryAddWithoutValidation(ForwardedHeader, options.Id.ToString(CultureInfo.InvariantCulture));
        HttpResponseMessage response;
        try
        {
            // Longer than the leader's own wait, so that its 504 (or its answer) normally arrives first.
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            deadline.CancelAfter(options.RequestTimeoutMs + 1000 + extraWaitMs);
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            context.Response.Headers.RetryAfter = "1";
            return (ApiResults.Error(StatusCodes.Status502BadGateway, "leader_unreachable", $"forwarding to the leader failed: {ex.Message}"),
                ex.HttpRequestError == HttpRequestError.ConnectionError);
        }
        catch (TaskCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            return (ApiResults.Timeout("the forwarded request"), false);
        }

        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var header in response.Headers.Concat(response.Content.Headers))
            {
                if (!HopByHop.Contains(header.Key))
                {
                    context.Response.Headers[header.Key] = new StringValues(header.Value.ToArray());
                }
            }

            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }

        return (Results.Empty, false);
    }
}
