using Raft.Core;

namespace Raft.Node;

public sealed partial class NodeDriver<TStateMachine, TResult>
{
    private const ulong ReadSweepIntervalTicks = 16;

    private readonly Dictionary<ulong, ReadRequest<TStateMachine>> _readsAsked = [];
    private readonly PriorityQueue<ReadRequest<TStateMachine>, ulong> _readsWaitingApply = new();

    // Reads refused because leadership changed, or waiting for an election to name a leader: asked of the next one.
    private readonly List<ReadRequest<TStateMachine>> _readsToAsk = [];
    private readonly Queue<ReadRequest<TStateMachine>> _readDeadlines = new();
    private readonly List<ulong> _expiredReadIds = [];
    private int _readsLeader;
    private ulong _nextReadId;
    private ulong _nextReadSweepTick;

    /// <summary>
    /// Serves <paramref name="request"/> at its consistency: a stale read at once from what is applied here; a lease
    /// read on the leader while its lease holds (otherwise as a linearizable one); a linearizable read once the
    /// leader has confirmed its commit index with a heartbeat round and this node has applied that far. A read
    /// whose leader changes before it is confirmed is asked again of the next leader, a few times at most.
    /// </summary>
    public void Read(ReadRequest<TStateMachine> request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfStopped();
        if (request.Consistency == ReadConsistency.Stale)
        {
            // Between batches the state machine is consistent, even while one waits for the disk.
            request.Serve(_stateMachine);
            return;
        }

        request.Deadline = _ticks + (ulong)_options.RequestTimeoutTicks;
        _readDeadlines.Enqueue(request);
        if (_unpersisted is not null)
        {
            if (!Enqueue(new Input(InputKind.Read, default, 0, request, 0)))
            {
                request.Fail(ReadFailure.Overloaded, _core.LeaderId);
            }

            return;
        }

        ReadNow(request);
    }

    private void ReadNow(ReadRequest<TStateMachine> request)
    {
        if (request.Finished)
        {
            return;
        }

        if (request.Consistency == ReadConsistency.Lease)
        {
            if (_core.Role != RaftRole.Leader)
            {
                request.Fail(_core.LeaderId == 0 ? ReadFailure.NoLeader : ReadFailure.NotLeader, _core.LeaderId);
                return;
            }

            if (_core.TryLeaseRead(out var leaseIndex))
            {
                ServeAt(request, leaseIndex);
                return;
            }

            // The lease is not held (a new term, a hand-over, a quiet quorum): confirm with a heartbeat round instead.
        }

        AskReadIndex(request);
    }

    private void AskReadIndex(ReadRequest<TStateMachine> request)
    {
        var id = ++_nextReadId;
        switch (_core.ReadIndex(id))
        {
            case ReadIndexResult.Pending:
                request.AskedTick = _ticks;
                request.AskedOf = _core.Role == RaftRole.Leader ? Id : _core.LeaderId;
                request.Attempts++;
                _readsAsked.Add(id, request);
                break;
            case ReadIndexResult.NoLeader when _readsToAsk.Count < _options.HeldRequestsMax:
                // An election is under way: ask the leader it names.
                request.AskedTick = _ticks;
                _readsToAsk.Add(request);
                break;
            case ReadIndexResult.NoLeader:
                request.Fail(ReadFailure.NoLeader, 0);
                break;
            default:
                request.Fail(ReadFailure.Overloaded, _core.LeaderId);
                break;
        }
    }

    private void ServeAt(ReadRequest<TStateMachine> request, ulong index)
    {
        if (_stateMachine.AppliedIndex >= index)
        {
            request.Serve(_stateMachine);
        }
        else
        {
            _readsWaitingApply.Enqueue(request, index);
        }
    }

    private void ServeReadsWaitingApply()
    {
        while (_readsWaitingApply.TryPeek(out var read, out var index) && index <= _stateMachine.AppliedIndex)
        {
            _readsWaitingApply.Dequeue();
            read.Serve(_stateMachine);
        }
    }

    private void HandleReadStates(ReadOnlySpan<ReadState> states)
    {
        foreach (var state in states)
        {
            _events.ReadIndexAnswered(state);
            if (!_readsAsked.Remove(state.RequestId, out var read) || read.Finished)
            {
                continue;
            }

            if (state.Status == ReadStatus.Ready)
            {
                ServeAt(read, state.Index);
            }
            else if (read.Attempts < _options.ReadAttemptsMax)
            {
                // Leadership changed before the read was confirmed: ask the next leader.
                read.AskedTick = _ticks;
                _readsToAsk.Add(read);
            }
            else
            {
                read.Fail(ReadFailure.NotConfirmed, _core.LeaderId);
            }
        }
    }

    // Reads asked of a leader that is no longer one, refused because leadership changed, or waiting for an election
    // to name a leader: asked again of the current leader, so a read sent during a failover is served late rather
    // than failed. One that waits the whole leader wait without a leader fails.
    private void AskReadsAgain()
    {
        var leader = _core.LeaderId;
        if (leader != _readsLeader)
        {
            _readsLeader = leader;
            foreach (var (id, read) in _readsAsked)
            {
                if (read.AskedOf != leader)
                {
                    _expiredReadIds.Add(id);
                }
            }

            foreach (var id in _expiredReadIds)
            {
                _readsAsked.Remove(id, out var read);
                read!.AskedTick = _ticks;
                _readsToAsk.Add(read);
            }

            _expiredReadIds.Clear();
        }

        if (_readsToAsk.Count == 0)
        {
            return;
        }

        if (leader == 0)
        {
            // Each read waits its own leader wait. They join the list when they begin waiting, so the ones that
            // waited longest are at the front.
            var expired = 0;
            while (expired < _readsToAsk.Count && _ticks - _readsToAsk[expired].AskedTick > (ulong)_options.LeaderWaitTicks)
            {
                _readsToAsk[expired++].Fail(ReadFailure.NoLeader, 0);
            }

            _readsToAsk.RemoveRange(0, expired);
            return;
        }

        var reads = _readsToAsk.ToArray();
        _readsToAsk.Clear();
        foreach (var read in reads)
        {
            if (read.Finished)
            {
                continue;
            }

            if (read.Attempts >= _options.ReadAttemptsMax)
            {
                read.Fail(ReadFailure.NotConfirmed, leader);
            }
            else
            {
                ReadNow(read);
            }
        }
    }

    // A read index request or its answer can be lost with a message; a read waiting to apply can wait on a node
    // that no longer catches up. Both give up in time.
    private void ExpireOverdueReads()
    {
        if (_readsAsked.Count > 0 && _ticks >= _nextReadSweepTick)
        {
            // Swept every few ticks, not every tick: thousands of reads may be waiting.
            _nextReadSweepTick = _ticks + ReadSweepIntervalTicks;
            var limit = (ulong)_options.ReadConfirmTicks;
            foreach (var (id, read) in _readsAsked)
            {
                if (read.Finished || _ticks - read.AskedTick > limit)
                {
                    _expiredReadIds.Add(id);
                }
            }

            foreach (var id in _expiredReadIds)
            {
                _readsAsked.Remove(id, out var read);
                read!.Fail(ReadFailure.NotConfirmed, _core.LeaderId);
            }

            _expiredReadIds.Clear();
        }

        while (_readDeadlines.TryPeek(out var request) && (request.Finished || request.Deadline <= _ticks))
        {
            _readDeadlines.Dequeue();
            request.Fail(ReadFailure.TimedOut, _core.LeaderId);
        }
    }
}
