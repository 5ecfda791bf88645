namespace Raft.Core;

/// <summary>
/// Settings of one node. Time is counted in ticks: the host decides how long a tick is and calls
/// <see cref="RaftNode.Tick"/> once per tick. Every bound is checked by <see cref="Validate"/>.
/// </summary>
public sealed record RaftOptions
{
    /// <summary>This node's id; positive.</summary>
    public required int Id { get; init; }

    /// <summary>
    /// The minimum election timeout. A follower's actual timeout is drawn uniformly from
    /// [ElectionTimeoutTicks, ElectionTimeoutTicks + ElectionJitterTicks) each time it is reset. It is also the
    /// length of a leader's lease and of a CheckQuorum period.
    /// </summary>
    public int ElectionTimeoutTicks { get; init; } = 10;

    /// <summary>
    /// The spread of the randomized election timeout; null means <see cref="ElectionTimeoutTicks"/> (the paper's
    /// [T, 2T)). Pre-candidates whose campaigns cross settle which one goes on (the more up-to-date log, then the
    /// lower id), so a narrower spread costs no split votes as long as it exceeds a message round trip.
    /// </summary>
    public int? ElectionJitterTicks { get; init; }

    internal int ElectionJitter => ElectionJitterTicks ?? ElectionTimeoutTicks;

    public int HeartbeatIntervalTicks { get; init; } = 1;

    /// <summary>Campaign in two phases so a node that cannot win does not raise the term (Raft thesis §9.6).</summary>
    public bool PreVote { get; init; } = true;

    /// <summary>
    /// A leader that has not heard from a quorum for an election timeout steps down; followers that
    /// heard from a leader within an election timeout refuse to vote. Lease reads require it.
    /// </summary>
    public bool CheckQuorum { get; init; } = true;

    /// <summary>
    /// When the host reports the leader unreachable (<see cref="RaftNode.PeerUnreachable"/>), start a
    /// pre-vote at once instead of waiting for the election timeout. Requires <see cref="PreVote"/>.
    /// </summary>
    public bool FastFailover { get; init; } = true;

    /// <summary>
    /// Followers that lose the leader at the same moment campaign this many ticks apart, in the order of their
    /// ids (the first at once). Campaigns that cross anyway do not split the vote: among fast pre-candidates the
    /// more up-to-date log, then the lower id, wins and the others stand down. So the default is 0, every
    /// follower at once, which is fastest; a stagger only saves the crossing messages.
    /// </summary>
    public int FastFailoverStaggerTicks { get; init; }

    /// <summary>The most bytes of entries in one Append message (at least one entry is always sent).</summary>
    public long MaxAppendBytes { get; init; } = 1 << 20;

    /// <summary>The most Append messages in flight to one follower while replicating.</summary>
    public int MaxInflightAppends { get; init; } = 256;

    /// <summary>
    /// The most bytes of entries (<see cref="Entry.SizeBytes"/>) in flight to one follower. A follower far behind is
    /// then fed as fast as it acknowledges, a window at a time, instead of with everything at once: the entries read
    /// back from the log for it, and what the transport queues for it, stay bounded, and so does the time one ready
    /// batch spends on it.
    /// </summary>
    public long MaxInflightBytes { get; init; } = 8L << 20;

    /// <summary>A leader refuses proposals while more than this many bytes are appended but not committed.</summary>
    public long MaxUncommittedBytes { get; init; } = 64L << 20;

    /// <summary>The most bytes of committed entries handed to the host in one ready batch.</summary>
    public long MaxCommittedBytesPerReady { get; init; } = 16L << 20;

    /// <summary>The most read requests waiting for confirmation at once.</summary>
    public int MaxPendingReads { get; init; } = 4096;

    /// <summary>
    /// The memory kept for log entries that are durable and applied: beyond it the oldest are dropped from memory and
    /// read back from the log storage when a follower that fell behind needs them. Entries not yet durable or applied
    /// (and so every uncommitted one) stay in memory whatever this says. Without storage, nothing is dropped.
    /// </summary>
    public long MaxLogMemoryBytes { get; init; } = 64L << 20;

    public void Validate()
    {
        if (Id <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Id), Id, "node ids are positive");
        }

        if (HeartbeatIntervalTicks < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(HeartbeatIntervalTicks), HeartbeatIntervalTicks, "at least one tick");
        }

        if (ElectionTimeoutTicks <= HeartbeatIntervalTicks * 2)
        {
            throw new ArgumentOutOfRangeException(nameof(ElectionTimeoutTicks), ElectionTimeoutTicks, "the election timeout must exceed two heartbeat intervals");
        }

        if (ElectionJitterTicks is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ElectionJitterTicks), ElectionJitterTicks, "at least one tick");
        }

        if (FastFailover && !PreVote)
        {
            throw new ArgumentException("FastFailover needs PreVote: without it a false report would raise the term and depose a healthy leader");
        }

        if (FastFailoverStaggerTicks < 0 || FastFailoverStaggerTicks >= ElectionTimeoutTicks)
        {
            throw new ArgumentOutOfRangeException(nameof(FastFailoverStaggerTicks), FastFailoverStaggerTicks, "between 0 and the election timeout");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAppendBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxInflightAppends, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxInflightBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxUncommittedBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCommittedBytesPerReady, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingReads, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxLogMemoryBytes);
    }
}
