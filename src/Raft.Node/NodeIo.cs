using Raft.Core;
using Raft.Storage;

namespace Raft.Node;

/// <summary>Where the driver's outbound messages go: the TCP transport in a server, a simulated network in tests.</summary>
public interface IOutbox
{
    /// <summary>
    /// Queues <paramref name="message"/> for its peer without blocking. The implementation copies or encodes what it
    /// keeps (entries, snapshot) or relies on their immutability; losing a message is allowed: Raft retransmits.
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

    /// <summary>A write was appended to the leader's log at <paramref name="index"/>.</summary>
    void Proposed(ulong index, ulong term)
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

    void SnapshotTaken(Snapshot snapshot)
    {
    }

    /// <summary>A leader's snapshot replaced this node's log and state.</summary>
    void SnapshotInstalled(Snapshot snapshot)
    {
    }
}

/// <summary>The events of a host that listens to none.</summary>
internal sealed class NoNodeEvents<TResult> : INodeEvents<TResult>
{
    public static readonly NoNodeEvents<TResult> Instance = new();
}
