using Raft.Core;

namespace Raft.Node;

public sealed partial class NodeDriver<TStateMachine, TResult>
{
    private TransferRequest? _transfer;

    /// <summary>
    /// Hands leadership to the request's target (0: the most up-to-date follower); answered once the target leads,
    /// another node took over, or the transfer timeout passed.
    /// </summary>
    public void TransferLeadership(TransferRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfStopped();
        if (_unpersisted is not null)
        {
            if (!Enqueue(new Input(InputKind.Transfer, default, 0, request, 0)))
            {
                request.Finish(new TransferOutcome(TransferStatus.Failed, Id, request.To, _core.LeaderId, "the node is overloaded"));
            }

            return;
        }

        TransferNow(request);
    }

    /// <summary>
    /// Proposes a single-server membership change (add a learner, promote it, remove a member). Only between batches:
    /// not while <see cref="IsAwaitingPersistence"/>.
    /// </summary>
    public ProposeResult ProposeMembershipChange(MembershipChange change, out ulong index, out string? error)
    {
        ThrowIfStopped();
        if (_unpersisted is not null)
        {
            throw new InvalidOperationException("a batch is waiting for the disk");
        }

        return _core.ProposeMembershipChange(change, out index, out error);
    }

    /// <summary>
    /// The metadata of a snapshot of the state at <paramref name="index"/> (at most the commit index): what a backup of
    /// the state machine's image needs. A read may ask it from <see cref="ReadRequest{TStateMachine}"/>'s OnServed.
    /// </summary>
    public SnapshotMetadata SnapshotMetadataAt(ulong index) => _core.SnapshotMetadataAt(index);

    /// <summary>This node's view of the cluster: roles, indexes, and each member's replication progress as the leader sees it.</summary>
    public NodeStatus Status()
    {
        var membership = _core.Membership;
        var members = new List<MemberProgress>(membership.Count);
        foreach (var id in membership.Voters)
        {
            members.Add(Member(id, voter: true));
        }

        foreach (var id in membership.Learners)
        {
            members.Add(Member(id, voter: false));
        }

        return new NodeStatus(Id, _core.Role, _core.Term, _core.LeaderId, _core.CommitIndex, _stateMachine.AppliedIndex, _core.LastIndex, members)
        {
            Membership = membership,
            ConfigIndex = _core.MembershipIndex,
            ChangeInProgress = _membershipChange is { } change ? $"{Describe(change.Change)} at index {change.Index}" : null,
        };
    }

    private MemberProgress Member(int id, bool voter)
    {
        ulong? match = null;
        if (id == Id)
        {
            match = _core.StableIndex;
        }
        else if (_core.TryGetProgress(id, out var m, out _, out _))
        {
            match = m;
        }

        return new MemberProgress(id, voter, id == _core.LeaderId, match, match is { } x ? LagBehind(x) : null);
    }

    /// <summary>
    /// How far <paramref name="peer"/> is behind this leader: entries of its log the peer is not known to hold (the last
    /// index minus the peer's match index); false when this node keeps no progress for the peer (it does not lead, or
    /// the peer is not a member). The one definition of lag: the cluster status, the promotion check and the
    /// <c>raft_peer_lag_entries</c> metric all read it.
    /// </summary>
    public bool TryGetLag(int peer, out ulong lag)
    {
        var known = _core.TryGetProgress(peer, out var match, out _, out _);
        lag = known ? LagBehind(match) : 0;
        return known;
    }

    private ulong LagBehind(ulong match) => _core.LastIndex > match ? _core.LastIndex - match : 0;

    private void TransferNow(TransferRequest request)
    {
        if (request.Finished)
        {
            return;
        }

        if (_core.Role != RaftRole.Leader)
        {
            request.Finish(new TransferOutcome(TransferStatus.NotLeader, Id, request.To, _core.LeaderId, _core.LeaderId == 0 ? "no leader is known" : $"node {_core.LeaderId} is the leader"));
            return;
        }

        if (_transfer is not null)
        {
            var under = _transfer.Target != 0 ? $"a transfer to {_transfer.Target} is under way" : "a transfer is under way";
            request.Finish(new TransferOutcome(TransferStatus.Failed, Id, request.To, _core.LeaderId, under));
            return;
        }

        _transfer = request;
        if (request.To != 0)
        {
            StartTransfer(request, request.To);
        }
        else
        {
            // The choice may wait for a follower to answer: that wait has the transfer timeout too.
            request.Deadline = _ticks + (ulong)_options.TransferTimeoutTicks;
            ChooseTransferTarget(request);
        }
    }

    // A hand-over to nobody in particular goes to a follower that answers. A new leader has heard from no follower yet
    // (every match it knows is 0, and a crashed voter may come first), so it waits for one, up to the transfer timeout.
    private void ChooseTransferTarget(TransferRequest request)
    {
        var target = MostUpToDateFollower(out var responsive);
        if (target == 0)
        {
            _transfer = null;
            request.Finish(new TransferOutcome(TransferStatus.Failed, Id, 0, _core.LeaderId, "no follower to hand leadership to"));
        }
        else if (responsive)
        {
            StartTransfer(request, target);
        }
    }

    private void StartTransfer(TransferRequest request, int target)
    {
        var result = _core.TransferLeadership(target);
        if (result != TransferResult.Started)
        {
            _transfer = null;
            request.Finish(new TransferOutcome(TransferStatus.Failed, Id, target, _core.LeaderId, $"transfer refused: {result}"));
            return;
        }

        request.Target = target;
        request.Deadline = _ticks + (ulong)_options.TransferTimeoutTicks;
    }

    // The voter a hand-over to nobody in particular goes to: one that answers heartbeats before one that does not (a
    // crashed follower may still hold the highest match), then the highest match.
    private int MostUpToDateFollower(out bool responsive)
    {
        var best = 0;
        var bestResponsive = false;
        ulong bestMatch = 0;
        foreach (var voter in _core.Membership.Voters)
        {
            if (voter == Id || !_core.TryGetProgress(voter, out var match, out _, out _))
            {
                continue;
            }

            var answers = _core.IsCaughtUpAndResponsive(voter);
            if (best == 0 || (answers && !bestResponsive) || (answers == bestResponsive && match > bestMatch))
            {
                best = voter;
                bestResponsive = answers;
                bestMatch = match;
            }
        }

        responsive = bestResponsive;
        return best;
    }

    private void CheckTransfer()
    {
        if (_transfer is not { } transfer)
        {
            return;
        }

        if (transfer.Target == 0)
        {
            if (_core.Role == RaftRole.Leader)
            {
                ChooseTransferTarget(transfer);
            }
            else
            {
                _transfer = null;
                transfer.Finish(new TransferOutcome(TransferStatus.Failed, Id, 0, _core.LeaderId, _core.LeaderId == 0 ? "this node stopped leading" : $"node {_core.LeaderId} became leader instead"));
            }
        }
        else if (_core.LeaderId == transfer.Target)
        {
            transfer.Finish(new TransferOutcome(TransferStatus.Moved, Id, transfer.Target, _core.LeaderId, "leadership moved"));
            _transfer = null;
        }
        else if (_core.Role != RaftRole.Leader && _core.LeaderId != 0)
        {
            transfer.Finish(new TransferOutcome(TransferStatus.Failed, Id, transfer.Target, _core.LeaderId, $"node {_core.LeaderId} became leader instead"));
            _transfer = null;
        }
        else if (_core.Role == RaftRole.Leader && _core.LeadTransferee == 0)
        {
            // The core gave the hand-over up (its target did not take over within an election timeout): so does this.
            transfer.Finish(new TransferOutcome(TransferStatus.Failed, Id, transfer.Target, _core.LeaderId, $"node {transfer.Target} did not take over within an election timeout"));
            _transfer = null;
        }
    }

    // The work that follows the ready batches of one Process: it may propose and ask, so it runs only between batches.
    private void AfterReadies()
    {
        if (_takeOverPending && _core.Role == RaftRole.Leader && _core.LeadTransferee == 0)
        {
            ProposeTakeOver();
        }

        ReleaseHeldWrites();
        ExpireOrphanedWrites();
        if (_core.LeaderId != _readsLeader || _readsToAsk.Count > 0)
        {
            AskReadsAgain();
        }

        CheckTransfer();
        CheckMembershipChange();
        CheckFailback();
        AfterReadiesSnapshots();
    }

    private void ExpireOverdue()
    {
        ExpireOverdueWrites();
        ExpireOverdueReads();
        if (_transfer is { } transfer && _ticks > transfer.Deadline)
        {
            var detail = transfer.Target != 0 ? "the target did not take over in time" : "no follower answered within the transfer timeout";
            transfer.Finish(new TransferOutcome(TransferStatus.Failed, Id, transfer.Target, _core.LeaderId, detail));
            _transfer = null;
        }
    }

    private void FailEverything()
    {
        var shuttingDown = new WriteOutcome<TResult>(WriteStatus.ShuttingDown, 0, 0, _core.LeaderId, default!);
        foreach (var request in _writes.Values)
        {
            request.Finish(shuttingDown);
        }

        _writes.Clear();
        foreach (var request in _heldWrites)
        {
            request.Finish(shuttingDown);
        }

        _heldWrites.Clear();
        foreach (var read in _readsToAsk)
        {
            read.Fail(ReadFailure.ShuttingDown, _core.LeaderId);
        }

        _readsToAsk.Clear();
        foreach (var read in _readsAsked.Values)
        {
            read.Fail(ReadFailure.ShuttingDown, _core.LeaderId);
        }

        _readsAsked.Clear();
        while (_readsWaitingApply.TryDequeue(out var read, out _))
        {
            read.Fail(ReadFailure.ShuttingDown, _core.LeaderId);
        }

        _transfer?.Finish(new TransferOutcome(TransferStatus.ShuttingDown, Id, _transfer.Target, _core.LeaderId, "the node is stopping"));
        _transfer = null;
        FailMembershipChange();
        while (_inbox.TryDequeue(out var input))
        {
            switch (input.Request)
            {
                case WriteRequest<TResult> write:
                    write.Finish(shuttingDown);
                    break;
                case ReadRequest<TStateMachine> read:
                    read.Fail(ReadFailure.ShuttingDown, _core.LeaderId);
                    break;
                case TransferRequest transfer:
                    transfer.Finish(new TransferOutcome(TransferStatus.ShuttingDown, Id, transfer.To, _core.LeaderId, "the node is stopping"));
                    break;
                case MembershipRequest change:
                    change.Finish(Outcome(MembershipStatus.ShuttingDown, 0, "the node is stopping"));
                    break;
            }
        }
    }
}
