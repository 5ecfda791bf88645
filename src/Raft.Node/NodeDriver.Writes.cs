using Raft.Core;

namespace Raft.Node;

public sealed partial class NodeDriver<TStateMachine, TResult>
{
    // Proposals by log index. A write is answered when its index is applied, by whichever leader committed it: a
    // success if the entry there has the term it was appended in, "not applied" otherwise. So losing leadership
    // leaves no acknowledged write unreported and no committed write reported as failed.
    private readonly Dictionary<ulong, WriteRequest<TResult>> _writes = [];

    // Writes waiting for an election to name a leader, or for a hand-over to end.
    private readonly List<WriteRequest<TResult>> _heldWrites = [];

    // Every write not yet answered, in arrival order, which is deadline order.
    private readonly Queue<WriteRequest<TResult>> _writeDeadlines = new();

    private ulong _lastProposalTerm;
    private ulong? _orphanedSince;

    // The largest time this node stamped into a command; with the state machine's clock it keeps stamps monotonic.
    private long _lastStampMs;

    /// <summary>Writes proposed and not yet answered (for status and tests).</summary>
    public int PendingWrites => _writes.Count + _heldWrites.Count;

    /// <summary>
    /// Proposes <paramref name="request"/>'s command. On a follower it is answered <see cref="WriteStatus.NotLeader"/>
    /// (the host routes it to the leader); while no leader is known or a hand-over is under way it is held until
    /// one is, for up to <see cref="NodeDriverOptions.LeaderWaitTicks"/>. Once a hand-over's target has been told to
    /// campaign, a write that <see cref="WriteRequest{TResult}.CanHandOver"/> is answered
    /// <see cref="WriteStatus.HandedOver"/> instead, so that it reaches the target before it leads.
    /// </summary>
    public void Propose(WriteRequest<TResult> request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfStopped();
        if (_diskFull != DiskFullStep.None)
        {
            // Answered at once rather than queued behind a batch that may wait long for space: nothing was proposed.
            request.Finish(Outcome(DiskFullAnswer));
            return;
        }

        request.Deadline = _ticks + (ulong)_options.RequestTimeoutTicks;
        _writeDeadlines.Enqueue(request);
        if (_unpersisted is not null)
        {
            if (!Enqueue(new Input(InputKind.Propose, default, 0, request, 0)))
            {
                request.Finish(Outcome(WriteStatus.Overloaded));
            }

            return;
        }

        ProposeNow(request);
    }

    private void ProposeNow(WriteRequest<TResult> request)
    {
        if (request.Finished)
        {
            return;
        }

        if (_core.Role != RaftRole.Leader)
        {
            if (AwaitsLeader(request))
            {
                // Leadership just changed and nobody is known to hold it yet (or only the leader handing it over): wait
                // for the election to name one.
                Hold(request);
            }
            else
            {
                request.Finish(Outcome(WriteStatus.NotLeader));
            }

            return;
        }

        if (_takeOverPending && _core.LeadTransferee == 0)
        {
            ProposeTakeOver();
        }

        // The stamp is at least the state machine's clock and every earlier stamp, so a leader whose clock is behind
        // its predecessor's never goes back in time.
        var now = StampNow();
        if (_stateMachine.TryStampTime(request.Command, now))
        {
            _lastStampMs = now;
        }

        switch (_core.Propose(request.Command, out var index))
        {
            case ProposeResult.Accepted:
                request.Term = _core.Term;
                request.Index = index;
                _lastProposalTerm = _core.Term;
                if (_writes.Remove(index, out var overwritten))
                {
                    // A proposal of an earlier term of ours whose index this leader's log has now reused.
                    overwritten.Finish(new WriteOutcome<TResult>(WriteStatus.NotApplied, index, 0, _core.LeaderId, default!));
                }

                _writes.Add(index, request);
                _events.Proposed(request, index, _core.Term);
                break;
            case ProposeResult.TransferInProgress when request.CanHandOver && _core.TransfereeToldToCampaign:
                HandOver(request);
                break;
            case ProposeResult.TransferInProgress:
                // Held until the hand-over ends (or its target is told to campaign): then proposed here, or passed to
                // the new leader, so a planned switchover fails no write.
                Hold(request);
                break;
            case ProposeResult.NotLeader:
                request.Finish(Outcome(WriteStatus.NotLeader));
                break;
            default:
                request.Finish(Outcome(WriteStatus.Overloaded));
                break;
        }
    }

    private void Hold(WriteRequest<TResult> request)
    {
        if (_heldWrites.Count >= _options.HeldRequestsMax)
        {
            // Writes that timed out while held still sit in the list; they make no room, so drop them first.
            _heldWrites.RemoveAll(static held => held.Finished);
        }

        if (_heldWrites.Count >= _options.HeldRequestsMax)
        {
            request.Finish(Outcome(WriteStatus.Overloaded));
            return;
        }

        if (request.HeldSince == 0)
        {
            request.HeldSince = _ticks + 1;
        }

        _heldWrites.Add(request);
    }

    // Held writes are proposed here if this node leads without a hand-over under way; handed to the hand-over's
    // target once it was told to campaign (those that allow it); passed to the new leader (the host routes a NotLeader
    // answer) once one is known; and refused if none is known within the leader wait. A write handed over by the
    // leader this node still knows waits, like one with no leader known, for the election that hand-over started.
    private void ReleaseHeldWrites()
    {
        if (_heldWrites.Count == 0)
        {
            return;
        }

        if (_core.Role == RaftRole.Leader && _core.LeadTransferee != 0)
        {
            if (_core.TransfereeToldToCampaign)
            {
                foreach (var request in _heldWrites)
                {
                    if (request.CanHandOver)
                    {
                        HandOver(request);
                    }
                }

                _heldWrites.RemoveAll(static held => held.Finished);
            }

            return;
        }

        var held = _heldWrites.ToArray();
        _heldWrites.Clear();
        foreach (var request in held)
        {
            if (request.Finished)
            {
                continue;
            }

            if (_core.Role == RaftRole.Leader)
            {
                ProposeNow(request);
            }
            else if (!AwaitsLeader(request))
            {
                request.Finish(Outcome(WriteStatus.NotLeader));
            }
            else if (_ticks + 1 - request.HeldSince > (ulong)_options.LeaderWaitTicks)
            {
                // Each write waits its own leader wait.
                request.Finish(Outcome(_core.LeaderId != 0 ? WriteStatus.NotLeader : WriteStatus.NoLeader));
            }
            else
            {
                _heldWrites.Add(request);
            }
        }
    }

    // On a node that does not lead: whether the write waits for an election rather than going to the leader known.
    private bool AwaitsLeader(WriteRequest<TResult> request) =>
        _core.LeaderId == 0 || (request.HandedOverBy != 0 && _core.LeaderId == request.HandedOverBy);

    // Nothing was proposed: the host sends the write to the hand-over's target, which proposes it with its first
    // entries if it wins the election the hand-over started, or passes it on to whoever does.
    private void HandOver(WriteRequest<TResult> request) =>
        request.Finish(new WriteOutcome<TResult>(WriteStatus.HandedOver, 0, 0, _core.LeadTransferee, default!));

    // Proposals of a term this node no longer leads are answered when their index is applied, which after a
    // hand-over or a quick failover takes milliseconds. A node cut off from the others may never learn: after the
    // leader wait they are answered "leadership lost", their outcome unknown.
    private void ExpireOrphanedWrites()
    {
        if (_writes.Count == 0 || (_core.Role == RaftRole.Leader && _core.Term == _lastProposalTerm))
        {
            _orphanedSince = null;
            return;
        }

        _orphanedSince ??= _ticks;
        if (_ticks - _orphanedSince.Value <= (ulong)_options.LeaderWaitTicks)
        {
            return;
        }

        foreach (var request in _writes.Values)
        {
            request.Finish(new WriteOutcome<TResult>(WriteStatus.LeadershipLost, request.Index, request.Term, _core.LeaderId, default!));
        }

        _writes.Clear();
        _orphanedSince = null;
    }

    private void Apply(ReadOnlySpan<Entry> entries)
    {
        foreach (ref readonly var entry in entries)
        {
            TResult result = default!;
            if (entry.Type == EntryType.Command)
            {
                result = _stateMachine.Apply(entry.Index, entry.Data.Span);
            }
            else
            {
                _stateMachine.Skip(entry.Index);
            }

            _appliedBytes += entry.SizeBytes;
            _events.Applied(entry, result);
            if (_writes.Remove(entry.Index, out var request))
            {
                request.Finish(entry.Term == request.Term && entry.Type == EntryType.Command
                    ? new WriteOutcome<TResult>(WriteStatus.Applied, entry.Index, entry.Term, _core.LeaderId, result)
                    : new WriteOutcome<TResult>(WriteStatus.NotApplied, entry.Index, entry.Term, _core.LeaderId, default!));
            }
        }

        ServeReadsWaitingApply();
    }

    // A leader's snapshot replaced entries this node proposed: it cannot tell whether they made it.
    private void AbandonWritesThrough(ulong index)
    {
        if (_writes.Count == 0)
        {
            return;
        }

        foreach (var (proposalIndex, request) in _writes)
        {
            if (proposalIndex <= index)
            {
                request.Finish(new WriteOutcome<TResult>(WriteStatus.LeadershipLost, proposalIndex, request.Term, _core.LeaderId, default!));
                _writes.Remove(proposalIndex);
            }
        }
    }

    private void ExpireOverdueWrites()
    {
        while (_writeDeadlines.TryPeek(out var request) && (request.Finished || request.Deadline <= _ticks))
        {
            _writeDeadlines.Dequeue();
            if (request.Finished)
            {
                continue;
            }

            if (request.Index != 0 && _writes.TryGetValue(request.Index, out var pending) && ReferenceEquals(pending, request))
            {
                _writes.Remove(request.Index);
            }

            // A held write that times out stays in the hold list until the next release, which skips it.
            request.Finish(new WriteOutcome<TResult>(WriteStatus.TimedOut, request.Index, request.Term, _core.LeaderId, default!));
        }
    }

    private WriteOutcome<TResult> Outcome(WriteStatus status) => new(status, 0, 0, _core.LeaderId, default!);
}
