namespace Raft.Core;

public sealed partial class RaftNode
{
    private ulong _readyEntriesLast;
    private ulong _readyCommittedLast;

    /// <summary>True when <see cref="GetReady"/> has work for the host.</summary>
    public bool HasReady
    {
        get
        {
            if (_readyOutstanding)
            {
                return false;
            }

            return _ready.MessageBuffer.Count > 0
                || _ready.AfterPersistBuffer.Count > 0
                || _ready.ReadStateList.Count > 0
                || _receivedSnapshot is not null
                || _log.LastIndex > _log.Stable
                || _log.Committed > _log.Applied
                || HardState != _durableHardState
                || _role != _reportedRole
                || _leaderId != _reportedLeader
                || (_role == RaftRole.Leader && (_replicationPending || _commitBroadcastPending || _readHeartbeatPending));
        }
    }

    /// <summary>
    /// The work accumulated since the last batch. The returned instance is reused; it stays valid until
    /// <see cref="Advance"/>, and no other call may be made on this node until then.
    /// </summary>
    public Ready GetReady()
    {
        AssertNoReadyOutstanding();
        if (_role == RaftRole.Leader)
        {
            if (_readHeartbeatPending)
            {
                BroadcastHeartbeat();
            }

            FlushReplication();
        }

        var ready = _ready;
        var hardState = HardState;
        ready.HardState = hardState;
        ready.HasHardStateChange = hardState != _durableHardState;
        ready.Snapshot = _receivedSnapshot;

        _readyEntriesLast = _log.LastIndex;
        ready.Entries = _log.Stable < _log.LastIndex
            ? _log.Slice(_log.Stable + 1, _log.LastIndex, long.MaxValue)
            : ReadOnlyMemory<Entry>.Empty;

        var applyFrom = Math.Max(_log.Applied, _log.SnapshotIndex) + 1;
        var applyTo = _log.Committed;
        ready.CommittedEntries = applyFrom <= applyTo
            ? _log.Slice(applyFrom, applyTo, _options.MaxCommittedBytesPerReady)
            : ReadOnlyMemory<Entry>.Empty;
        _readyCommittedLast = ready.CommittedEntries.IsEmpty ? 0 : ready.CommittedEntries.Span[^1].Index;

        ready.Role = _role;
        ready.LeaderId = _leaderId;
        ready.SoftStateChanged = _role != _reportedRole || _leaderId != _reportedLeader;
        _reportedRole = _role;
        _reportedLeader = _leaderId;

        _readyOutstanding = true;
        return ready;
    }

    /// <summary>The host has persisted, sent and applied the last batch.</summary>
    public void Advance()
    {
        if (!_readyOutstanding)
        {
            throw new InvalidOperationException("Advance without an outstanding ready batch");
        }

        var ready = _ready;
        if (ready.HasHardStateChange)
        {
            _durableHardState = ready.HardState;
        }

        if (ready.Snapshot is not null)
        {
            _log.Applied = Math.Max(_log.Applied, ready.Snapshot.Index);
            _receivedSnapshot = null;
        }

        _log.Stable = Math.Max(_log.Stable, _readyEntriesLast);
        if (_readyCommittedLast > _log.Applied)
        {
            _log.Applied = _readyCommittedLast;
        }

        ready.Clear();
        _readyOutstanding = false;
        _log.Evict();
        LeaderPersisted();
    }
}
