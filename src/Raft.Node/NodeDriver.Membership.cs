using Raft.Core;

namespace Raft.Node;

public sealed partial class NodeDriver<TStateMachine, TResult>
{
    private MembershipRequest? _membershipChange;

    /// <summary>Whether this leader has a membership change proposed and not yet committed.</summary>
    public bool MembershipChangePending => _membershipChange is not null;

    // The driver tick since which the preferred leader has been caught up and answering, while this node leads.
    private ulong? _preferredReadySince;

    /// <summary>
    /// Proposes a single-server membership change (add a learner or voter, promote a learner, remove a member); answered
    /// once it commits, or with why it was not proposed. One at a time.
    /// </summary>
    public void ChangeMembership(MembershipRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfStopped();
        if (_unpersisted is not null)
        {
            if (!Enqueue(new Input(InputKind.Membership, default, 0, request, 0)))
            {
                request.Finish(Outcome(MembershipStatus.Overloaded, 0, "the node is overloaded"));
            }

            return;
        }

        ChangeMembershipNow(request);
    }

    private void ChangeMembershipNow(MembershipRequest request)
    {
        if (request.Finished)
        {
            return;
        }

        if (_core.Role != RaftRole.Leader)
        {
            request.Finish(Outcome(MembershipStatus.NotLeader, 0, _core.LeaderId == 0 ? "no leader is known" : $"node {_core.LeaderId} is the leader"));
            return;
        }

        if (_membershipChange is { } pending)
        {
            request.Finish(Outcome(MembershipStatus.ChangeInProgress, 0, $"the change {Describe(pending.Change)} at index {pending.Index} is not committed yet"));
            return;
        }

        var change = request.Change;
        if (change.Kind == MembershipChangeKind.PromoteLearner && _core.Membership.IsLearner(change.NodeId))
        {
            var lag = TryGetLag(change.NodeId, out var behind) ? behind : _core.LastIndex;
            if (lag > request.PromoteMaxLag)
            {
                request.Finish(Outcome(MembershipStatus.NotCaughtUp, 0, $"node {change.NodeId} has entries up to {_core.LastIndex - lag} of the leader's {_core.LastIndex}: {lag} behind, more than the {request.PromoteMaxLag} a promotion allows"));
                return;
            }
        }

        var result = _core.ProposeMembershipChange(change, out var index, out var error);
        switch (result)
        {
            case ProposeResult.Accepted:
                request.Index = index;
                request.Term = _core.Term;
                request.Deadline = _ticks + (ulong)_options.RequestTimeoutTicks;
                _membershipChange = request;
                _events.MembershipProposed(change, index, _core.Membership);
                break;
            case ProposeResult.NotLeader:
                request.Finish(Outcome(MembershipStatus.NotLeader, 0, "this node stopped leading"));
                break;
            case ProposeResult.TransferInProgress:
                request.Finish(Outcome(MembershipStatus.ChangeInProgress, 0, "a leadership transfer is under way"));
                break;
            case ProposeResult.MembershipChangePending:
                request.Finish(Outcome(MembershipStatus.ChangeInProgress, 0, error ?? "an earlier membership change is not committed yet"));
                break;
            default:
                request.Finish(Outcome(MembershipStatus.Invalid, 0, error ?? $"refused: {result}"));
                break;
        }
    }

    // Between batches: the pending change committed, or this node can no longer tell.
    private void CheckMembershipChange()
    {
        if (_membershipChange is not { } request)
        {
            return;
        }

        if (_core.CommitIndex >= request.Index)
        {
            var term = _core.TermAt(request.Index);
            if (term == request.Term || (term == 0 && _core.Term == request.Term))
            {
                request.Finish(Outcome(MembershipStatus.Committed, request.Index, $"{Describe(request.Change)} committed at index {request.Index}"));
            }
            else
            {
                request.Finish(Outcome(MembershipStatus.LeadershipLost, 0, $"another leader's entry took index {request.Index}: the change was not made"));
            }

            _membershipChange = null;
        }
        else if (_core.Role != RaftRole.Leader || _core.Term != request.Term)
        {
            request.Finish(Outcome(MembershipStatus.LeadershipLost, request.Index, $"this node stopped leading before index {request.Index} committed: the change may still take effect"));
            _membershipChange = null;
        }
        else if (_ticks > request.Deadline)
        {
            request.Finish(Outcome(MembershipStatus.TimedOut, request.Index, $"index {request.Index} did not commit within the request timeout: the change may still take effect"));
            _membershipChange = null;
        }
    }

    // Between batches, on a leader that is not the preferred one: hand leadership back once the preferred voter has been
    // caught up and answering for the failback delay, unless a transfer or a membership change is under way.
    private void CheckFailback()
    {
        var preferred = _options.PreferredLeader;
        if (preferred == 0 || preferred == Id || _core.Role != RaftRole.Leader || _transfer is not null || _membershipChange is not null
            || !_core.Membership.IsVoter(preferred) || !_core.IsCaughtUpAndResponsive(preferred))
        {
            _preferredReadySince = null;
            return;
        }

        _preferredReadySince ??= _ticks;
        if (_ticks - _preferredReadySince.Value < (ulong)_options.FailbackDelayTicks)
        {
            return;
        }

        _preferredReadySince = null;
        _events.Failback(preferred, started: true, $"node {preferred} is the preferred leader and has been caught up and answering for {_options.FailbackDelayTicks} ticks");
        TransferNow(new FailbackTransfer(preferred, _events));
    }

    private void FailMembershipChange()
    {
        _membershipChange?.Finish(Outcome(MembershipStatus.ShuttingDown, _membershipChange.Index, "the node is stopping"));
        _membershipChange = null;
    }

    private MembershipOutcome Outcome(MembershipStatus status, ulong index, string detail) =>
        new(status, index, _core.LeaderId, _core.Membership, detail);

    private static string Describe(MembershipChange change) => change.Kind switch
    {
        MembershipChangeKind.AddLearner => $"adding node {change.NodeId} as a learner",
        MembershipChangeKind.AddVoter => $"adding node {change.NodeId} as a voter",
        MembershipChangeKind.PromoteLearner => $"promoting node {change.NodeId}",
        MembershipChangeKind.Remove => $"removing node {change.NodeId}",
        _ => change.ToString(),
    };

    private sealed class FailbackTransfer(int to, INodeEvents<TResult> events) : TransferRequest(to)
    {
        protected override void OnCompleted(in TransferOutcome outcome)
        {
            if (outcome.Status != TransferStatus.Moved)
            {
                events.Failback(To, started: false, $"the hand-over to node {To} did not complete: {outcome.Detail}");
            }
        }
    }
}
