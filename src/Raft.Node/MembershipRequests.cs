using Raft.Core;

namespace Raft.Node;

/// <summary>How a membership change ended.</summary>
public enum MembershipStatus : byte
{
    /// <summary>Committed at <see cref="MembershipOutcome.Index"/>: <see cref="MembershipOutcome.Membership"/> is in force.</summary>
    Committed,

    /// <summary>This node does not lead; <see cref="MembershipOutcome.LeaderId"/> does. Nothing was proposed.</summary>
    NotLeader,

    /// <summary>An earlier change is not committed yet, or a leadership transfer is under way. Nothing was proposed.</summary>
    ChangeInProgress,

    /// <summary>Not a valid single-server change of the current membership (see the detail). Nothing was proposed.</summary>
    Invalid,

    /// <summary>A learner to promote is further behind the leader's log than the request allows. Nothing was proposed.</summary>
    NotCaughtUp,

    /// <summary>Proposed, but this node stopped leading before the change committed: it may still take effect.</summary>
    LeadershipLost,

    /// <summary>The node's inbox was full. Nothing was proposed.</summary>
    Overloaded,

    /// <summary>Not committed within the request timeout; it may still take effect.</summary>
    TimedOut,

    /// <summary>The node stopped; a change already proposed may still take effect.</summary>
    ShuttingDown,
}

/// <summary>A membership change's outcome: the membership in force on this node when it ended, and what happened in words.</summary>
public readonly record struct MembershipOutcome(MembershipStatus Status, ulong Index, int LeaderId, Membership Membership, string Detail);

/// <summary>
/// One single-server membership change, answered once it commits. A promotion is refused unless the learner's log is
/// within <see cref="PromoteMaxLag"/> entries of the leader's. Completed once, on the driver's thread.
/// </summary>
public abstract class MembershipRequest
{
    protected MembershipRequest(MembershipChange change, ulong promoteMaxLag)
    {
        Change = change;
        PromoteMaxLag = promoteMaxLag;
    }

    public MembershipChange Change { get; }

    public ulong PromoteMaxLag { get; }

    /// <summary>The log index it was proposed at; 0 until it is.</summary>
    public ulong Index { get; internal set; }

    internal ulong Term { get; set; }

    internal ulong Deadline { get; set; }

    internal bool Finished { get; private set; }

    internal void Finish(in MembershipOutcome outcome)
    {
        if (Finished)
        {
            return;
        }

        Finished = true;
        OnCompleted(outcome);
    }

    protected abstract void OnCompleted(in MembershipOutcome outcome);
}
