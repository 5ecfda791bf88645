namespace Raft.Client;

/// <summary>How fresh a read must be; maps to the server's <c>consistency</c> query parameter.</summary>
public enum Consistency
{
    /// <summary>
    /// Reflects every write acknowledged before the read began (ReadIndex). Any node can serve it, at the cost of a
    /// round to the leader.
    /// </summary>
    Linearizable,

    /// <summary>Served by the leader from its lease, without a round to the followers; relies on bounded clock drift.</summary>
    Lease,

    /// <summary>Served by whichever node answers, from what it has applied; may miss recent writes.</summary>
    Stale,
}
