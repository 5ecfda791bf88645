using System.Diagnostics;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server;

/// <summary>A read's outcome: served with <see cref="Value"/>, or not, for <see cref="Failure"/> (the leader known then is named).</summary>
public readonly record struct ReadOutcome<T>(bool Served, T Value, ReadFailure Failure, int LeaderId);

internal static class ReadOutcome
{
    public static ReadOutcome<T> Failed<T>(ReadFailure failure, int leaderId) => new(false, default!, failure, leaderId);
}

/// <summary>The value of one key (or its absence) as of the applied index.</summary>
public readonly record struct GetOutcome(bool Found, KvValue Value, ulong AppliedIndex);

/// <summary>Keys under a prefix as of the applied index.</summary>
public sealed record ListOutcome(List<KvListItem> Items, bool More, ulong AppliedIndex);

/// <summary>A lock as of the applied index; <see cref="Held"/> false when nobody holds it.</summary>
public readonly record struct LockOutcome(bool Held, KvLock Lock, ulong AppliedIndex, ulong Lease = 0);

/// <summary>A request the node's thread never got to: answered as the driver answers what it held when it stops.</summary>
internal interface IShutdownAnswer
{
    void AnswerShuttingDown();
}

/// <summary>
/// What the leader path allows a write during a leadership hand-over: <see cref="Allowed"/>, that the leader pass it on
/// to the hand-over's target (<see cref="WriteRequest{TResult}.CanHandOver"/>); <see cref="From"/>, the leader that
/// passed it on to this node, or 0 (<see cref="WriteRequest{TResult}.HandedOverBy"/>).
/// </summary>
internal readonly record struct HandOver(bool Allowed, int From);

/// <summary>
/// A write from the HTTP layer; completed on the node's thread, its continuation runs elsewhere. <see cref="Span"/>
/// is its <c>raft.propose</c> span when it is traced; the node's thread adds the steps and ends it with the outcome.
/// </summary>
internal sealed class ProposalRequest(byte[] command, NodeMetrics metrics, Activity? span = null) : WriteRequest<KvApplyResult>(command), IShutdownAnswer
{
    private readonly long _started = Stopwatch.GetTimestamp();

    public TaskCompletionSource<WriteOutcome<KvApplyResult>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Activity? Span { get; } = span;

    protected override void OnCompleted(in WriteOutcome<KvApplyResult> outcome)
    {
        if (outcome.Status == WriteStatus.Applied)
        {
            metrics.ObserveProposal(Stopwatch.GetElapsedTime(_started));
        }

        if (Span is not null)
        {
            NodeTracing.EndPropose(Span, outcome.Status, outcome.Index);
        }

        Completion.TrySetResult(outcome);
    }

    public void AnswerShuttingDown()
    {
        if (Span is not null)
        {
            NodeTracing.EndPropose(Span, WriteStatus.ShuttingDown, 0);
        }

        Completion.TrySetResult(new WriteOutcome<KvApplyResult>(WriteStatus.ShuttingDown, 0, 0, 0, default));
    }
}

/// <summary>A read from the HTTP layer: <see cref="Read"/> takes what it needs from the store on the node's thread.</summary>
internal abstract class StoreRead<T>(ReadConsistency consistency) : ReadRequest<KvStore>(consistency), IShutdownAnswer
{
    public TaskCompletionSource<ReadOutcome<T>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected abstract T Read(KvStore store);

    protected override void OnServed(KvStore stateMachine) => Completion.TrySetResult(new ReadOutcome<T>(true, Read(stateMachine), default, 0));

    protected override void OnFailed(ReadFailure failure, int leaderId) => Completion.TrySetResult(ReadOutcome.Failed<T>(failure, leaderId));

    public void AnswerShuttingDown() => Completion.TrySetResult(ReadOutcome.Failed<T>(ReadFailure.ShuttingDown, 0));
}

internal sealed class GetRead(string key, ReadConsistency consistency) : StoreRead<GetOutcome>(consistency)
{
    protected override GetOutcome Read(KvStore store) => new(store.TryGet(key, out var value), value, store.AppliedIndex);
}

internal sealed class ListRead(string prefix, string? after, int limit, ReadConsistency consistency) : StoreRead<ListOutcome>(consistency)
{
    protected override ListOutcome Read(KvStore store)
    {
        var items = new List<KvListItem>(Math.Min(limit, 256));
        var more = store.List(prefix, after, limit, items);
        return new ListOutcome(items, more, store.AppliedIndex);
    }
}

/// <summary>Held or not is judged at max(the store's time, the reading node's clock when the read was made).</summary>
internal sealed class LockRead(string name, long nowMs, ReadConsistency consistency) : StoreRead<LockOutcome>(consistency)
{
    protected override LockOutcome Read(KvStore store) => new(store.TryGetLock(name, nowMs, out var value, out var lease), value, store.AppliedIndex, lease);
}

/// <summary>Any read of the store: <paramref name="read"/> runs on the node's thread once the read may be served.</summary>
internal sealed class StoreQuery<T>(Func<KvStore, T> read, ReadConsistency consistency) : StoreRead<T>(consistency)
{
    protected override T Read(KvStore store) => read(store);
}

/// <summary>A frozen image of the state at the applied index and the snapshot metadata it carries: what a backup streams.</summary>
public sealed record CapturedImage(SnapshotMetadata Metadata, IStateMachineImage Image);

/// <summary>Freezes the state where the read is served; the image is written out on the caller's thread.</summary>
internal sealed class ImageRead(NodeDriver<KvStore, KvApplyResult> driver, ReadConsistency consistency) : StoreRead<CapturedImage>(consistency)
{
    protected override CapturedImage Read(KvStore store)
    {
        var image = store.CaptureImage();
        return new CapturedImage(driver.SnapshotMetadataAt(image.Index), image);
    }
}

internal sealed class TransferCall(int to) : TransferRequest(to), IShutdownAnswer
{
    public TaskCompletionSource<TransferOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override void OnCompleted(in TransferOutcome outcome) => Completion.TrySetResult(outcome);

    public void AnswerShuttingDown() => Completion.TrySetResult(new TransferOutcome(TransferStatus.ShuttingDown, 0, To, 0, "the node is stopping"));
}

internal sealed class MembershipCall(MembershipChange change, ulong promoteMaxLag) : MembershipRequest(change, promoteMaxLag), IShutdownAnswer
{
    public TaskCompletionSource<MembershipOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override void OnCompleted(in MembershipOutcome outcome) => Completion.TrySetResult(outcome);

    public void AnswerShuttingDown() => Completion.TrySetResult(new MembershipOutcome(MembershipStatus.ShuttingDown, 0, 0, Membership.Empty, "the node is stopping"));
}

internal sealed class StatusCall : IShutdownAnswer
{
    public TaskCompletionSource<ClusterStatusResponse?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void AnswerShuttingDown() => Completion.TrySetResult(null);
}

/// <summary>An operator's request for a snapshot now; answered with what the driver did, or null when the node is stopping.</summary>
internal sealed class SnapshotCall : IShutdownAnswer
{
    public TaskCompletionSource<(SnapshotRequestStatus Status, ulong Index)?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void AnswerShuttingDown() => Completion.TrySetResult(null);
}
