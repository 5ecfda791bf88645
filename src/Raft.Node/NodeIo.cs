using Raft.Core;
using Raft.Storage;

namespace Raft.Node;

/// <summary>Where the driver's outbound messages go: the TCP transport in a server, a simulated network in tests.</summary>
public interface IOutbox
{
    /// <summary>
    /// Queues <paramref name="message"/> for its peer without blocking; losing a message is allowed: Raft retransmits.
    /// Entries are immutable and may be kept; a snapshot chunk's <see cref="Message.Data"/> is valid only during the call
    /// (the driver reuses its buffer), so an outbox that keeps the message copies it or encodes it at once.
    /// </summary>
    void Send(in Message message);
}

/// <summary>What a node makes durable, each behind its own small contract (with in-memory and file implementations).</summary>
public sealed record NodeStores(ILogStore Log, IHardStateStore HardState, ISnapshotStore Snapshots);

/// <summary>
/// What the driver tells its host as it works: for logs, metrics and traces in a server, and for the checkers in the
/// simulator. Every method runs on the driver's thread, inside the input that caused it, and must not call the
/// driver. Each has an empty default, so a host overrides only what it needs.
/// </summary>
public interface INodeEvents<TResult>
{
    /// <summary>A message handed to the outbox.</summary>
    void MessageSent(in Message message)
    {
    }

    /// <summary>A message from a peer, before the core steps it.</summary>
    void MessageReceived(in Message message)
    {
    }

    /// <summary>A message the core refused as a protocol violation; it changed nothing.</summary>
    void MessageRefused(in Message message, RaftProtocolException exception)
    {
    }

    void PeerUnreachable(int peer)
    {
    }

    /// <summary>The role or the known leader changed; <paramref name="campaignStarted"/> when this node began campaigning.</summary>
    void RoleChanged(RaftRole role, int leaderId, ulong term, bool campaignStarted)
    {
    }

    /// <summary>The write <paramref name="request"/> was appended to the leader's log at <paramref name="index"/>.</summary>
    void Proposed(WriteRequest<TResult> request, ulong index, ulong term)
    {
    }

    /// <summary>This leader appended a membership change at <paramref name="index"/>; <paramref name="membership"/> is in force from now.</summary>
    void MembershipProposed(MembershipChange change, ulong index, Membership membership)
    {
    }

    /// <summary>This leader began handing leadership back to the preferred leader (<paramref name="started"/>), or such a hand-over did not complete; <paramref name="what"/> says why.</summary>
    void Failback(int preferred, bool started, string what)
    {
    }

    /// <summary>Entries were handed to the log store (not yet durable).</summary>
    void EntriesAppended(ulong firstIndex, ulong lastIndex)
    {
    }

    /// <summary>The batch whose entries end at <paramref name="lastIndex"/> (0: none) is durable, hard state included.</summary>
    void Persisted(ulong lastIndex)
    {
    }

    /// <summary>
    /// The disk had no room for the waiting batch's entries or hard state (<paramref name="exception"/> says which
    /// file): nothing of it is acknowledged, new writes are refused, and it is tried again with backoff. Reported once
    /// when the node becomes stuck, and with <paramref name="exception"/> null when a retry succeeds.
    /// </summary>
    void DiskFull(bool full, DiskFullException? exception)
    {
    }

    /// <summary>The core's commit index rose to <paramref name="commitIndex"/>; the core may be inspected.</summary>
    void CommitAdvanced(ulong commitIndex)
    {
    }

    /// <summary>
    /// The core answered a read index request: confirmed at <see cref="ReadState.Index"/>, or failed. Reported before
    /// the driver serves the read or asks again, for every answer, including those of requests it no longer waits for.
    /// </summary>
    void ReadIndexAnswered(in ReadState state)
    {
    }

    /// <summary>An entry was applied (commands) or skipped (no-ops, memberships); <paramref name="result"/> is default for the latter.</summary>
    void Applied(in Entry entry, in TResult result)
    {
    }

    /// <summary>The state was frozen at <see cref="SnapshotMetadata.Index"/>; a background job now writes it out.</summary>
    void SnapshotStarted(SnapshotMetadata snapshot)
    {
    }

    /// <summary>A snapshot this node took (<paramref name="bytes"/> long) is durable and is now its latest.</summary>
    void SnapshotTaken(SnapshotMetadata snapshot, long bytes)
    {
    }

    /// <summary>A leader's snapshot (<paramref name="bytes"/> long) replaced this node's log and state.</summary>
    void SnapshotInstalled(SnapshotMetadata snapshot, long bytes)
    {
    }

    /// <summary>This leader began streaming its latest snapshot (<paramref name="bytes"/> long) to <paramref name="peer"/>.</summary>
    void SnapshotSendStarted(int peer, SnapshotMetadata snapshot, long bytes)
    {
    }

    /// <summary>
    /// Taking, sending, receiving or finishing a snapshot failed for a storage reason (<paramref name="what"/> says which):
    /// nothing was changed, and it is tried again.
    /// </summary>
    void SnapshotFailed(string what, Exception exception)
    {
    }
}

/// <summary>The events of a host that listens to none.</summary>
internal sealed class NoNodeEvents<TResult> : INodeEvents<TResult>
{
    public static readonly NoNodeEvents<TResult> Instance = new();
}
