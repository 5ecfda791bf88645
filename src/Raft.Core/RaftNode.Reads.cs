namespace Raft.Core;

public sealed partial class RaftNode
{
    // Heartbeats remember when they were sent, so an acknowledgement can extend the lease from that moment.
    private const int HeartbeatHistory = 64;

    private readonly ulong[] _heartbeatSentTicks = new ulong[HeartbeatHistory];
    private readonly ulong[] _heartbeatSentSeqs = new ulong[HeartbeatHistory];
    private readonly Queue<PendingRead> _pendingReads = new();
    private readonly List<PendingRead> _readsAwaitingCommit = [];
    private ulong _heartbeatSeq;
    private bool _readHeartbeatPending;
    private bool _leaseBrokenThisTerm;

    private readonly record struct PendingRead(ulong RequestId, ulong Index, ulong HeartbeatSeq, int From);

    /// <summary>
    /// Asks for a linearizable read index (Raft thesis §6.4). On the leader it is the commit index, confirmed
    /// by a heartbeat round; on a follower the leader is asked. The answer arrives as a <see cref="ReadState"/>
    /// with <paramref name="requestId"/>: serve the read once the state machine has applied its index.
    /// </summary>
    public ReadIndexResult ReadIndex(ulong requestId)
    {
        AssertNoReadyOutstanding();
        if (_role == RaftRole.Leader)
        {
            return LeaderReadIndex(requestId, Id);
        }

        if (_role == RaftRole.Follower && _leaderId != 0)
        {
            Send(new Message { Type = MessageType.ReadIndex, To = _leaderId, Context = requestId });
            return ReadIndexResult.Pending;
        }

        return ReadIndexResult.NoLeader;
    }

    /// <summary>
    /// A read index without a round trip, valid while this leader holds its lease: a quorum acknowledged a
    /// heartbeat sent less than an election timeout ago, and under CheckQuorum those voters refuse to elect
    /// anyone else until an election timeout after hearing from this leader. False when the lease cannot be
    /// relied on; fall back to <see cref="ReadIndex"/>.
    /// </summary>
    public bool TryLeaseRead(out ulong index)
    {
        AssertNoReadyOutstanding();
        index = 0;
        if (_role != RaftRole.Leader || !_options.CheckQuorum || _leaseBrokenThisTerm || _leadTransferee != 0 || !CommittedInCurrentTerm)
        {
            return false;
        }

        if (!HoldsLease())
        {
            return false;
        }

        index = _log.Committed;
        return true;
    }

    private bool HoldsLease()
    {
        // One tick of margin: a follower's election timer and ours may be a tick apart.
        var leaseTicks = (ulong)(_options.ElectionTimeoutTicks - 1);
        var holders = 0;
        foreach (var voter in _membership.Voters)
        {
            if (voter == Id)
            {
                holders++;
                continue;
            }

            var pr = FindProgress(voter);
            if (pr is not null && pr.LeaseSentTick != 0 && _tick < pr.LeaseSentTick + leaseTicks)
            {
                holders++;
            }
        }

        return holders >= _membership.Quorum;
    }

    private ReadIndexResult LeaderReadIndex(ulong requestId, int from)
    {
        if (_pendingReads.Count + _readsAwaitingCommit.Count >= _options.MaxPendingReads)
        {
            return ReadIndexResult.Overloaded;
        }

        if (!CommittedInCurrentTerm)
        {
            // Until this term's first entry commits, the leader does not know the commit index.
            _readsAwaitingCommit.Add(new PendingRead(requestId, 0, 0, from));
            return ReadIndexResult.Pending;
        }

        if (_membership.Voters.Length == 1 && _membership.IsVoter(Id))
        {
            ReleaseRead(requestId, _log.Committed, from);
            return ReadIndexResult.Pending;
        }

        // Confirmed by the next heartbeat round, which the ready batch sends; reads between batches share it.
        _pendingReads.Enqueue(new PendingRead(requestId, _log.Committed, _heartbeatSeq + 1, from));
        _readHeartbeatPending = true;
        return ReadIndexResult.Pending;
    }

    private void ReleaseReadsAwaitingCommit()
    {
        if (_readsAwaitingCommit.Count == 0)
        {
            return;
        }

        var reads = _readsAwaitingCommit.ToArray();
        _readsAwaitingCommit.Clear();
        foreach (var read in reads)
        {
            if (LeaderReadIndex(read.RequestId, read.From) != ReadIndexResult.Pending)
            {
                FailRead(read);
            }
        }
    }

    private void ReleaseConfirmedReads()
    {
        if (_pendingReads.Count == 0)
        {
            return;
        }

        var voters = _membership.Voters;
        Span<ulong> acked = stackalloc ulong[voters.Length];
        for (var i = 0; i < voters.Length; i++)
        {
            acked[i] = voters[i] == Id ? _heartbeatSeq : FindProgress(voters[i])?.AckedHeartbeat ?? 0;
        }

        var confirmed = Quorum.MajorityValue(acked);
        while (_pendingReads.Count > 0 && _pendingReads.Peek().HeartbeatSeq <= confirmed)
        {
            var read = _pendingReads.Dequeue();
            ReleaseRead(read.RequestId, read.Index, read.From);
        }
    }

    private void ReleaseRead(ulong requestId, ulong index, int from)
    {
        if (from == Id)
        {
            _ready.ReadStateList.Add(new ReadState(requestId, index, ReadStatus.Ready));
        }
        else
        {
            Send(new Message { Type = MessageType.ReadIndexResponse, To = from, Index = index, Context = requestId });
        }
    }

    private void FailRead(in PendingRead read)
    {
        if (read.From == Id)
        {
            _ready.ReadStateList.Add(new ReadState(read.RequestId, 0, ReadStatus.Failed));
        }
        else
        {
            Send(new Message { Type = MessageType.ReadIndexResponse, To = read.From, Reject = true, Context = read.RequestId });
        }
    }

    private void FailPendingReads()
    {
        while (_pendingReads.Count > 0)
        {
            FailRead(_pendingReads.Dequeue());
        }

        foreach (var read in _readsAwaitingCommit)
        {
            FailRead(read);
        }

        _readsAwaitingCommit.Clear();
    }

    private void RecordHeartbeatSent(ulong seq)
    {
        var slot = (int)(seq % HeartbeatHistory);
        _heartbeatSentSeqs[slot] = seq;
        _heartbeatSentTicks[slot] = _tick;
    }

    private bool TryGetHeartbeatSentTick(ulong seq, out ulong tick)
    {
        var slot = (int)(seq % HeartbeatHistory);
        tick = _heartbeatSentTicks[slot];
        return _heartbeatSentSeqs[slot] == seq;
    }
}
