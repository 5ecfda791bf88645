using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.Protocol;

namespace Raft.Server;

/// <summary>
/// A node started with <see cref="NodeOptions.Join"/> that is not in its own configuration asks a member to add it as a
/// learner (any member: followers pass it to the leader), and learns the members it will hear from; with
/// <see cref="NodeOptions.AutoPromote"/>, a learner asks to become a voter until the leader finds it caught up.
/// </summary>
internal sealed class JoinService(NodeLoop node, NodeOptions options, NodeSecurity security, ApiTokens tokens, ILogger<JoinService> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);

    // A learner is usually caught up within moments of joining: asked again soon, its promotion does not wait long.
    private static readonly TimeSpan PromoteRetryDelay = TimeSpan.FromMilliseconds(50);

    private const string NotPromotedYet = "not promoted yet, still catching up";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var endpoints = options.JoinEndpoints();
        var joining = endpoints.Count > 0 && !node.View.Membership.Contains(options.Id);
        if (!joining && !(options.AutoPromote && node.View.Membership.IsLearner(options.Id)))
        {
            return;
        }

        using var client = new HttpClient(security.CreateHandler()) { Timeout = TimeSpan.FromMilliseconds(options.RequestTimeoutMs + 2000) };
        tokens.Authorize(client);
        var attempt = 0;
        while (joining && !stoppingToken.IsCancellationRequested)
        {
            var url = endpoints[attempt++ % endpoints.Count].TrimEnd('/');
            var what = await TryJoinAsync(client, url, stoppingToken).ConfigureAwait(false);
            if (what is null)
            {
                break;
            }

            NodeLog.JoinRetry(logger, options.Id, what);
            await Task.Delay(RetryDelay, stoppingToken).ConfigureAwait(false);
        }

        var behindLogged = false;
        while (options.AutoPromote && !stoppingToken.IsCancellationRequested && !node.View.Membership.IsVoter(options.Id))
        {
            if (node.View.Membership.IsLearner(options.Id) && node.View.LeaderId != 0
                && options.HttpEndpointOf(node.View.Membership, node.View.LeaderId) is { } leader)
            {
                var what = await TryPromoteAsync(client, leader.TrimEnd('/'), stoppingToken).ConfigureAwait(false);
                if (what is null)
                {
                    break;
                }

                // Asked often while it catches up: that it is still behind is said once.
                var behind = what.StartsWith(NotPromotedYet, StringComparison.Ordinal);
                if (!behind || !behindLogged)
                {
                    NodeLog.JoinRetry(logger, options.Id, what);
                }

                behindLogged |= behind;
            }

            await Task.Delay(PromoteRetryDelay, stoppingToken).ConfigureAwait(false);
        }
    }

    // Null once added (or found already added); otherwise what went wrong.
    private async Task<string?> TryJoinAsync(HttpClient client, string url, CancellationToken cancellationToken)
    {
        var request = new MemberRequest(options.Id, options.Peers[options.Id], options.HttpEndpoints[options.Id], Learner: true, options.ClusterVersionMax);
        try
        {
            using var response = await client.PostAsJsonAsync(url + ApiPaths.Members, request, ProtocolJsonContext.Wire.MemberRequest, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var error = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                return $"asking {url} to add it as a learner answered {(int)response.StatusCode}: {error}";
            }

            var members = await response.Content.ReadFromJsonAsync(ProtocolJsonContext.Wire.MembersResponse, cancellationToken).ConfigureAwait(false);
            if (members is null)
            {
                return $"{url} answered without the members";
            }

            node.AddJoinPeers(members.Members.Where(m => m.PeerAddress.Length > 0).ToDictionary(m => m.Id, m => m.PeerAddress));
            NodeLog.Joining(logger, options.Id, $"added as a learner by {url} ({members.Detail}); members: {string.Join(", ", members.Members.Select(m => $"{m.Id}{(m.Voter ? string.Empty : " (learner)")}"))}");
            return null;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
        {
            return $"asking {url} to add it as a learner failed: {ex.Message}";
        }
    }

    private async Task<string?> TryPromoteAsync(HttpClient client, string leader, CancellationToken cancellationToken)
    {
        try
        {
            var path = $"{leader}{ApiPaths.Members}/{options.Id.ToString(CultureInfo.InvariantCulture)}/promote";
            using var response = await client.PostAsync(path, null, cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                NodeLog.Joining(logger, options.Id, $"promoted to a voter by node {node.View.LeaderId}");
                return null;
            }

            var error = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.Conflict && error.Contains(ErrorCodes.NotCaughtUp, StringComparison.Ordinal)
                ? $"{NotPromotedYet}: {error}"
                : $"asking to be promoted answered {(int)response.StatusCode}: {error}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return $"asking to be promoted failed: {ex.Message}";
        }
    }
}
