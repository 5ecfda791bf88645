using Raft.Core;

namespace Raft.Server;

/// <summary>
/// Where each member is reached: the addresses the replicated configuration gives, and for a member it gives none
/// (a cluster bootstrapped before addresses were recorded) those of <see cref="NodeOptions.Peers"/> and
/// <see cref="NodeOptions.HttpEndpoints"/>.
/// </summary>
internal static class MemberDirectory
{
    public static MemberAddresses? AddressesOf(this NodeOptions options, Membership membership, int id)
    {
        if (membership.TryGetAddresses(id, out var addresses))
        {
            return addresses;
        }

        var peer = options.Peers.GetValueOrDefault(id);
        var http = options.HttpEndpoints.GetValueOrDefault(id);
        return peer is null && http is null ? null : new MemberAddresses(peer ?? string.Empty, http ?? string.Empty);
    }

    /// <summary>The HTTP base address of <paramref name="id"/>, or null when neither the configuration nor the options give one.</summary>
    public static string? HttpEndpointOf(this NodeOptions options, Membership membership, int id) =>
        options.AddressesOf(membership, id) is { Http.Length: > 0 } a ? a.Http : null;

    /// <summary>
    /// The peer endpoints the transport connects to: every member's, and <paramref name="extra"/>'s (the members a
    /// joining node was told of, before the configuration reaches it).
    /// </summary>
    public static Dictionary<int, string> PeerEndpoints(this NodeOptions options, Membership membership, IReadOnlyDictionary<int, string>? extra = null)
    {
        var peers = new Dictionary<int, string>();
        foreach (var id in membership.Ids)
        {
            if (options.AddressesOf(membership, id) is { Peer.Length: > 0 } a)
            {
                peers[id] = a.Peer;
            }
        }

        foreach (var (id, peer) in extra ?? new Dictionary<int, string>())
        {
            peers.TryAdd(id, peer);
        }

        if (options.Peers.TryGetValue(options.Id, out var own))
        {
            peers[options.Id] = own;
        }

        return peers;
    }
}
