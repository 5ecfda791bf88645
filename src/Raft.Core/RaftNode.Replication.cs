namespace Raft.Core;

public sealed partial class RaftNode
{
    private long _uncommittedBytes;
    private bool _replicationPending;
    private bool _commitBroadcastPending;

    /// <summary>
    /// Appends a command to the leader's log. <paramref name="data"/> is shared, not copied: the caller
    /// must not write to it afterwards. The command is committed when it appears in a ready batch's
    /// <see cref="Ready.CommittedEntries"/> with this index and the current term.
    /// </summary>
    public ProposeResult Propose(ReadOnlyMemory<byte> data, out ulong index)
    {
        AssertNoReadyOutstanding();
        index = 0;
        if (_role != RaftRole.Leader)
        {
            return ProposeResult.NotLeader;
        }

        if (_leadTransferee != 0)
        {
            return ProposeResult.TransferInProgress;
        }

        if (_uncommittedBytes > 0 && _uncommittedBytes + data.Length + Entry.OverheadBytes > _options.MaxUncommittedBytes)
        {
            return ProposeResult.Overloaded;
        }

        index = AppendEntry(EntryType.Command, data);
        return ProposeResult.Accepted;
    }

    private ulong AppendEntry(EntryType type, ReadOnlyMemory<byte> data)
    {
        var entry = new Entry(_term, _log.LastIndex + 1, type, data);
        _log.Append(entry);
        _uncommittedBytes += entry.SizeBytes;
        _replicationPending = true;
        return entry.Index;
    }

    private void StepLeader(in Message m)
    {
        var pr = FindProgress(m.From);
        if (pr is null)
        {
            return;
        }

        switch (m.Type)
        {
            case MessageType.AppendResponse:
                pr.RecentActive = true;
                HandleAppendResponse(pr, m);
                break;
            case MessageType.HeartbeatResponse:
                pr.RecentActive = true;
                HandleHeartbeatResponse(pr, m);
                break;
            case MessageType.ReadIndex:
                pr.RecentActive = true;
                if (LeaderReadIndex(m.Context, m.From) != ReadIndexResult.Pending)
                {
                    Send(new Message { Type = MessageType.ReadIndexResponse, To = m.From, Reject = true, Context = m.Context });
                }

                break;
        }
    }

    private void HandleAppendResponse(Progress pr, in Message m)
    {
        if (m.Reject)
        {
            // The hint names the follower's last index with a term at or below ours; skip back past a
            // whole term of conflicting entries per round trip instead of one entry at a time.
            var probeFrom = m.LogTerm > 0 ? _log.FindConflictByTerm(m.RejectHint, m.LogTerm) : m.RejectHint;
            if (pr.MaybeDecreaseTo(m.Index, probeFrom))
            {
                if (pr.State == ReplicationState.Replicate)
                {
                    pr.BecomeProbe();
                }

                _replicationPending = true;
            }

            return;
        }

        if (!pr.MaybeUpdate(m.Index))
        {
            return;
        }

        pr.MatchAdvancedTick = _tick;

        switch (pr.State)
        {
            case ReplicationState.Probe:
                pr.BecomeReplicate();
                break;
            case ReplicationState.Snapshot when pr.Match >= pr.PendingSnapshot:
                pr.BecomeReplicate();
                break;
            case ReplicationState.Replicate:
                pr.Inflights.FreeUpTo(m.Index);
                break;
        }

        MaybeCommit();
        _replicationPending = true;

        if (pr.Id == _leadTransferee && pr.Match == _log.LastIndex)
        {
            SendTimeoutNow(pr.Id);
        }
    }

    private void HandleHeartbeatResponse(Progress pr, in Message m)
    {
        pr.ProbeSent = false;
        if (pr.State == ReplicationState.Snapshot && _tick - pr.SnapshotSentTick >= (ulong)_options.ElectionTimeoutTicks)
        {
            // The snapshot or its answer was lost: probe again, which resends it if still needed.
            pr.BecomeProbe();
        }

        // The answer says how long the follower's log was when the heartbeat arrived. Appends sent before that
        // heartbeat travel ahead of it on an ordered connection, so a shorter log means they were lost: resend
        // from what the follower is known to hold instead of waiting on a window that will never drain. A window
        // with no acknowledgement for an election timeout is treated the same way.
        var appendsLost = m.Context == pr.HeartbeatSent && m.Index + 1 < pr.NextAtHeartbeat;
        var windowStuck = pr.Inflights.Count > 0 && _tick - pr.MatchAdvancedTick >= (ulong)_options.ElectionTimeoutTicks;
        if (pr.State == ReplicationState.Replicate && (appendsLost || windowStuck))
        {
            pr.BecomeProbe();
        }

        if (pr.Match < _log.LastIndex)
        {
            _replicationPending = true;
        }

        if (m.Context > pr.AckedHeartbeat)
        {
            pr.AckedHeartbeat = m.Context;
        }

        if (m.Context > pr.LeaseRevokedThrough && TryGetHeartbeatSentTick(m.Context, out var sentTick) && sentTick > pr.LeaseSentTick)
        {
            pr.LeaseSentTick = sentTick;
        }

        ReleaseConfirmedReads();
    }

    // The follower side of Append.
    private void HandleAppend(in Message m)
    {
        if (m.Index < _log.Committed)
        {
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = _log.Committed });
            return;
        }

        if (_log.MatchTerm(m.Index, m.LogTerm))
        {
            var entries = m.Entries.Span;
            var lastNew = m.Index + (ulong)entries.Length;
            var conflict = _log.FindConflict(entries);
            if (conflict != 0)
            {
                if (conflict <= _log.Committed)
                {
                    throw new InvalidOperationException($"node {Id}: entry {conflict} from leader {m.From} conflicts with a committed entry (commit {_log.Committed})");
                }

                if (conflict <= _log.LastIndex)
                {
                    _log.TruncateAfter(conflict - 1);
                    TruncateMembership(conflict - 1);
                }

                foreach (ref readonly var e in entries[(int)(conflict - m.Index - 1)..])
                {
                    _log.Append(e);
                    if (e.Type == EntryType.Membership)
                    {
                        ApplyMembershipEntry(e);
                    }
                }
            }

            _log.CommitTo(Math.Min(m.Commit, lastNew));
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = lastNew });
            return;
        }

        var hintIndex = _log.FindConflictByTerm(Math.Min(m.Index, _log.LastIndex), m.LogTerm);
        Send(new Message
        {
            Type = MessageType.AppendResponse,
            To = m.From,
            Reject = true,
            Index = m.Index,
            RejectHint = hintIndex,
            LogTerm = _log.TermOrZero(hintIndex),
        });
    }

    private void HandleHeartbeat(in Message m)
    {
        // The leader sends at most the follower's match index, so this never commits an unknown entry.
        _log.CommitTo(Math.Min(m.Commit, _log.LastIndex));
        Send(new Message { Type = MessageType.HeartbeatResponse, To = m.From, Context = m.Context, Index = _log.LastIndex });
    }

    // Advances the commit index to what a majority of voters hold, but only through an entry of the
    // current term: counting replicas of an older term's entry is unsafe (Raft paper §5.4.2, Figure 8).
    private bool MaybeCommit()
    {
        var voters = _membership.Voters;
        Span<ulong> matches = stackalloc ulong[voters.Length];
        for (var i = 0; i < voters.Length; i++)
        {
            matches[i] = voters[i] == Id ? _log.Stable : FindProgress(voters[i])?.Match ?? 0;
        }

        var index = Quorum.MajorityValue(matches);
        if (index <= _log.Committed || _log.TermOrZero(index) != _term)
        {
            return false;
        }

        var wasCommittedInTerm = CommittedInCurrentTerm;

        // Only entries of this term were charged, and they are all in memory: uncommitted entries are never evicted.
        for (var i = Math.Max(_log.Committed + 1, _log.MemoryFirstIndex); i <= index; i++)
        {
            var entry = _log.At(i);
            if (entry.Term == _term)
            {
                _uncommittedBytes -= entry.SizeBytes;
            }
        }

        _log.CommitTo(index);
        _commitBroadcastPending = true;
        if (!wasCommittedInTerm && CommittedInCurrentTerm)
        {
            ReleaseReadsAwaitingCommit();
        }

        if (!_membership.IsVoter(Id) && _log.Committed >= _pendingMembershipIndex)
        {
            // This leader's removal is committed: stop leading, so the remaining voters elect one of their own.
            BecomeFollower(_term, 0);
        }

        return true;
    }

    private bool CommittedInCurrentTerm => _log.TermOrZero(_log.Committed) == _term;

    // Sends each follower what it is missing, as far as its window allows. Called once per ready batch so
    // that proposals arriving between batches travel together.
    private void FlushReplication()
    {
        if (_role != RaftRole.Leader || (!_replicationPending && !_commitBroadcastPending))
        {
            return;
        }

        foreach (var pr in _progress)
        {
            if (pr.Id == Id)
            {
                continue;
            }

            // A probe goes out even when empty: its answer tells where the follower's log stands.
            var sendIfEmpty = _commitBroadcastPending || pr.State == ReplicationState.Probe;
            while (SendAppend(pr, sendIfEmpty))
            {
                sendIfEmpty = false;
            }
        }

        _replicationPending = false;
        _commitBroadcastPending = false;
    }

    // Sends one Append (or a snapshot) to pr; false when nothing was sent.
    private bool SendAppend(Progress pr, bool sendIfEmpty)
    {
        if (pr.IsPaused)
        {
            return false;
        }

        var prevIndex = pr.Next - 1;
        if (!_log.TryTerm(prevIndex, out var prevTerm))
        {
            SendSnapshot(pr);
            return false;
        }

        var entries = pr.Next <= _log.LastIndex
            ? _log.Slice(pr.Next, _log.LastIndex, _options.MaxAppendBytes)
            : ReadOnlyMemory<Entry>.Empty;
        if (entries.IsEmpty && !sendIfEmpty)
        {
            return false;
        }

        Send(new Message
        {
            Type = MessageType.Append,
            To = pr.Id,
            Index = prevIndex,
            LogTerm = prevTerm,
            Entries = entries,
            Commit = _log.Committed,
        });
        long bytes = 0;
        foreach (ref readonly var e in entries.Span)
        {
            bytes += e.SizeBytes;
        }

        pr.SentEntries(entries.Length, prevIndex + (ulong)entries.Length, bytes);
        return !entries.IsEmpty;
    }

    private void BroadcastHeartbeat()
    {
        _heartbeatSeq++;
        RecordHeartbeatSent(_heartbeatSeq);
        _readHeartbeatPending = false;
        foreach (var pr in _progress)
        {
            if (pr.Id == Id)
            {
                continue;
            }

            pr.HeartbeatSent = _heartbeatSeq;
            pr.NextAtHeartbeat = pr.Next;
            Send(new Message
            {
                Type = MessageType.Heartbeat,
                To = pr.Id,
                Commit = Math.Min(pr.Match, _log.Committed),
                Context = _heartbeatSeq,
            });
        }
    }

    // After a ready batch is durable the leader's own copy counts towards the commit quorum.
    private void LeaderPersisted()
    {
        if (_role == RaftRole.Leader && _log.Stable > _log.Committed)
        {
            MaybeCommit();
        }
    }
}
