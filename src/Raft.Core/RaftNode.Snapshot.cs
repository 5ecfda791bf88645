namespace Raft.Core;

public sealed partial class RaftNode
{
    private SnapshotMetadata? _latestSnapshot;
    private SnapshotMetadata? _receivedSnapshot;

    /// <summary>
    /// What a snapshot of the state at <paramref name="index"/> must say of itself: the term of that entry and the
    /// membership in force there. <paramref name="index"/> lies between the compaction point and the commit index. Only
    /// reads the node, so it may be asked while a ready batch is outstanding (by a read served as the batch applies).
    /// </summary>
    public SnapshotMetadata SnapshotMetadataAt(ulong index)
    {
        if (index < _log.SnapshotIndex || index > _log.Committed || index == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"a snapshot must lie in [{Math.Max(1, _log.SnapshotIndex)}, {_log.Committed}]");
        }

        return new SnapshotMetadata(index, _log.TermOrZero(index), MembershipAt(index));
    }

    /// <summary>
    /// The host has made a snapshot durable: from now on it is the one sent to followers that need compacted entries.
    /// One older than the latest is ignored (a received snapshot overtook it).
    /// </summary>
    public void SnapshotTaken(SnapshotMetadata snapshot)
    {
        AssertNoReadyOutstanding();
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Index > _log.Applied)
        {
            throw new ArgumentOutOfRangeException(nameof(snapshot), snapshot.Index, $"a snapshot beyond the applied index {_log.Applied}");
        }

        if (_latestSnapshot is null || snapshot.Index > _latestSnapshot.Index)
        {
            _latestSnapshot = snapshot;
        }
    }

    /// <summary>
    /// Drops the log through <paramref name="index"/>, which the latest snapshot must cover. The host may keep a trailing
    /// part of the log behind its snapshot, so that a follower only a little behind catches up from entries; at or
    /// below the current compaction point this changes nothing.
    /// </summary>
    public void Compact(ulong index)
    {
        AssertNoReadyOutstanding();
        if (index <= _log.SnapshotIndex)
        {
            return;
        }

        if (_latestSnapshot is null || index > _latestSnapshot.Index)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"no snapshot covers it (latest: {_latestSnapshot?.Index ?? 0})");
        }

        var membership = MembershipAt(index);
        _log.CompactTo(index);
        _membershipLog.RemoveAll(m => m.Index <= index);
        _snapshotMembership = membership;
    }

    /// <summary>
    /// The snapshot at <paramref name="index"/> on its way to <paramref name="peer"/> is still moving (the peer
    /// acknowledged a chunk): the leader does not give up on it, however long a large one takes. The host may go on
    /// with a transfer it began before a newer snapshot was taken; the follower then needs the entries after this one,
    /// and the core replicates from there once the follower has it.
    /// </summary>
    public void SnapshotProgress(int peer, ulong index)
    {
        AssertNoReadyOutstanding();
        if (_role == RaftRole.Leader && FindProgress(peer) is { State: ReplicationState.Snapshot } pr)
        {
            pr.SnapshotMoved(index, _tick);
        }
    }

    /// <summary>
    /// The leader is streaming this follower a snapshot its log already covers (its commit index reached the snapshot's
    /// index, perhaps by a snapshot installed before the leader heard of it): tell the leader how far it is, as an
    /// append answer would, so the leader replicates from there instead of sending the snapshot again.
    /// </summary>
    public void SnapshotNotNeeded(int leader)
    {
        AssertNoReadyOutstanding();
        if (_role == RaftRole.Follower && leader == _leaderId && leader != 0)
        {
            Send(new Message { Type = MessageType.AppendResponse, To = leader, Index = _log.Committed });
        }
    }

    private void SendSnapshot(Progress pr)
    {
        var snapshot = _latestSnapshot ?? throw new InvalidOperationException($"node {Id}: entries before {_log.FirstIndex} are compacted but no snapshot is held");

        // The host streams the snapshot itself; this message only names it.
        Send(new Message { Type = MessageType.InstallSnapshot, To = pr.Id, Snapshot = snapshot, Index = snapshot.Index, LogTerm = snapshot.Term });
        pr.BecomeSnapshot(snapshot.Index, _tick);
    }

    // The follower side of InstallSnapshot: the host received the whole snapshot, verified it, and steps this.
    private void HandleSnapshot(in Message m)
    {
        var snapshot = m.Snapshot ?? throw new RaftProtocolException($"InstallSnapshot from {m.From} carries no snapshot");
        if (snapshot.Index <= _log.Committed)
        {
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = _log.Committed });
            return;
        }

        if (_log.MatchTerm(snapshot.Index, snapshot.Term))
        {
            // Our log already holds the snapshot's last entry: everything up to it is committed.
            // Entries after it may still conflict, so only the commit index is known to match.
            _log.CommitTo(snapshot.Index);
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = _log.Committed });
            return;
        }

        _log.ResetToSnapshot(snapshot.Index, snapshot.Term);
        _membershipLog.Clear();
        _snapshotMembership = snapshot.Membership;
        SetMembership(_snapshotMembership);
        _latestSnapshot = snapshot;
        _receivedSnapshot = snapshot;
        Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = snapshot.Index });
    }
}
