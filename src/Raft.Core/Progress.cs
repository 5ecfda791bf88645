namespace Raft.Core;

/// <summary>How a leader is replicating to one follower.</summary>
public enum ReplicationState : byte
{
    /// <summary>Where the follower's log matches is not known: one Append at a time until one is accepted.</summary>
    Probe,

    /// <summary>The follower's log matches: Appends are pipelined up to the inflight window.</summary>
    Replicate,

    /// <summary>The entries the follower needs are compacted: a snapshot is on its way.</summary>
    Snapshot,
}

/// <summary>A leader's view of one member (itself included). Owned by the leader; reset on election.</summary>
internal sealed class Progress
{
    public Progress(int id, int maxInflight, long maxInflightBytes, bool isLearner)
    {
        Id = id;
        IsLearner = isLearner;
        Inflights = new Inflights(maxInflight, maxInflightBytes);
    }

    public int Id { get; }

    public bool IsLearner { get; set; }

    /// <summary>Highest index known to be durable in the follower's log and to match ours.</summary>
    public ulong Match { get; set; }

    /// <summary>The next index to send.</summary>
    public ulong Next { get; set; }

    public ReplicationState State { get; private set; } = ReplicationState.Probe;

    /// <summary>In <see cref="ReplicationState.Probe"/>: an Append is outstanding, so wait for its answer or a heartbeat reply.</summary>
    public bool ProbeSent { get; set; }

    /// <summary>In <see cref="ReplicationState.Snapshot"/>: the index of the snapshot being sent.</summary>
    public ulong PendingSnapshot { get; private set; }

    /// <summary>The leader tick at which the snapshot was sent or last made progress, to retry a lost one.</summary>
    public ulong SnapshotSentTick { get; private set; }

    /// <summary>The sequence number of the last heartbeat sent to this follower, and <see cref="Next"/> when it was sent.</summary>
    public ulong HeartbeatSent { get; set; }

    public ulong NextAtHeartbeat { get; set; }

    /// <summary>The leader tick at which <see cref="Match"/> last advanced.</summary>
    public ulong MatchAdvancedTick { get; set; }

    /// <summary>Heard from since the last CheckQuorum period began.</summary>
    public bool RecentActive { get; set; }

    public Inflights Inflights { get; }

    /// <summary>The highest heartbeat sequence number the follower acknowledged in this term.</summary>
    public ulong AckedHeartbeat { get; set; }

    /// <summary>
    /// The leader tick at which the newest heartbeat counted for the lease was sent; zero when none counts.
    /// </summary>
    public ulong LeaseSentTick { get; set; }

    /// <summary>Heartbeats up to this sequence number no longer count for the lease (the link broke after they were sent).</summary>
    public ulong LeaseRevokedThrough { get; set; }

    public bool IsPaused => State switch
    {
        ReplicationState.Probe => ProbeSent,
        ReplicationState.Replicate => Inflights.IsFull,
        _ => true,
    };

    public void Reset(ulong next)
    {
        Match = 0;
        Next = next;
        ProbeSent = false;
        PendingSnapshot = 0;
        RecentActive = false;
        AckedHeartbeat = 0;
        LeaseSentTick = 0;
        LeaseRevokedThrough = 0;
        Inflights.Reset();
        State = ReplicationState.Probe;
    }

    public void BecomeProbe()
    {
        // Only what the follower acknowledged is certain: a snapshot that was lost or timed out left it at Match.
        State = ReplicationState.Probe;
        Next = Match + 1;
        ProbeSent = false;
        PendingSnapshot = 0;
        Inflights.Reset();
    }

    public void BecomeReplicate()
    {
        State = ReplicationState.Replicate;
        Next = Match + 1;
        ProbeSent = false;
        PendingSnapshot = 0;
        Inflights.Reset();
    }

    public void BecomeSnapshot(ulong snapshotIndex, ulong tick)
    {
        State = ReplicationState.Snapshot;
        PendingSnapshot = snapshotIndex;
        SnapshotSentTick = tick;
        ProbeSent = false;
        Inflights.Reset();
    }

    /// <summary>The snapshot at <paramref name="index"/> being sent made progress at <paramref name="tick"/>: it is not lost.</summary>
    public void SnapshotMoved(ulong index, ulong tick)
    {
        PendingSnapshot = index;
        SnapshotSentTick = tick;
    }

    /// <summary>An accepted Append up to <paramref name="index"/>; false if it tells nothing new.</summary>
    public bool MaybeUpdate(ulong index)
    {
        var updated = false;
        if (Match < index)
        {
            Match = index;
            updated = true;
            ProbeSent = false;
        }

        Next = Math.Max(Next, index + 1);
        return updated;
    }

    /// <summary>
    /// A rejected Append for <paramref name="rejected"/>; moves Next back to <paramref name="probeFrom"/>.
    /// False when the rejection is stale (it answers an Append we have since moved past).
    /// </summary>
    public bool MaybeDecreaseTo(ulong rejected, ulong probeFrom)
    {
        if (State == ReplicationState.Replicate)
        {
            // Rejections of indexes at or below Match are stale; otherwise fall back to Match + 1.
            if (rejected <= Match)
            {
                return false;
            }

            Next = Match + 1;
            return true;
        }

        // Probe: only the answer to the outstanding probe (for Next - 1) counts.
        if (Next == 0 || Next - 1 != rejected)
        {
            return false;
        }

        Next = Math.Max(Math.Min(rejected, probeFrom + 1), Match + 1);
        ProbeSent = false;
        return true;
    }

    /// <summary>Records an Append carrying <paramref name="count"/> entries of <paramref name="bytes"/> up to <paramref name="lastIndex"/>.</summary>
    public void SentEntries(int count, ulong lastIndex, long bytes)
    {
        switch (State)
        {
            case ReplicationState.Replicate:
                if (count > 0)
                {
                    Next = lastIndex + 1;
                    Inflights.Add(lastIndex, bytes);
                }

                break;
            case ReplicationState.Probe:
                ProbeSent = true;
                break;
            default:
                throw new InvalidOperationException($"cannot send entries in state {State}");
        }
    }

    public override string ToString() => $"{Id}:{State} match={Match} next={Next} inflight={Inflights.Count}";
}
