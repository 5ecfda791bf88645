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

    /// <summary>Compact the log with a snapshot once this many entries are applied past the last one.</summary>
    public int SnapshotEveryEntries { get; init; } = 10_000;

    /// <summary>Writes held during a hand-over or an election, and reads waiting to be asked of a leader, at most.</summary>
    public int HeldRequestsMax { get; init; } = 16_384;

    /// <summary>How many times a linearizable read is asked again when leadership moves before it is confirmed.</summary>
    public int ReadAttemptsMax { get; init; } = 4;

    /// <summary>Inputs queued while a batch waits for the disk; beyond this, messages are dropped and requests refused.</summary>
    public int InboxMax { get; init; } = 65_536;

    /// <summary>A linearizable read not confirmed by its leader within this many ticks is answered "not confirmed".</summary>
    public int ReadConfirmTicks => 2 * Raft.ElectionTimeoutTicks;

    /// <summary>A leadership transfer that has not completed within this many ticks is reported as failed.</summary>
    public int TransferTimeoutTicks => 2 * Raft.ElectionTimeoutTicks;

    /// <summary>Throws when a setting is out of range; called by the driver at start-up.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Raft);
        Raft.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(LeaderWaitTicks);
        ArgumentOutOfRangeException.ThrowIfLessThan(RequestTimeoutTicks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(SnapshotEveryEntries, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(HeldRequestsMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReadAttemptsMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(InboxMax, 1);
    }
}
