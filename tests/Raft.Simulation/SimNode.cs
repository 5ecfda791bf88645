using Raft.Core;
using Raft.Storage;

namespace Raft.Simulation;

/// <summary>One simulated server: its Raft core, its disk, its state machine and its pending work.</summary>
internal sealed class SimNode(int id)
{
    public int Id { get; } = id;

    public RaftNode? Raft { get; set; }

    /// <summary>Running now. A crashed or decommissioned node is not.</summary>
    public bool Alive => Raft is not null;

    /// <summary>Removed from the cluster and stopped; restarted only if added again.</summary>
    public bool Decommissioned { get; set; }

    /// <summary>Has ever been started (and so has a disk).</summary>
    public bool Started { get; set; }

    public long RestartAtTick { get; set; } = -1;

    public KvStateMachine StateMachine { get; set; } = new();

    // What survives a crash: the same storage contracts the server's file stores implement.
    public MemoryLogStore Log { get; } = new();

    public MemoryHardStateStore HardStates { get; } = new();

    public MemorySnapshotStore Snapshots { get; } = new();

    /// <summary>The membership a node of the initial cluster is configured with (empty for a spare).</summary>
    public Membership BootstrapMembership { get; set; } = Membership.Empty;

    public Snapshot LatestSnapshot => Snapshots.TryLoadLatest(out var snapshot)
        ? snapshot
        : new Snapshot(new SnapshotMetadata(0, 0, BootstrapMembership), ReadOnlyMemory<byte>.Empty);

    public HardState DurableHardState => HardStates.TryLoad(out var state) ? state : default;

    /// <summary>A ready batch whose persistence (fsync) completes at <see cref="ReadyDoneTick"/>.</summary>
    public Ready? PendingReady { get; set; }

    public long ReadyDoneTick { get; set; }

    /// <summary>Inputs that arrived while the node waited on its disk, in arrival order.</summary>
    public Queue<NodeInput> Inbox { get; } = new();

    public Dictionary<ulong, ClientOp> PendingWrites { get; } = [];

    public Dictionary<ulong, ClientOp> PendingReads { get; } = [];

    /// <summary>Reads confirmed at an index the state machine has not reached yet.</summary>
    public List<(ClientOp Op, ulong Index)> WaitingReads { get; } = [];

    public RaftRole LastRole { get; set; }

    public ulong LastTerm { get; set; }

    public ulong CheckedCommit { get; set; }

    public override string ToString() => Raft?.ToString() ?? $"node {Id} down";
}

internal enum NodeInputKind : byte
{
    Tick,
    Message,
    Unreachable,
}

internal readonly record struct NodeInput(NodeInputKind Kind, Message Message, int Peer);
