using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Raft.Core;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>
/// The one path of every request only the leader may serve (writes, lock commands, lease reads, transfers): wait
/// for a leader to be known and audible, serve here if this node leads, otherwise forward, redirect or refuse as
/// <see cref="NodeOptions.FollowerMode"/> says, and try again where nothing was done.
/// </summary>
internal sealed class LeaderRouting(NodeOptions options, HttpClient client)
{
    // Rounds of wait-and-route on this node: a leader that stepped down before proposing, a forward refused at
    // connect. Each round either serves, forwards once, or learns that the leader changed.
    private const int RoundsMax = 3;

    // Request headers that change what a write does, and the caller's token, which the leader checks again: the
    // leader must see them as the client sent them, so it authorizes the caller, never the forwarding node.
    private static readonly string[] ForwardedRequestHeaders = [ApiHeaders.IfMatch, ApiHeaders.ClientId, ApiHeaders.ClientSeq, ApiHeaders.Authorization];

    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Server", "Date",
    };

    /// <summary>
    /// Serves a request only the leader may serve. Waits for an election to name a leader and for a quiet leader to
    /// be heard again or replaced (each up to Node:LeaderWaitMs). On the leader runs <paramref name="serveHere"/>;
    /// if that finds leadership gone before anything was proposed (<see cref="LeaderMoved"/>), waits for the next
    /// leader and goes there. Elsewhere forwards (<paramref name="body"/> is the request body already read), and a
    /// forward that found the leader's port closed (it crashed; nothing was sent) goes to the next leader, or is
    /// served here if that is this node. A forwarded request is passed on the same way, up to
    /// <see cref="ApiHeaders.ForwardHopsMax"/> nodes. A write the leader hands over during a leadership transfer goes to
    /// the transfer's target, which serves it at once (its loop holds it through the election).
    /// <paramref name="extraWaitMs"/> is how much longer than a plain
    /// write the leader may legitimately take (a lock acquire's <c>waitMs</c>).
    /// </summary>
    public async Task<IResult> ServeAsync(HttpContext context, NodeLoop node, byte[]? body, int extraWaitMs, Func<Task<IResult>> serveHere)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(serveHere);
        var leaderWait = TimeSpan.FromMilliseconds(options.LeaderWaitMs);
        var handedOverBy = HandedOverBy(context.Request);
        IResult? last = null;
        var avoid = 0;
        for (var round = 0; round < RoundsMax; round++)
        {
            // A write the leader passed on to this node, the target of its hand-over, goes to this node's loop at once:
            // held there until the election names a leader, and proposed with the first entries if this node leads.
            var handedOverHere = last is null && handedOverBy != 0 && handedOverBy != options.Id;
            NodeView view;
            if (handedOverHere)
            {
                view = node.View;
            }
            else if (last is null)
            {
                view = await node.LeaderViewAsync(options, context).ConfigureAwait(false);
            }
            else
            {
                view = await node.LeaderOtherThanAsync(avoid, leaderWait, context.RequestAborted).ConfigureAwait(false);
                if (view.LeaderId == 0 || view.LeaderId == avoid)
                {
                    return last;
                }

                // The last attempt named the node that failed it and asked for a retry; the answer comes from the next.
                context.Response.Headers.Remove(ApiHeaders.Leader);
                context.Response.Headers.RetryAfter = default;
            }

            if (!handedOverHere)
            {
                view = await node.AudibleLeaderViewAsync(view, options, context).ConfigureAwait(false);
            }

            if (view.Role == RaftRole.Leader || handedOverHere)
            {
                var answer = await serveHere().ConfigureAwait(false);
                if (answer is LeaderMoved { HandOver: true } moved)
                {
                    // This node leads and told the hand-over's target to campaign: the write goes there now, to be
                    // proposed in its first batch, rather than waiting here for the election to end.
                    var (handedOver, refused) = await RouteAsync(context, view with { LeaderId = moved.LeaderId }, body, extraWaitMs, handOver: true).ConfigureAwait(false);
                    if (!refused)
                    {
                        return handedOver;
                    }

                    (last, avoid) = (handedOver, moved.LeaderId);
                    continue;
                }

                if (answer is not LeaderMoved)
                {
                    return answer;
                }

                (last, avoid) = (answer, options.Id);
                continue;
            }

            if (view.LeaderId == 0)
            {
                return NoLeader(context);
            }

            var (result, refusedHere) = await RouteAsync(context, view, body, extraWaitMs, handOver: false).ConfigureAwait(false);
            if (!refusedHere)
            {
                return result;
            }

            (last, avoid) = (result, view.LeaderId);
        }

        return last ?? NoLeader(context);
    }

    public static IResult NoLeader(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Headers.RetryAfter = "1";
        return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.NoLeader, "no leader is known: an election is under way; retry shortly");
    }

    /// <summary>
    /// What a write served here may do during a hand-over: be passed on by this node, if it leads, to the hand-over's
    /// target (only when followers forward, and the request may take one more hop); and whether the leader passed it to
    /// this node (<see cref="ApiHeaders.HandOverFrom"/>).
    /// </summary>
    public static HandOver HandOverOf(HttpContext context, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(options);
        return new HandOver(options.FollowerMode == FollowerMode.Forward && Hops(context.Request) + 1 < ApiHeaders.ForwardHopsMax, HandedOverBy(context.Request));
    }

    // The leader that handed this request over to this node (ApiHeaders.HandOverFrom), or 0.
    private static int HandedOverBy(HttpRequest request) =>
        int.TryParse(request.Headers[ApiHeaders.HandOverFrom].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0 ? id : 0;

    /// <summary>How many nodes forwarded this request before it reached this one.</summary>
    private static int Hops(HttpRequest request)
    {
        var hops = 0;
        foreach (var value in request.Headers[ApiHeaders.ForwardedBy])
        {
            hops += value.AsSpan().Count(',') + 1;
        }

        return hops;
    }

    // Refused: the forward could not connect to the leader, so nothing reached it.
    // handOver: the leader passes a write on to the target of its hand-over, which is not the leader yet.
    private async Task<(IResult Result, bool Refused)> RouteAsync(HttpContext context, NodeView view, byte[]? body, int extraWaitMs, bool handOver)
    {
        var leaderId = view.LeaderId;
        if (leaderId == options.Id || options.HttpEndpointOf(view.Membership, leaderId) is not { } leaderUrl)
        {
            return (NoLeader(context), false);
        }

        // The target as the client wrote it: names keep their escapes exactly (see ApiResults.ReadName).
        var target = leaderUrl.TrimEnd('/') + ApiResults.RawTarget(context);
        context.Response.Headers[ApiHeaders.Leader] = leaderId.ToString(CultureInfo.InvariantCulture);
        var mode = options.FollowerMode;
        var hops = Hops(context.Request);
        if (mode == FollowerMode.Forward && hops >= ApiHeaders.ForwardHopsMax)
        {
            // Passed on this often, the nodes disagree about the leader; the client follows the hint from here.
            mode = FollowerMode.Reject;
        }

        switch (mode)
        {
            case FollowerMode.Redirect:
                context.Response.Headers.Location = target;
                return (Results.StatusCode(StatusCodes.Status307TemporaryRedirect), false);
            case FollowerMode.Reject:
                var detail = hops > 0
                    ? $"node {leaderId} is the leader: {leaderUrl} (this request was already passed on by {hops} nodes)"
                    : $"node {leaderId} is the leader: {leaderUrl}";
                return (ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.NotLeader, detail), false);
            default:
                return await ForwardAsync(context, leaderId, target, body, extraWaitMs, handOver).ConfigureAwait(false);
        }
    }

    private async Task<(IResult Result, bool Refused)> ForwardAsync(HttpContext context, int leaderId, string target, byte[]? body, int extraWaitMs, bool handOver)
    {
        using var span = NodeTracing.StartForward(options.Id, leaderId, context.Request.Method, target);
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), target);

        // The leader's spans join the caller's trace: this span's context (or, untraced here, the request's own)
        // goes as traceparent whether or not anyone instruments this node's HTTP client.
        if ((span ?? Activity.Current) is { } parent)
        {
            // The request is new and copies no trace header from the caller, so each field is added once.
            DistributedContextPropagator.Current.Inject(parent, request,
                static (carrier, name, value) => ((HttpRequestMessage)carrier!).Headers.TryAddWithoutValidation(name, value));
        }

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

        // The chain of forwarders, this node last: its length is the hop count the next node bounds.
        var forwardedBy = context.Request.Headers[ApiHeaders.ForwardedBy];
        var self = options.Id.ToString(CultureInfo.InvariantCulture);
        request.Headers.TryAddWithoutValidation(ApiHeaders.ForwardedBy, StringValues.IsNullOrEmpty(forwardedBy) ? self : $"{forwardedBy},{self}");
        if (handOver)
        {
            request.Headers.TryAddWithoutValidation(ApiHeaders.HandOverFrom, self);
        }

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
            span?.SetStatus(ActivityStatusCode.Error, ex.HttpRequestError.ToString());
            context.Response.Headers.RetryAfter = "1";
            var refused = ex.HttpRequestError == HttpRequestError.ConnectionError;
            return (ApiResults.Error(StatusCodes.Status502BadGateway, ErrorCodes.LeaderUnreachable, refused
                    ? "the leader refused the connection, so the request did not reach it; retry"
                    : "the connection to the leader broke after the request was sent; it may have been applied"),
                refused);
        }
        catch (TaskCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            span?.SetStatus(ActivityStatusCode.Error, "timeout");
            return (ApiResults.Timeout("the forwarded request"), false);
        }

        span?.SetTag("http.response.status_code", (int)response.StatusCode);
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
