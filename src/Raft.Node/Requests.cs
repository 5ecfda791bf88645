using Raft.Core;

namespace Raft.Node;

/// <summary>How a write ended. Only <see cref="Applied"/> carries the state machine's answer.</summary>
public enum WriteStatus : byte
{
    /// <summary>Committed and applied at <see cref="WriteOutcome{TResult}.Index"/>.</summary>
    Applied,

    /// <summary>This node does not lead; <see cref="WriteOutcome{TResult}.LeaderId"/> does. Nothing was proposed here.</summary>
    NotLeader,

    /// <summary>No leader became known within the leader wait. Nothing was proposed.</summary>
    NoLeader,

    /// <summary>Proposed, but this node stopped leading before it learned the entry's fate: it may still commit.</summary>
    LeadershipLost,

    /// <summary>Another leader's entry took the proposal's index: it was not applied and never will be.</summary>
    NotApplied,

    /// <summary>Refused for want of room (uncommitted bytes, held requests, the inbox). Nothing was proposed.</summary>
    Overloaded,

    /// <summary>No outcome within the request timeout; it may or may not be applied.</summary>
    TimedOut,

    /// <summary>The node stopped; a write already proposed may or may not be applied.</summary>
    ShuttingDown,

    /// <summary>This node's disk is full, so it cannot append to its log. Nothing was proposed.</summary>
    DiskFull,

    /// <summary>
    /// This leader is handing leadership to <see cref="WriteOutcome{TResult}.LeaderId"/>, which was told to campaign:
    /// send the write there, marked <see cref="WriteRequest{TResult}.HandedOverBy"/>, to be proposed in the new leader's
    /// first batch. Only for writes that allow it (<see cref="WriteRequest{TResult}.CanHandOver"/>). Nothing was proposed.
    /// </summary>
    HandedOver,
}

/// <summary>A write's outcome; <see cref="Result"/> is meaningful only when <see cref="Status"/> is <see cref="WriteStatus.Applied"/>.</summary>
public readonly record struct WriteOutcome<TResult>(WriteStatus Status, ulong Index, ulong Term, int LeaderId, TResult Result);

/// <summary>How fresh a read must be.</summary>
public enum ReadConsistency : byte
{
    /// <summary>ReadIndex through the leader: reflects every write acknowledged before the read began.</summary>
    Linearizable,

    /// <summary>The leader's lease (no round trip); leader only. Falls back to ReadIndex when the lease is not held.</summary>
    Lease,

    /// <summary>This node's state as applied; may lag.</summary>
    Stale,
}

/// <summary>Why a read was not served.</summary>
public enum ReadFailure : byte
{
    /// <summary>A lease read reached a node that does not lead; the leader is named.</summary>
    NotLeader,

    /// <summary>No leader became known within the leader wait.</summary>
    NoLeader,

    /// <summary>The leader did not confirm the read index (it lost leadership, or kept changing, or did not answer).</summary>
    NotConfirmed,

    /// <summary>Too many reads are waiting.</summary>
    Overloaded,

    /// <summary>The read index was known but this node did not apply that far within the request timeout.</summary>
    TimedOut,

    /// <summary>The node stopped.</summary>
    ShuttingDown,
}

/// <summary>
/// A write as the driver carries it: a command (opaque to the driver), and the answer it waits for. The host
/// derives its own request type and receives exactly one <see cref="OnCompleted"/>.
/// </summary>
/// <remarks>
/// <see cref="Command"/> is handed over with the request: the state machine stamps the leader's time into it just
/// before it is proposed, and from then on the log, the core and in-flight messages share it, so nobody may write
/// it again. <see cref="OnCompleted"/> runs on the driver's thread: it must not block and must not call the driver.
/// </remarks>
public abstract class WriteRequest<TResult>
{
    protected WriteRequest(byte[] command)
    {
        ArgumentNullException.ThrowIfNull(command);
        Command = command;
    }

    public byte[] Command { get; }

    /// <summary>
    /// Set by a host that can pass the write on to another node: during a hand-over whose target was told to campaign,
    /// the leader answers it <see cref="WriteStatus.HandedOver"/> instead of holding it until the hand-over ends.
    /// </summary>
    public bool CanHandOver { get; init; }

    /// <summary>
    /// The leader that handed this write over (<see cref="WriteStatus.HandedOver"/>), or 0. Such a write is held while
    /// this node does not lead and knows no leader but that one: the node it came from is giving leadership up, most
    /// likely to this node, which then proposes it with its first entries.
    /// </summary>
    public int HandedOverBy { get; init; }

    /// <summary>The term in which it was appended; it took effect if the entry applied at <see cref="Index"/> has it.</summary>
    internal ulong Term { get; set; }

    internal ulong Index { get; set; }

    /// <summary>The driver tick at which it began waiting for a leader or for a hand-over to end.</summary>
    internal ulong HeldSince { get; set; }

    internal ulong Deadline { get; set; }

    internal bool Finished { get; private set; }

    internal void Finish(in WriteOutcome<TResult> outcome)
    {
        if (Finished)
        {
            return;
        }

        Finished = true;
        OnCompleted(outcome);
    }

    protected abstract void OnCompleted(in WriteOutcome<TResult> outcome);
}

/// <summary>
/// A read as the driver carries it. The host derives its own type: <see cref="OnServed"/> reads what it needs from
/// the state machine once it has applied far enough; <see cref="OnFailed"/> says why it could not be. Exactly one of
/// the two is called, once, on the driver's thread; neither may block or call the driver.
/// </summary>
public abstract class ReadRequest<TStateMachine>
{
    protected ReadRequest(ReadConsistency consistency)
    {
        Consistency = consistency;
    }

    public ReadConsistency Consistency { get; }

    /// <summary>The driver tick at which a read index was last asked for (or the read began waiting for a leader).</summary>
    internal ulong AskedTick { get; set; }

    /// <summary>The leader the read index was asked of (this node's id when it led).</summary>
    internal int AskedOf { get; set; }

    internal int Attempts { get; set; }

    internal ulong Deadline { get; set; }

    internal bool Finished { get; private set; }

    internal void Serve(TStateMachine stateMachine)
    {
        if (!Finished)
        {
            Finished = true;
            OnServed(stateMachine);
        }
    }

    internal void Fail(ReadFailure failure, int leaderId)
    {
        if (!Finished)
        {
            Finished = true;
            OnFailed(failure, leaderId);
        }
    }

    protected abstract void OnServed(TStateMachine stateMachine);

    protected abstract void OnFailed(ReadFailure failure, int leaderId);
}

/// <summary>How a leadership transfer ended.</summary>
public enum TransferStatus : byte
{
    /// <summary>The target leads now.</summary>
    Moved,

    /// <summary>This node does not lead; <see cref="TransferOutcome.LeaderId"/> does.</summary>
    NotLeader,

    /// <summary>Not started or not completed: another transfer is under way, no follower to hand to, another node took over, or time ran out.</summary>
    Failed,

    /// <summary>The node stopped.</summary>
    ShuttingDown,
}

/// <summary>A transfer's outcome; <see cref="Detail"/> says what happened in words.</summary>
public readonly record struct TransferOutcome(TransferStatus Status, int From, int Target, int LeaderId, string Detail);

/// <summary>A planned hand-over to <see cref="To"/> (0: the most up-to-date follower); completed once, on the driver's thread.</summary>
public abstract class TransferRequest
{
    protected TransferRequest(int to)
    {
        To = to;
    }

    public int To { get; }

    internal int Target { get; set; }

    internal ulong Deadline { get; set; }

    internal bool Finished { get; private set; }

    internal void Finish(in TransferOutcome outcome)
    {
        if (!Finished)
        {
            Finished = true;
            OnCompleted(outcome);
        }
    }

    protected abstract void OnCompleted(in TransferOutcome outcome);
}

/// <summary>What the driver last published: cheap to read, replaced (never mutated) after every batch.</summary>
/// <remarks>
/// <see cref="Membership"/> is the configuration in force on this node (the latest in its log), with the addresses of its
/// members. <see cref="DiskFull"/>: a write to the log or the hard state found no room and the node waits for space.
/// </remarks>
public sealed record NodeView(RaftRole Role, ulong Term, int LeaderId, ulong CommitIndex, ulong AppliedIndex, Membership Membership, bool DiskFull = false)
{
    public static readonly NodeView Initial = new(RaftRole.Follower, 0, 0, 0, 0, Membership.Empty);
}

/// <summary>
/// One member as this node sees it; <see cref="MatchIndex"/> is known for itself, and for others only on the leader.
/// <see cref="Lag"/> is this node's last index minus <see cref="MatchIndex"/> (<see cref="NodeDriver{TStateMachine, TResult}.TryGetLag"/>).
/// </summary>
public readonly record struct MemberProgress(int Id, bool IsVoter, bool IsLeader, ulong? MatchIndex, ulong? Lag);

/// <summary>This node's view of the cluster, taken on the driver's thread.</summary>
public sealed record NodeStatus(
    int Id,
    RaftRole Role,
    ulong Term,
    int LeaderId,
    ulong CommitIndex,
    ulong AppliedIndex,
    ulong LastIndex,
    IReadOnlyList<MemberProgress> Members)
{
    /// <summary>The configuration in force on this node, with its members' addresses.</summary>
    public Membership Membership { get; init; } = Membership.Empty;

    /// <summary>The log index of the configuration in force (0: the one the cluster was bootstrapped with).</summary>
    public ulong ConfigIndex { get; init; }

    /// <summary>The leader's membership change not committed yet (null when none, or on a follower).</summary>
    public string? ChangeInProgress { get; init; }
}
