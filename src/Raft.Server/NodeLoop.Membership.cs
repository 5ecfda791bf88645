using Raft.Core;
using Raft.Node;

namespace Raft.Server;

/// <summary>The node loop's part in membership: changes asked over HTTP, and the transport kept to the members in force.</summary>
internal sealed partial class NodeLoop
{
    private Membership? _peersMembership;
    private volatile IReadOnlyDictionary<int, string> _joinPeers = new Dictionary<int, string>();

    /// <summary>Proposes a single-server membership change; completes once it commits or is known not to (the outcome says which).</summary>
    public async Task<MembershipOutcome> ChangeMembershipAsync(MembershipChange change, CancellationToken cancellationToken)
    {
        var request = new MembershipCall(change, (ulong)_options.PromoteMaxLagEntries);
        return await Enqueue(new Input(InputKind.Membership, request), cancellationToken).ConfigureAwait(false)
            ? await request.Completion.Task.ConfigureAwait(false)
            : new MembershipOutcome(MembershipStatus.ShuttingDown, 0, 0, Membership.Empty, "the node is stopping");
    }

    /// <summary>
    /// Peers a joining node was told of by the member that added it: the transport accepts them (and reaches them) before
    /// the configuration that names them arrives from the leader.
    /// </summary>
    public void AddJoinPeers(IReadOnlyDictionary<int, string> peers)
    {
        ArgumentNullException.ThrowIfNull(peers);
        var merged = new Dictionary<int, string>(_joinPeers);
        foreach (var (id, peer) in peers)
        {
            merged[id] = peer;
        }

        _joinPeers = merged;
        _transport.SetPeers(_options.PeerEndpoints(_view.Membership, merged));
    }

    // On the node's thread, after every batch: the transport follows the configuration in force, so a member added is
    // reached and one removed is let go.
    private void FollowMembership(Membership membership)
    {
        if (ReferenceEquals(membership, _peersMembership))
        {
            return;
        }

        _peersMembership = membership;
        _transport.SetPeers(_options.PeerEndpoints(membership, _joinPeers));
        _metrics.Voters = membership.Voters.Length;
        _metrics.Learners = membership.Learners.Length;
        _metrics.ConfigIndex = (long)_driver.Core.MembershipIndex;
    }
}
