using Raft.KeyValue;

namespace Raft.Server;

/// <summary>Why the node could not carry out a request. Each maps to one HTTP answer.</summary>
public enum NodeErrorCode
{
    /// <summary>This node is not the leader; <see cref="NodeRequestException.LeaderId"/> names the one it knows (or 0).</summary>
    NotLeader,

    /// <summary>No leader is known: an election is under way.</summary>
    NoLeader,

    /// <summary>Leadership changed before the proposal was applied: it may or may not be committed later.</summary>
    LeadershipLost,

    /// <summary>Another leader's entry took the proposal's place in the log: it was not applied.</summary>
    Overwritten,

    /// <summary>Too much work is queued; retry later.</summary>
    Overloaded,

    /// <summary>Leadership is being handed over; retry on the new leader.</summary>
    TransferInProgress,

    /// <summary>A linearizable read could not be confirmed (leadership changed or the leader did not answer).</summary>
    ReadFailed,

    /// <summary>The node is stopping.</summary>
    ShuttingDown,
}

/// <summary>An expected failure of a request handed to the node loop.</summary>
public sealed class NodeRequestException : Exception
{
    public NodeRequestException()
    {
    }

    public NodeRequestException(string message)
        : base(message)
    {
    }

    public NodeRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NodeRequestException(NodeErrorCode code, int leaderId, string message)
        : base(message)
    {
        Code = code;
        LeaderId = leaderId;
    }

    public NodeErrorCode Code { get; }

    /// <summary>The leader this node knew of when the request failed, or 0.</summary>
    public int LeaderId { get; }
}

/// <summary>How fresh a read must be.</summary>
public enum ReadConsistency
{
    /// <summary>ReadIndex through the leader: reflects every write acknowledged before the read began.</summary>
    Linearizable,

    /// <summary>The leader's lease (no round trip); leader only. Falls back to ReadIndex when the lease is not held.</summary>
    Lease,

    /// <summary>This node's state as applied; may lag.</summary>
    Stale,
}

/// <summary>A write's outcome: the log index it was applied at, and what the state machine answered.</summary>
public readonly record struct WriteOutcome(KvApplyResult Result, ulong Term);

/// <summary>A proposal waiting in the loop; completed off the loop thread (continuations run asynchronously).</summary>
internal sealed class ProposalRequest(byte[] command, long startTimestamp)
{
    public byte[] Command { get; } = command;

    public long StartTimestamp { get; } = startTimestamp;

    /// <summary>The term in which the entry was appended; the write took effect if the entry applied at its index has it.</summary>
    public ulong Term { get; set; }

    /// <summary>The loop tick at which it was held back while leadership was being handed over.</summary>
    public ulong HeldTick { get; set; }

    public TaskCompletionSource<WriteOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>A read; <see cref="Serve"/> runs on the loop thread once the state machine has applied far enough.</summary>
internal abstract class ReadRequest(ReadConsistency consistency)
{
    public ReadConsistency Consistency { get; } = consistency;

    /// <summary>The loop tick at which a ReadIndex was asked for, to give up on answers that never come.</summary>
    public ulong AskedTick { get; set; }

    /// <summary>The leader the ReadIndex was asked of (this node's id when it led).</summary>
    public int AskedOf { get; set; }

    /// <summary>How many times the read was asked: a change of leader asks again, a few times at most.</summary>
    public int Attempts { get; set; }

    public abstract void Serve(KvStore store);

    public abstract void Fail(Exception error);
}

/// <summary>The value of one key (or its absence) as of the applied index.</summary>
public readonly record struct GetOutcome(bool Found, KvValue Value, ulong AppliedIndex);

internal sealed class GetRequest(string key, ReadConsistency consistency) : ReadRequest(consistency)
{
    public TaskCompletionSource<GetOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Serve(KvStore store)
    {
        var found = store.TryGet(key, out var value);
        Completion.TrySetResult(new GetOutcome(found, value, store.AppliedIndex));
    }

    public override void Fail(Exception error) => Completion.TrySetException(error);
}

/// <summary>Keys under a prefix as of the applied index.</summary>
public sealed record ListOutcome(List<KvListItem> Items, bool More, ulong AppliedIndex);

internal sealed class ListRequest(string prefix, int limit, ReadConsistency consistency) : ReadRequest(consistency)
{
    public TaskCompletionSource<ListOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Serve(KvStore store)
    {
        var items = new List<KvListItem>(Math.Min(limit, 256));
        var more = store.List(prefix, limit, items);
        Completion.TrySetResult(new ListOutcome(items, more, store.AppliedIndex));
    }

    public override void Fail(Exception error) => Completion.TrySetException(error);
}

/// <summary>A lock as of the applied index; <see cref="Held"/> false when nobody holds it.</summary>
public readonly record struct LockOutcome(bool Held, KvLock Lock, ulong AppliedIndex);

internal sealed class LockReadRequest(string name, long nowMs, ReadConsistency consistency) : ReadRequest(consistency)
{
    public TaskCompletionSource<LockOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Serve(KvStore store)
    {
        var held = store.TryGetLock(name, nowMs, out var value);
        Completion.TrySetResult(new LockOutcome(held, value, store.AppliedIndex));
    }

    public override void Fail(Exception error) => Completion.TrySetException(error);
}

/// <summary>The outcome of a leadership transfer request.</summary>
public readonly record struct TransferOutcome(bool Completed, int From, int To, int LeaderId, string Detail);

internal sealed class TransferRequest(int to)
{
    public int To { get; } = to;

    /// <summary>The target actually chosen (<see cref="To"/>, or the most up-to-date follower).</summary>
    public int Target { get; set; }

    public ulong DeadlineTick { get; set; }

    public TaskCompletionSource<TransferOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>One member as the cluster endpoint reports it.</summary>
public sealed record MemberStatus(int Id, string? Peer, string? Http, bool Voter, string Role, ulong? MatchIndex, ulong? Lag);

/// <summary>This node's view of the cluster, taken on the loop thread.</summary>
public sealed record ClusterStatus(
    int NodeId,
    string Role,
    ulong Term,
    int LeaderId,
    DateTimeOffset? LeaderSince,
    ulong CommitIndex,
    ulong AppliedIndex,
    ulong LastIndex,
    IReadOnlyList<MemberStatus> Members);

internal sealed class StatusRequest
{
    public TaskCompletionSource<ClusterStatus> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
