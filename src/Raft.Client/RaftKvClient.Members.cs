using System.Globalization;
using System.Text.Json;
using Raft.Protocol;

namespace Raft.Client;

public sealed partial class RaftKvClient
{
    /// <summary>The members of the cluster, with their addresses, as the node asked has them; also teaches the client their endpoints.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The members and the leader the answering node knows.</returns>
    /// <exception cref="NoLeaderException">No node answered within the retry budget.</exception>
    public async Task<ClusterMembers> GetMembersAsync(CancellationToken cancellationToken = default) =>
        await MembersCallAsync(HttpMethod.Get, ApiPaths.Members, null, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Adds node <paramref name="id"/> to the cluster, as a learner unless <paramref name="learner"/> is
    /// <see langword="false"/>; answered once the change is committed. Asking again for the same member changes nothing.
    /// </summary>
    /// <param name="id">The new node's id, positive and unused.</param>
    /// <param name="peerAddress">Where the other nodes reach it, <c>host:port</c>.</param>
    /// <param name="httpEndpoint">Its HTTP base address.</param>
    /// <param name="learner">Join as a learner (no vote until promoted), the default.</param>
    /// <param name="cancellationToken">Stops waiting; the change may still be made.</param>
    /// <returns>The members after the change.</returns>
    /// <exception cref="RaftKvException"><c>member_exists</c>, <c>change_in_progress</c>, <c>invalid_member</c>.</exception>
    public async Task<ClusterMembers> AddMemberAsync(int id, string peerAddress, Uri httpEndpoint, bool learner = true, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(id);
        ArgumentException.ThrowIfNullOrEmpty(peerAddress);
        var body = JsonSerializer.SerializeToUtf8Bytes(new MemberRequest(id, peerAddress, Checked(httpEndpoint).ToString().TrimEnd('/'), learner), ProtocolJsonContext.Wire.MemberRequest);
        return await MembersCallAsync(HttpMethod.Post, ApiPaths.Members, body, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Makes learner <paramref name="id"/> a voter, once it has caught up; answered once the change is committed.</summary>
    /// <param name="id">The learner's id.</param>
    /// <param name="cancellationToken">Stops waiting; the change may still be made.</param>
    /// <returns>The members after the change.</returns>
    /// <exception cref="RaftKvException"><c>not_caught_up</c> (try again later), <c>member_not_found</c>, <c>change_in_progress</c>.</exception>
    public async Task<ClusterMembers> PromoteMemberAsync(int id, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(id);
        return await MembersCallAsync(HttpMethod.Post, $"{ApiPaths.Members}/{id.ToString(CultureInfo.InvariantCulture)}/promote", null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes node <paramref name="id"/> from the cluster (a leader hands over first); answered once the change is committed.</summary>
    /// <param name="id">The member's id.</param>
    /// <param name="cancellationToken">Stops waiting; the change may still be made.</param>
    /// <returns>The members after the change.</returns>
    /// <exception cref="RaftKvException"><c>member_not_found</c>, <c>invalid_change</c> (the last voter), <c>change_in_progress</c>.</exception>
    public async Task<ClusterMembers> RemoveMemberAsync(int id, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(id);
        return await MembersCallAsync(HttpMethod.Delete, $"{ApiPaths.Members}/{id.ToString(CultureInfo.InvariantCulture)}", null, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ClusterMembers> MembersCallAsync(HttpMethod method, string path, byte[]? body, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new Call(method, path, body, null, null, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var answer = await ReadJsonAsync(response, ProtocolJsonContext.Wire.MembersResponse, cancellationToken).ConfigureAwait(false);
        var members = new List<ClusterMember>(answer.Members.Count);
        lock (_routes)
        {
            foreach (var m in answer.Members)
            {
                var http = Uri.TryCreate(m.HttpEndpoint, UriKind.Absolute, out var uri) ? BaseOf(uri) : null;
                if (http is not null)
                {
                    Remember(m.Id, http);
                }

                members.Add(new ClusterMember(m.Id, m.PeerAddress, http, m.Voter, m.Leader));
            }
        }

        return new ClusterMembers(answer.LeaderId, members, answer.Index);
    }
}
