using System.Text;
using Raft.Core;
using Raft.Storage;

namespace Raft.Simulation;

/// <summary>The outcome of one seed.</summary>
internal sealed record SimulationResult(ulong Seed, bool Passed, string? Failure, long Ticks, int Elections, ulong Committed, int Reads, int Writes, string Config);

/// <summary>
/// Runs one seeded cluster: a fault phase (loss, delay, duplication, reordering, partitions, crashes and
/// restarts, true and false unreachable reports, membership changes, transfers, snapshots, a client workload),
/// then a liveness phase that heals everything and demands a leader and every pending operation resolved.
/// Every run with the same seed is the same run.
/// </summary>
internal sealed partial class Simulator
{
    private readonly SimulationConfig _config;
    private readonly SeededRandom _random;
    private readonly TextWriter? _trace;
    private readonly SimNode[] _nodes;
    private readonly SafetyChecker _safety = new();
    private readonly LinearizabilityChecker _linearizability;
    private readonly PriorityQueue<Message, (long Tick, long Seq)> _network = new();
    private readonly bool[,] _linkDown;
    private long _tick;
    private long _sendSeq;
    private long _event;
    private bool _faultPhase = true;

    public Simulator(SimulationConfig config, TextWriter? trace = null)
    {
        _config = config;
        _random = new SeededRandom(config.Seed);
        _trace = trace;
        _linearizability = new LinearizabilityChecker(_safety);
        _nodes = new SimNode[config.TotalNodes + 1];
        _linkDown = new bool[config.TotalNodes + 1, config.TotalNodes + 1];
        _linkBrokenUntil = new long[config.TotalNodes + 1, config.TotalNodes + 1];
        _clients = new ClientState[config.Clients];
        for (var c = 0; c < _clients.Length; c++)
        {
            _clients[c] = new ClientState();
        }

        var initial = Membership.Create(Enumerable.Range(1, config.InitialVoters));
        for (var id = 1; id <= config.TotalNodes; id++)
        {
            var node = new SimNode(id);
            _nodes[id] = node;
            if (id <= config.InitialVoters)
            {
                node.BootstrapMembership = initial;
                Start(node);
            }
        }
    }

    public static SimulationResult Run(ulong seed, int faultTicks, TextWriter? trace = null)
    {
        var config = SimulationConfig.FromSeed(seed, faultTicks);
        var sim = new Simulator(config, trace);
        try
        {
            sim.Execute();
            return new SimulationResult(seed, true, null, sim._tick, sim._safety.Elections, sim._safety.MaxCommitted, sim._linearizability.Reads, sim._linearizability.Writes, config.ToString());
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

            return new SimulationResult(seed, false, message, sim._tick, sim._safety.Elections, sim._safety.MaxCommitted, sim._linearizability.Reads, sim._linearizability.Writes, config.ToString());
        }
    }

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
            CompleteDueReadies();
            foreach (var node in LiveNodes())
            {
                Input(node, new NodeInput(NodeInputKind.Tick, default, 0));
            }

            DeliverMessages();
            RunClients();
            foreach (var node in LiveNodes())
            {
                Drive(node);
            }

            CheckLeaderStability();
            CheckLeases();
            if (!_faultPhase && LivenessReached())
            {
                Trace("liveness reached");
                return;
            }
        }

        throw new SimulationViolation($"liveness: {_config.LivenessTicks} ticks after healing, {LivenessReport()}");
    }

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

    private void Start(SimNode node)
    {
        // Recover as a server does: the latest snapshot, the hard state, and the log after the snapshot.
        node.Log.DiscardUnsynced();
        var snapshot = node.LatestSnapshot;
        Entry[] entries = [];
        if (node.Log.LastIndex > snapshot.Index)
        {
            using var read = node.Log.Read(Math.Max(snapshot.Index + 1, node.Log.FirstIndex), node.Log.LastIndex, long.MaxValue);
            entries = read.Span.ToArray();
        }

        var raft = new RaftNode(_config.OptionsFor(node.Id), new SeededRandom(_random.NextUInt64()), snapshot, node.DurableHardState, entries);
        node.Raft = raft;
        node.Started = true;
        node.Decommissioned = false;
        node.RestartAtTick = -1;
        node.StateMachine = KvStateMachine.FromSnapshot(snapshot);
        node.LastRole = RaftRole.Follower;
        node.LastTerm = raft.Term;
        node.CheckedCommit = snapshot.Index;
        Trace($"start node {node.Id}: {raft}");
    }

    private void Crash(SimNode node, string why)
    {
        Trace($"crash node {node.Id} ({why}): {node.Raft}");
        node.Raft = null;
        node.PendingReady = null;
        node.Inbox.Clear();
        foreach (var op in node.PendingWrites.Values.Concat(node.PendingReads.Values).Concat(node.WaitingReads.Select(w => w.Op)).ToArray())
        {
            Resolve(op, OpStatus.Unknown);
        }

        node.PendingWrites.Clear();
        node.PendingReads.Clear();
        node.WaitingReads.Clear();
    }

    // Delivers an input now, or queues it while the node waits on its disk.
    private void Input(SimNode node, in NodeInput input)
    {
        if (node.PendingReady is not null)
        {
            node.Inbox.Enqueue(input);
            return;
        }

        Apply(node, input);
    }

    private void Apply(SimNode node, in NodeInput input)
    {
        var raft = node.Raft!;
        switch (input.Kind)
        {
            case NodeInputKind.Tick:
                raft.Tick();
                break;
            case NodeInputKind.Message:
                if (_trace is not null)
                {
                    Trace($"deliver {input.Message}");
                }

                raft.Step(input.Message);
                break;
            case NodeInputKind.Unreachable:
                Trace($"node {node.Id}: peer {input.Peer} unreachable");
                raft.PeerUnreachable(input.Peer);
                break;
        }

        Observe(node);
    }

    // Role changes feed election safety and leader completeness.
    private void Observe(SimNode node)
    {
        var raft = node.Raft!;
        if (raft.Role == RaftRole.Leader && (node.LastRole != RaftRole.Leader || node.LastTerm != raft.Term))
        {
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

        if (raft.Term < node.LastTerm)
        {
            throw new SimulationViolation($"node {node.Id}: term went back from {node.LastTerm} to {raft.Term}");
        }

        node.LastRole = raft.Role;
        node.LastTerm = raft.Term;
    }

    private void CompleteDueReadies()
    {
        foreach (var node in LiveNodes())
        {
            if (node.PendingReady is not null && node.ReadyDoneTick <= _tick)
            {
                CompleteReady(node);
            }
        }
    }

    // Persist, send, apply, advance, as many batches as the node has, unless its disk makes it wait.
    private void Drive(SimNode node)
    {
        var rounds = 0;
        while (node.Alive && node.PendingReady is null && node.Raft!.HasReady)
        {
            if (++rounds > 10_000)
            {
                throw new SimulationViolation($"node {node.Id} keeps producing ready batches: {node.Raft}");
            }

            var raft = node.Raft;
            var ready = raft.GetReady();
            if (ready.CommittedEntries.Length > 0 || raft.CommitIndex > node.CheckedCommit)
            {
                if (raft.CommitIndex > node.CheckedCommit)
                {
                    _safety.OnCommitted(node.Id, raft, node.CheckedCommit + 1, raft.CommitIndex);
                    node.CheckedCommit = raft.CommitIndex;
                }
            }

            foreach (var m in ready.Messages)
            {
                Send(m);
            }

            node.PendingReady = ready;
            var latency = _random.Next(_config.MaxDiskLatencyTicks + 1);
            if (latency == 0)
            {
                CompleteReady(node);
            }
            else
            {
                node.ReadyDoneTick = _tick + latency;
            }
        }
    }

    private void CompleteReady(SimNode node)
    {
        var raft = node.Raft!;
        var ready = node.PendingReady!;

        // Persist: snapshot, then entries (replacing any suffix they overlap), then hard state.
        if (ready.Snapshot is not null)
        {
            node.Snapshots.Save(ready.Snapshot);
            if (node.Log.LastIndex > ready.Snapshot.Index)
            {
                node.Log.TruncateSuffix(Math.Max(ready.Snapshot.Index, node.Log.FirstIndex - 1));
            }

            node.Log.CompactPrefix(ready.Snapshot.Index);
        }

        var entries = ready.Entries.Span;
        if (!entries.IsEmpty)
        {
            node.Log.Append(entries);
            node.Log.Sync();
            _safety.OnPersisted(node.Id, raft, entries);
        }

        if (ready.HasHardStateChange)
        {
            var before = node.DurableHardState;
            var after = ready.HardState;
            if (after.Term < before.Term || (after.Term == before.Term && before.VotedFor != 0 && after.VotedFor != before.VotedFor) || after.Commit < before.Commit)
            {
                throw new SimulationViolation($"node {node.Id}: durable state went back from {before} to {after}");
            }

            node.HardStates.Save(after);
        }

        foreach (var m in ready.MessagesAfterPersist)
        {
            Send(m);
        }

        if (ready.Snapshot is not null)
        {
            node.StateMachine = KvStateMachine.FromSnapshot(ready.Snapshot);
            Trace($"node {node.Id} restored snapshot ({ready.Snapshot.Index}, t{ready.Snapshot.Term})");

            // Writes this node proposed inside the snapshot's range are never applied here one by one: like a
            // real server, it cannot tell its clients whether they made it.
            foreach (var op in node.PendingWrites.Values.Where(op => op.Index <= ready.Snapshot.Index).ToArray())
            {
                node.PendingWrites.Remove(op.Index);
                Resolve(op, OpStatus.Unknown);
            }
        }

        foreach (ref readonly var e in ready.CommittedEntries.Span)
        {
            _safety.OnApplied(node.Id, e);
            node.StateMachine.Apply(e);
            OnApplied(node, e);
        }

        foreach (var rs in ready.ReadStates)
        {
            OnReadState(node, rs);
        }

        node.PendingReady = null;
        raft.Advance();
        ServeWaitingReads(node);
        MaybeCompact(node);
        Observe(node);

        while (node.Alive && node.PendingReady is null && node.Inbox.Count > 0)
        {
            Apply(node, node.Inbox.Dequeue());
        }
    }

    private void MaybeCompact(SimNode node)
    {
        var raft = node.Raft!;
        var snapshotIndex = node.LatestSnapshot.Index;
        if (raft.AppliedIndex >= snapshotIndex + (ulong)_config.SnapshotEveryEntries)
        {
            var snapshot = raft.Compact(raft.AppliedIndex, node.StateMachine.ToSnapshot());
            node.Snapshots.Save(snapshot);
            node.Log.CompactPrefix(snapshot.Index);
            Trace($"node {node.Id} compacted to ({snapshot.Index}, t{snapshot.Term})");
        }
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
            var delay = _random.Next(_config.MinDelayTicks, _config.MaxDelayTicks + 1);
            _network.Enqueue(m, (_tick + delay, _sendSeq++));
        }
    }

    // A leader may serve reads from its lease only while nobody else can commit: once an entry of a later term
    // is committed anywhere, a lease that still holds would let it return stale data.
    private void CheckLeases()
    {
        foreach (var node in LiveNodes())
        {
            var raft = node.Raft!;
            if (raft.Role == RaftRole.Leader && node.PendingReady is null && raft.TryLeaseRead(out var index) && _safety.MaxCommittedTerm > raft.Term)
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

            Input(to, new NodeInput(NodeInputKind.Message, m, 0));
        }
    }

    private void Trace(string line)
    {
        _trace?.WriteLine($"[{_tick,6}] {line}");
    }

    private string LivenessReport()
    {
        var sb = new StringBuilder();
        sb.Append("not converged: ");
        foreach (var node in _nodes.Skip(1))
        {
            sb.Append("\n  ").Append(node).Append(node.PendingReady is null ? string.Empty : " (waiting on disk)");
            if (node.Raft is { Role: RaftRole.Leader } leader)
            {
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
}
