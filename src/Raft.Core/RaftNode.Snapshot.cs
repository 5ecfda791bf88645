namespace Raft.Core;

public sealed partial class RaftNode
{
    private Snapshot? _snapshot;
    private Snapshot? _receivedSnapshot;

    /// <summary>
    /// The host has taken a snapshot of the state machine at <paramref name="index"/> (at most the applied
    /// index): drop the log up to it, and send this snapshot to followers that need compacted entries.
    /// Returns the snapshot with its metadata for the host to persist.
    /// </summary>
    public Snapshot Compact(ulong index, ReadOnlyMemory<byte> data)
    {
        AssertNoReadyOutstanding();
        if (index > _log.Applied || index <= _log.SnapshotIndex)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"a snapshot must lie in ({_log.SnapshotIndex}, {_log.Applied}]");
        }

        var membership = MembershipAt(index);
        var snapshot = new Snapshot(new SnapshotMetadata(index, _log.TermOrZero(index), membership), data);
        _log.CompactTo(index);
        _membershipLog.RemoveAll(m => m.Index <= index);
        _snapshotMembership = membership;
        _snapshot = snapshot;
        return snapshot;
    }

    private void SendSnapshot(Progress pr)
    {
        var snapshot = _snapshot ?? throw new InvalidOperationException($"node {Id}: entries before {_log.FirstIndex} are compacted but no snapshot is held");

        Send(new Message { Type = MessageType.InstallSnapshot, To = pr.Id, Snapshot = snapshot });
        pr.BecomeSnapshot(snapshot.Index, _tick);
    }

    // The follower side of InstallSnapshot.
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
        _snapshotMembership = snapshot.Metadata.Membership;
        SetMembership(_snapshotMembership);
        _snapshot = snapshot;
        _receivedSnapshot = snapshot;
        Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = snapshot.Index });
    }
}
