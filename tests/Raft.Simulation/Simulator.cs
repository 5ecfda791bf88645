using System.Runtime.CompilerServices;
using System.Text;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Simulation;

/// <summary>Membership work in a run: changes committed, changes refused (not caught up, one already pending, no longer leading), failback hand-overs begun.</summary>
internal sealed record MembershipCounts(int Committed = 0, int Refused = 0, int Failbacks = 0)
{
    public MembershipCounts Add(MembershipCounts other) => new(Committed + other.Committed, Refused + other.Refused, Failbacks + other.Failbacks);

    public override string ToString() => $"{Committed} membership changes committed ({Refused} refused), {Failbacks} failbacks";
}

/// <summary>The outcome of one seed.</summary>
internal sealed record SimulationResult(ulong Seed, bool Passed, string? Failure, long Ticks, int Elections, ulong Committed, int Reads, int Writes, string Config)
{
    /// <summary>How much of the snapshot machinery the run went through.</summary>
    public SnapshotCounts Snapshots { get; init; } = new();

    /// <summary>How many membership changes and failbacks the run went through.</summary>
    public MembershipCounts Membership { get; init; } = new();

    /// <summary>What the watch clients went through and what was checked of them.</summary>
    public WatchCounts Watches { get; init; } = new();
    /// <summary>What the lease holders and the lease checker went through.</summary>
    public LeaseCounts Leases { get; init; } = new();
}

/// <summary>
/// Snapshot work in a run: transfers begun and installed, chunks sent, damaged on the way, and refused by a receiver,
/// and transfers cut by a crash of their sender or receiver (a node that crashed within two election timeouts of
/// sending or taking a chunk).
/// </summary>
internal sealed record SnapshotCounts(int Transfers = 0, int Installed = 0, long Chunks = 0, int Damaged = 0, long Refused = 0, int CutByCrash = 0)
{
    public SnapshotCounts Add(SnapshotCounts other) => new(
        Transfers + other.Transfers, Installed + other.Installed, Chunks + other.Chunks, Damaged + other.Damaged, Refused + other.Refused, CutByCrash + other.CutByCrash);

    public override string ToString() =>
        $"{Transfers} snapshot transfers ({Installed} installed, {Chunks} chunks, {Damaged} damaged on the way, {Refused} refused, {CutByCrash} cut by a crash)";
}

/// <summary>
/// Runs one seeded cluster of production node drivers over the real key-value store: a fault phase (loss, delay,
/// duplication, reordering, partitions, crashes and restarts, pauses, true and false unreachable reports,
/// membership changes, transfers, snapshots, clients speaking the HTTP API's contract to any node), then a
/// liveness phase that heals everything and demands a leader and every operation answered. Checkers watch Raft's
/// safety properties as they happen and what the clients saw at the end. Every run with the same seed is the same.
/// </summary>
internal sealed partial class Simulator
{
    private readonly SimulationConfig _config;
    private readonly SeededRandom _random;
    private readonly TextWriter? _trace;
    private readonly SimNode[] _nodes;
    private readonly SafetyChecker _safety = new();
    private readonly History _history = new();
    private readonly PriorityQueue<Message, (long Tick, long Seq)> _network = new();

    // Work that happens later in simulated time: forwarded requests arriving, answers reaching their clients.
    private readonly PriorityQueue<Action, (long Tick, long Seq)> _later = new();
    private readonly bool[,] _linkDown;
    private long _tick;
    private long _sendSeq;
    private long _event;
    private SnapshotCounts _snapshotCounts = new();
    private MembershipCounts _membershipCounts = new();
    private bool _faultPhase = true;

    public Simulator(SimulationConfig config, TextWriter? trace = null)
    {
        _config = config;
        _random = new SeededRandom(config.Seed);
        _trace = trace;
        _nodes = new SimNode[config.TotalNodes + 1];
        _linkDown = new bool[config.TotalNodes + 1, config.TotalNodes + 1];
        _linkBrokenUntil = new long[config.TotalNodes + 1, config.TotalNodes + 1];
        _clients = new SimClient[config.Clients];
        for (var c = 0; c < _clients.Length; c++)
        {
            _clients[c] = new SimClient(c, _random.Chance(config.SessionClientShare));
        }

        // The watch clients draw from a generator of their own: the run's draws are what they were without them.
        _watchRandom = new SeededRandom(config.Seed ^ 0xC0FFEE_5EED_0002UL);
        _watchers = CreateWatchers();

        var initial = Membership.Create(Enumerable.Range(1, config.InitialVoters));
        for (var id = 1; id <= config.TotalNodes; id++)
        {
            var node = new SimNode(id) { ClockSkewMs = config.ClockSkewMsMax == 0 ? 0 : _random.Next(-config.ClockSkewMsMax, config.ClockSkewMsMax + 1) };
            _nodes[id] = node;
            if (id <= config.InitialVoters)
            {
                node.BootstrapMembership = initial;
                Start(node);
            }
        }
    }

    public static SimulationResult Run(ulong seed, int faultTicks, TextWriter? trace = null) =>
        Run(SimulationConfig.FromSeed(seed, faultTicks), trace);

    public static SimulationResult Run(SimulationConfig config, TextWriter? trace = null)
    {
        var sim = new Simulator(config, trace);
        try
        {
            sim.Execute();
            return sim.Result(null);
        }
#pragma warning disable CA1031 // Any exception is a failure of this seed, reported with its replay command.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            var message = $"{ex.GetType().Name} at tick {sim._tick}: {ex.Message}";
            if (ex is not SimulationViolation)
            {
                message += Environment.NewLine + ex.StackTrace;
            }

            return sim.Result(message);
        }
    }

    private SimulationResult Result(string? failure) =>
        new(_config.Seed, failure is null, failure, _tick, _safety.Elections, _safety.MaxCommitted, _history.ReadsAnswered, _history.WritesAnswered, _config.ToString())
        {
            Snapshots = _snapshotCounts,
            Membership = _membershipCounts,
            Watches = _watchCounts,
            Leases = LeaseCountsNow(),
        };

    public void OnFailback(SimNode node, int preferred, bool started, string what)
    {
        TraceNode(node, $"failback to {preferred}: {what}");
        if (started)
        {
            _membershipCounts = _membershipCounts with { Failbacks = _membershipCounts.Failbacks + 1 };
        }
    }

    public void OnSnapshotSendStarted() => _snapshotCounts = _snapshotCounts with { Transfers = _snapshotCounts.Transfers + 1 };

    public void OnSnapshotInstalledCounted() => _snapshotCounts = _snapshotCounts with { Installed = _snapshotCounts.Installed + 1 };

    private void Execute()
    {
        Trace($"config {_config}");
        var end = _config.FaultTicks + _config.LivenessTicks;
        for (_tick = 1; _tick <= end; _tick++)
        {
            if (_faultPhase && _tick > _config.FaultTicks)
            {
                BeginLiveness();
            }

            if (_faultPhase)
            {
                InjectFaults();
            }

            RestartDueNodes();
            ResumeDueNodes();
            CompleteDueDisks();
            foreach (var node in RunningNodes())
            {
                node.Driver!.Tick(1, WallClockMs(node));
            }

            DeliverMessages();
            RunLater();
            RunClients();
            RunLeaseHolders();
            foreach (var node in RunningNodes())
            {
                node.Driver!.Process();
                AwaitDisk(node);
                Observe(node);

                // As the server's node loop does after each batch: watches see what this batch applied, whole entries only.
                node.Watches!.Publish(node.Driver.StateMachine.AppliedIndex);
            }

            RunWatchers();

            CheckLeaderStability();
            CheckLeases();
            if (!_faultPhase && LivenessReached() && LeasesEndedEverywhere())
            {
                Trace("liveness reached");
                CheckFinalState();
                return;
            }
        }

        throw new SimulationViolation($"liveness: {_config.LivenessTicks} ticks after healing, {LivenessReport()}");
    }

    private long WallClockMs(SimNode node) => 1_700_000_000_000 + (_tick * SimulationConfig.MsPerTick) + node.ClockSkewMs;

    private IEnumerable<SimNode> LiveNodes()
    {
        for (var id = 1; id < _nodes.Length; id++)
        {
            if (_nodes[id].Alive)
            {
                yield return _nodes[id];
            }
        }
    }

    /// <summary>Alive and not stopped: these take inputs now.</summary>
    private IEnumerable<SimNode> RunningNodes()
    {
        for (var id = 1; id < _nodes.Length; id++)
        {
            if (_nodes[id].Alive && !_nodes[id].Paused)
            {
                yield return _nodes[id];
            }
        }
    }

    private void Start(SimNode node)
    {
        // What was written but never synced is lost with the process; the driver recovers from the rest.
        node.Log.DiscardUnsynced();
        var watches = new WatchHub(_config.WatchHistoryChanges, _config.WatchHistoryBytes, _config.WatchersPerNodeMax);
        var store = new KvStore(new KvStoreOptions { KeyChanged = watches.OnChanged, Restored = watches.OnRestored });
        node.Watches = watches;
        var events = new SimNodeEvents(this, node);
        node.Driver = new NodeDriver<KvStore, KvApplyResult>(
            _config.DriverOptionsFor(node.Id),
            new SeededRandom(_random.NextUInt64()),
            node.BootstrapMembership,
            new NodeStores(node.Log, node.HardStates, node.Snapshots),
            store,
            new SimOutbox(this),
            new SimWorker(this, node),
            events);
        var core = node.Driver.Core;
        node.Started = true;
        node.Decommissioned = false;
        node.RestartAtTick = -1;
        node.DiskDoneTick = -1;
        node.PausedUntil = -1;
        node.LastRole = RaftRole.Follower;
        node.LastTerm = core.Term;
        node.CheckedCommit = core.LatestSnapshot?.Index ?? 0;
        Trace($"start node {node.Id}: {core}");
    }

    private void Crash(SimNode node, string why)
    {
        if (node.LastChunkTick >= 0 && _tick - node.LastChunkTick <= 2 * _config.ElectionTimeoutTicks)
        {
            _snapshotCounts = _snapshotCounts with { CutByCrash = _snapshotCounts.CutByCrash + 1 };
        }

        Trace($"crash node {node.Id} ({why}): {node}");
        node.Driver = null;
        node.Watches = null;
        node.DiskDoneTick = -1;
        node.PausedUntil = -1;
        node.PausedMessages.Clear();
        node.PausedRequests.Clear();

        // Its background threads die with it: what they were writing was never installed.
        foreach (var job in node.Jobs)
        {
            job.Abandon();
        }

        node.Jobs.Clear();

        // Every request there loses its connection: the clients cannot tell whether it was applied.
        foreach (var attempt in node.Attempts.ToArray())
        {
            AttemptUnknown(attempt, "connection reset");
        }

        node.Attempts.Clear();

        // The liveness marker proposed there dies unanswered with it: the next leader proposes another.
        if (_markerPending && _markerLeader == node.Id)
        {
            _markerPending = false;
            _markerTerm = 0;
        }
    }

    // Persisting: a batch the driver wrote waits for the disk, for up to MaxDiskLatencyTicks.
    private void AwaitDisk(SimNode node)
    {
        while (node.Driver is { IsAwaitingPersistence: true } driver && node.DiskDoneTick < 0 && !node.Paused)
        {
            var latency = _random.Next(_config.MaxDiskLatencyTicks + 1);
            if (latency > 0)
            {
                node.DiskDoneTick = _tick + latency;
                return;
            }

            node.Log.Sync();
            driver.Persisted();
        }
    }

    private void CompleteDueDisks()
    {
        foreach (var node in RunningNodes())
        {
            if (node.DiskDoneTick >= 0 && node.DiskDoneTick <= _tick)
            {
                node.DiskDoneTick = -1;
                node.Log.Sync();
                node.Driver!.Persisted();
                AwaitDisk(node);
            }
        }
    }

    // A new leader feeds election safety and leader completeness, and may meet a nemesis.
    private void OnBecameLeader(SimNode node, RaftNode raft)
    {
        if (_removed.Contains(node.Id))
        {
            throw new SimulationViolation($"disruption: node {node.Id}, removed, became leader of term {raft.Term}");
        }

        Trace($"node {node.Id} leads term {raft.Term}: {raft}");
        _safety.OnLeader(node.Id, raft.Term, raft);
        if (_faultPhase && _partitionHealTick == 0 && _random.Chance(_config.LeaderIsolationRate))
        {
            IsolateNode(node.Id, _random.Next(1, 3 * _config.ElectionTimeoutTicks));
        }

        if (_faultPhase && _random.Chance(_config.LeaderChurnRate))
        {
            _scheduledCrashes.Add((_tick + _random.Next(0, 2 * _config.MaxDelayTicks + 2), node.Id, raft.Term));
        }
    }

    private static void Observe(SimNode node)
    {
        if (node.Driver is not { } driver)
        {
            return;
        }

        var raft = driver.Core;
        if (raft.Term < node.LastTerm)
        {
            throw new SimulationViolation($"node {node.Id}: term went back from {node.LastTerm} to {raft.Term}");
        }

        node.LastRole = raft.Role;
        node.LastTerm = raft.Term;
    }

    private void Send(in Message m)
    {
        if (LinkDown(m.From, m.To) || _random.Chance(_config.LossRate))
        {
            return;
        }

        var copies = _random.Chance(_config.DuplicateRate) ? 2 : 1;
        for (var i = 0; i < copies; i++)
        {
            _network.Enqueue(KeepData(m), (_tick + NetworkDelay(), _sendSeq++));
        }

        CountChunk(m);
    }

    private void CountChunk(in Message m)
    {
        if (m.Type == MessageType.SnapshotChunk)
        {
            _snapshotCounts = _snapshotCounts with { Chunks = _snapshotCounts.Chunks + 1 };
            _nodes[m.From].LastChunkTick = _tick;
            _nodes[m.To].LastChunkTick = _tick;
        }
        else if (m.Type == MessageType.SnapshotChunkResponse && m.Reject)
        {
            _snapshotCounts = _snapshotCounts with { Refused = _snapshotCounts.Refused + 1 };
        }
    }

    // A snapshot chunk's bytes are the sender's only during Send; what the network keeps is a copy, sometimes damaged.
    private Message KeepData(in Message m)
    {
        if (m.Data.IsEmpty)
        {
            return m;
        }

        var copy = m;
        var data = m.Data.ToArray();
        if (_random.Chance(_config.ChunkCorruptionRate))
        {
            data[_random.Next(data.Length)] ^= (byte)(1 << _random.Next(8));
            _snapshotCounts = _snapshotCounts with { Damaged = _snapshotCounts.Damaged + 1 };
        }

        copy.Data = data;
        return copy;
    }

    // A background job runs a while later, unless its process is stopped (then after it resumes) or crashed (then never).
    private void StartJob(SimNode node, BackgroundJob job)
    {
        var driver = node.Driver;
        node.Jobs.Add(job);
        Later(_random.Next(_config.MaxJobTicks + 1), () => RunJob(node, driver, job));
    }

    private void RunJob(SimNode node, NodeDriver<KvStore, KvApplyResult>? driver, BackgroundJob job)
    {
        if (!ReferenceEquals(node.Driver, driver) || !node.Jobs.Remove(job))
        {
            return;
        }

        Trace($"node {node.Id}: background job {job.GetType().Name} done");
        Input(node, d =>
        {
            job.Execute();
            d.BackgroundDone(job);
        });
    }

    private int NetworkDelay() => _random.Next(_config.MinDelayTicks, _config.MaxDelayTicks + 1);

    private void Later(long delay, Action action) => _later.Enqueue(action, (_tick + delay, _sendSeq++));

    private void RunLater()
    {
        while (_later.TryPeek(out _, out var at) && at.Tick <= _tick)
        {
            _later.Dequeue()();
        }
    }

    // A leader may serve reads from its lease only while nobody else can commit: once an entry of a later term
    // is committed anywhere, a lease that still holds would let it return stale data.
    private void CheckLeases()
    {
        if (!_config.CheckLeaseInvariant)
        {
            return;
        }

        foreach (var node in RunningNodes())
        {
            var driver = node.Driver!;
            var raft = driver.Core;
            if (raft.Role == RaftRole.Leader && !driver.IsAwaitingPersistence && raft.TryLeaseRead(out var index) && _safety.MaxCommittedTerm > raft.Term)
            {
                throw new SimulationViolation($"lease: leader {node.Id} of term {raft.Term} holds a lease (read index {index}) though an entry of term {_safety.MaxCommittedTerm} is committed");
            }
        }
    }

    private bool LinkDown(int from, int to) => _linkDown[from, to] || _linkBrokenUntil[from, to] > _tick;

    private void DeliverMessages()
    {
        while (_network.TryPeek(out _, out var at) && at.Tick <= _tick)
        {
            var m = _network.Dequeue();
            var to = _nodes[m.To];
            if (!to.Alive || LinkDown(m.From, m.To))
            {
                continue;
            }

            Trace($"deliver {m}");

            // A removed node that has not heard of its removal may campaign: it must not push a member's term up. With
            // pre-votes (the default) that holds for every member; without them, for those that know of the removal
            // (one that does not yet still counts the sender as a member, and any Raft node answers a member's vote).
            var fromRemoved = m.Type is MessageType.Vote or MessageType.PreVote && _removed.Contains(m.From) && !_removed.Contains(m.To) && !to.Paused
                && (_config.PreVote || !to.Driver!.Core.Membership.Contains(m.From));
            var termBefore = fromRemoved ? to.Driver!.Core.Term : 0;
            Input(to, driver => driver.Receive(m));
            if (fromRemoved && to.Driver!.Core.Term > termBefore)
            {
                throw new SimulationViolation($"disruption: removed node {m.From}'s {m.Type} raised member {m.To}'s term from {termBefore} to {to.Driver.Core.Term}");
            }
        }
    }

    /// <summary>Hands an input to a node now, or keeps it until a stopped process resumes.</summary>
    private static void Input(SimNode node, Action<NodeDriver<KvStore, KvApplyResult>> input, bool fromClient = false)
    {
        if (node.Paused)
        {
            (fromClient ? node.PausedRequests : node.PausedMessages).Enqueue(input);
            return;
        }

        input(node.Driver!);
    }

    public bool Tracing => _trace is not null;

    private void Trace(string line) => _trace?.WriteLine($"[{_tick,6}] {line}");

    private void Trace([InterpolatedStringHandlerArgument("")] ref TraceHandler line)
    {
        if (_trace is not null)
        {
            Trace(line.ToStringAndClear());
        }
    }

    private string LivenessReport()
    {
        var sb = new StringBuilder();
        sb.Append("not converged: ");
        foreach (var node in _nodes.Skip(1))
        {
            sb.Append("\n  ").Append(node).Append(node.DiskDoneTick >= 0 ? " (waiting on disk)" : string.Empty).Append(node.Paused ? " (paused)" : string.Empty);
            if (node.Driver?.Core is { Role: RaftRole.Leader } leader)
            {
                sb.Append($" members {leader.Membership}");
                foreach (var peer in _nodes.Skip(1))
                {
                    if (peer != node && leader.TryGetProgress(peer.Id, out var match, out var next, out var state))
                    {
                        sb.Append($" [{peer.Id}: {state} match={match} next={next}]");
                    }
                }
            }
        }

        foreach (var client in _clients)
        {
            if (client.Op is not null)
            {
                sb.Append("\n  pending ").Append(client.Op);
            }
        }

        if (_markerIndex != 0)
        {
            sb.Append($"\n  marker at {_markerIndex} t{_markerTerm}");
        }

        return sb.ToString();
    }

    private sealed class SimOutbox(Simulator simulator) : IOutbox
    {
        public void Send(in Message message) => simulator.Send(message);
    }

    private sealed class SimWorker(Simulator simulator, SimNode node) : IBackgroundWorker
    {
        public void Start(BackgroundJob job) => simulator.StartJob(node, job);
    }
}
