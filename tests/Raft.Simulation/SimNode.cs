using Raft.Core;
using Raft.KeyValue;
using Raft.Node;
using Raft.Storage;

namespace Raft.Simulation;

/// <summary>
/// One simulated server: the production node driver over the real key-value store, in-memory stores for a disk,
/// and what the simulated host keeps around it (its clock, a pause, a batch waiting for the disk).
/// </summary>
internal sealed class SimNode(int id)
{
    public int Id { get; } = id;

    public NodeDriver<KvStore, KvApplyResult>? Driver { get; set; }

    /// <summary>The process's watch history, as the server keeps it: fed by its store, published after each batch; a new one per start.</summary>
    public WatchHub? Watches { get; set; }

    /// <summary>Running now. A crashed or decommissioned node is not.</summary>
    public bool Alive => Driver is not null;

    /// <summary>Removed from the cluster and stopped; restarted only if added again.</summary>
    public bool Decommissioned { get; set; }

    /// <summary>Has ever been started (and so has a disk).</summary>
    public bool Started { get; set; }

    public long RestartAtTick { get; set; } = -1;

    // What survives a crash: the same storage contracts the server's file stores implement.
    public MemoryLogStore Log { get; } = new();

    public CheckedHardStateStore HardStates { get; } = new(id);

    public MemorySnapshotStore Snapshots { get; } = new();

    /// <summary>The membership a node of the initial cluster is configured with (empty for a spare).</summary>
    public Membership BootstrapMembership { get; set; } = Membership.Empty;

    /// <summary>When the batch the driver waits on is durable; -1 while none waits.</summary>
    public long DiskDoneTick { get; set; } = -1;

    /// <summary>Stopped (SIGSTOP) until this tick; -1 when running.</summary>
    public long PausedUntil { get; set; } = -1;

    public long PausedAt { get; set; }

    public bool Paused => PausedUntil >= 0;

    /// <summary>
    /// What reached a stopped process from its peers (their sockets keep it), in order. Requests from clients wait in
    /// <see cref="PausedRequests"/>: they come through other sockets, so on resume the two interleave in any order.
    /// </summary>
    public Queue<Action<NodeDriver<KvStore, KvApplyResult>>> PausedMessages { get; } = new();

    public Queue<Action<NodeDriver<KvStore, KvApplyResult>>> PausedRequests { get; } = new();

    /// <summary>How far this node's wall clock is from true time.</summary>
    public long ClockSkewMs { get; set; }

    /// <summary>When it last sent or was sent a snapshot chunk; -1 never.</summary>
    public long LastChunkTick { get; set; } = -1;

    /// <summary>Background jobs (snapshots being written or finished) its driver started and has not had back.</summary>
    public HashSet<BackgroundJob> Jobs { get; } = [];

    /// <summary>Requests now at this node that a crash would leave without an answer.</summary>
    public HashSet<Attempt> Attempts { get; } = [];

    public RaftRole LastRole { get; set; }

    public ulong LastTerm { get; set; }

    public ulong CheckedCommit { get; set; }

    public override string ToString() => Driver?.Core.ToString() ?? $"node {Id} down";
}

/// <summary>The simulated disk's hard state: the real in-memory store, plus the check that durable state never goes back.</summary>
internal sealed class CheckedHardStateStore(int node) : IHardStateStore
{
    private readonly MemoryHardStateStore _inner = new();

    public bool TryLoad(out HardState state) => _inner.TryLoad(out state);

    public void Save(in HardState state)
    {
        if (_inner.TryLoad(out var before))
        {
            if (state.Term < before.Term || (state.Term == before.Term && before.VotedFor != 0 && state.VotedFor != before.VotedFor) || state.Commit < before.Commit)
            {
                throw new SimulationViolation($"node {node}: durable state went back from {before} to {state}");
            }
        }

        _inner.Save(state);
    }

    public void Dispose() => _inner.Dispose();
}
