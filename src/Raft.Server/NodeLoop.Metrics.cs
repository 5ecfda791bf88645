using Raft.Core;

namespace Raft.Server;

/// <summary>
/// The node loop's part in the per-peer metrics: which peers they name, and each one's replication lag as the leader
/// sees it (the core is read only on this thread). Last contact needs nothing here: the gauges read it from
/// <see cref="NodeHistory"/>, which also serves it to <c>/v1/cluster/events</c>.
/// </summary>
internal sealed partial class NodeLoop
{
    private Membership? _gaugedMembership;

    // On the node's thread, after every batch. A new set of gauges only when the configuration changes; otherwise a
    // progress lookup and a volatile store per peer, no allocation.
    private void PublishPeerGauges()
    {
        var core = _driver.Core;
        var gauges = _metrics.Peers;
        if (!ReferenceEquals(core.Membership, _gaugedMembership))
        {
            var membership = core.Membership;
            var peers = new List<int>(membership.Count);
            foreach (var id in membership.Voters)
            {
                if (id != _options.Id)
                {
                    peers.Add(id);
                }
            }

            foreach (var id in membership.Learners)
            {
                if (id != _options.Id)
                {
                    peers.Add(id);
                }
            }

            gauges = new NodeMetrics.PeerGauges([.. peers], _events.History);
            _metrics.Peers = gauges;
            _gaugedMembership = membership;
        }

        var ids = gauges.Ids;
        for (var slot = 0; slot < ids.Length; slot++)
        {
            gauges.SetLag(slot, _driver.TryGetLag(ids[slot], out var lag) ? (long)lag : -1);
        }
    }
}
