using Raft.Core;

namespace Raft.Node;

/// <summary>
/// Settings of a <see cref="NodeDriver{TStateMachine, TResult}"/>. Like the core's, every duration is in ticks: the
/// host converts milliseconds once, when it builds these options, and then only counts ticks.
/// </summary>
public sealed record NodeDriverOptions
{
    /// <summary>The core's settings; its id is this node's.</summary>
    public required RaftOptions Raft { get; init; }

    /// <summary>
    /// How long a request that needs the leader waits for one to be known (an election, a hand-over) before it is
    /// answered "no leader"; also how long a deposed leader waits to learn whether its pending writes committed
    /// before it answers "leadership lost".
    /// </summary>
    public int LeaderWaitTicks { get; init; } = 200;

    /// <summary>How long a write or a read may take in all before it is answered "timed out" (its outcome unknown).</summary>
    public int RequestTimeoutTicks { get; init; } = 2000;

    /// <summary>Take a snapshot once this many entries are applied past the last one.</summary>
    public int SnapshotEveryEntries { get; init; } = 10_000;

    /// <summary>Take a snapshot once entries of this many bytes (<see cref="Entry.SizeBytes"/>) are applied past the last one.</summary>
    public long SnapshotEveryLogBytes { get; init; } = 64L << 20;

    /// <summary>
    /// Whatever else is due, a snapshot waits until the entries applied since the last one add up to at least this
    /// percentage of that snapshot's size (0: never waits). A snapshot rewrites the whole state, so without it a store of
    /// 1 GiB would be written out again for every 64 MiB of writes; at 25, each byte of log costs at most four bytes of
    /// snapshot, and a restart replays at most a quarter of the state's size from the log.
    /// </summary>
    public int SnapshotMinLogPercent { get; init; } = 25;

    /// <summary>
    /// Entries kept in the log behind the latest snapshot, so that a follower only a little behind catches up from
    /// entries instead of a whole snapshot.
    /// </summary>
    public int SnapshotTrailingEntries { get; init; } = 5_000;

    /// <summary>The most snapshot bytes in one chunk sent to a follower; it must fit in a peer frame.</summary>
    public int SnapshotChunkBytes { get; init; } = 1 << 20;

    /// <summary>Chunks of one snapshot transfer sent and not yet acknowledged, at most (the flow control window).</summary>
    public int SnapshotChunksInFlight { get; init; } = 4;

    /// <summary>
    /// Recovery after losing a majority for good (etcd's <c>--force-new-cluster</c>): at start, this node makes itself the
    /// only member and counts every entry in its log as committed, even ones the old cluster never committed, so it can
    /// lead alone. Only for a node the operator chose as the survivor; never on more than one node of a cluster.
    /// </summary>
    public bool ForceNewCluster { get; init; }

    /// <summary>
    /// Failback: the voter that should lead when it can (0: none). A leader that is not this node hands leadership to it
    /// once it has been caught up and answering for <see cref="FailbackDelayTicks"/>, so that after a failover the
    /// cluster returns to its normal shape on its own.
    /// </summary>
    public int PreferredLeader { get; init; }

    /// <summary>How long the preferred leader must stay caught up and answering before leadership is handed back to it.</summary>
    public int FailbackDelayTicks { get; init; } = 1000;

    /// <summary>Writes held during a hand-over or an election, and reads waiting to be asked of a leader, at most.</summary>
    public int HeldRequestsMax { get; init; } = 16_384;

    /// <summary>How many times a linearizable read is asked again when leadership moves before it is confirmed.</summary>
    public int ReadAttemptsMax { get; init; } = 4;

    /// <summary>Inputs queued while a batch waits for the disk; beyond this, messages are dropped and requests refused.</summary>
    public int InboxMax { get; init; } = 65_536;

    /// <summary>
    /// While the disk is full, the write that found it so is tried again after 1 tick, then after twice as long each
    /// time, up to this many ticks between attempts.
    /// </summary>
    public int DiskFullRetryTicksMax { get; init; } = 100;

    /// <summary>A linearizable read not confirmed by its leader within this many ticks is answered "not confirmed".</summary>
    public int ReadConfirmTicks => 2 * Raft.ElectionTimeoutTicks;

    /// <summary>A leadership transfer that has not completed within this many ticks is reported as failed.</summary>
    public int TransferTimeoutTicks => 2 * Raft.ElectionTimeoutTicks;

    /// <summary>
    /// A snapshot transfer that heard nothing for this long resends from what the follower holds. Well under an
    /// election timeout, so the answers keep the core from giving up on a large transfer.
    /// </summary>
    public int SnapshotRetryTicks => Math.Max(1, Raft.ElectionTimeoutTicks / 3);

    /// <summary>A follower drops a snapshot transfer no chunk arrived for in this long (and its temporary file).</summary>
    public int SnapshotAbandonTicks => 10 * Raft.ElectionTimeoutTicks;

    /// <summary>After a snapshot could not be taken (a full disk), the next attempt waits this long.</summary>
    public int SnapshotRetryAfterFailureTicks => 10 * Raft.ElectionTimeoutTicks;

    /// <summary>Throws when a setting is out of range; called by the driver at start-up.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Raft);
        Raft.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(LeaderWaitTicks);
        ArgumentOutOfRangeException.ThrowIfLessThan(RequestTimeoutTicks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(SnapshotEveryEntries, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(SnapshotEveryLogBytes, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(SnapshotMinLogPercent);
        ArgumentOutOfRangeException.ThrowIfNegative(SnapshotTrailingEntries);
        ArgumentOutOfRangeException.ThrowIfLessThan(SnapshotChunkBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(SnapshotChunksInFlight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(HeldRequestsMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReadAttemptsMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(InboxMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(DiskFullRetryTicksMax, 1);
    }
}
