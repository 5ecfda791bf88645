using Raft.Core;

namespace Raft.Server;

/// <summary>The node loop's part in the per-peer metrics: replication lag as the leader sees it, and last contact.</summary>
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

            gauges = new NodeMetrics.PeerGauges([.. peers], _time);
            _metrics.Peers = gauges;
            _gaugedMembership = membership;
        }

        var leading = core.Role == RaftRole.Leader;
        var last = core.LastIndex;
        var ids = gauges.Ids;
        for (var slot = 0; slot < ids.Length; slot++)
        {
            gauges.SetLag(slot, leading && core.TryGetProgress(ids[slot], out var match, out _, out _) ? (long)(last - Math.Min(match, last)) : -1);
            gauges.SetHeard(slot, _events.History.LastHeard(ids[slot]));
        }
    }
}
