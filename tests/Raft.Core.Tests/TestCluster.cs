using System.Buffers.Binary;
using System.Text;
using Raft.Core;
using Raft.Node;
using Raft.Storage;

namespace Raft.Core.Tests;

/// <summary>
/// A few nodes wired together in memory, driven by hand: messages are delivered only when the test says so. Each
/// node runs the one host loop there is, <see cref="NodeDriver{TStateMachine, TResult}"/>, over in-memory stores
/// whose disk completes every batch at once, so every ready batch is persisted, sent and applied before the next
/// input. Scenarios call the core (<c>cluster[id]</c>) directly between batches. Small enough to script the paper's
/// scenarios.
/// </summary>
internal sealed class TestCluster
{
    private const long MsPerTick = 10;

    private readonly Dictionary<int, Host> _hosts = [];
    private readonly HashSet<int> _down = [];
    private readonly HashSet<(int From, int To)> _cut = [];
    private readonly Func<int, RaftOptions> _options;
    private readonly int? _snapshotEveryEntries;
    private ulong _seed = 1;
    private ulong _ticks;

    /// <param name="size">Nodes 1 to <paramref name="size"/>, all voters, with empty stores.</param>
    /// <param name="options">Each node's core settings.</param>
    /// <param name="snapshotEveryEntries">How often the drivers snapshot; by default never within a scenario.</param>
    public TestCluster(int size, Func<int, RaftOptions>? options = null, int? snapshotEveryEntries = null)
    {
        _options = options ?? (id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1 });
        _snapshotEveryEntries = snapshotEveryEntries;
        var membership = Membership.Create(Enumerable.Range(1, size));
        for (var id = 1; id <= size; id++)
        {
            _hosts[id] = new Host(membership);
            Boot(id);
        }
    }

    /// <summary>Nodes whose durable state is given: (term, vote, commit) and a log of (term) per index from 1.</summary>
    public TestCluster(Func<int, RaftOptions> options, params (int Id, ulong Term, int Vote, ulong Commit, ulong[] LogTerms)[] nodes)
    {
        _options = options;
        var membership = Membership.Create(nodes.Select(n => n.Id));
        foreach (var (id, term, vote, commit, logTerms) in nodes)
        {
            var host = new Host(membership);
            host.HardState.Save(new HardState(term, vote, commit));
            var entries = new Entry[logTerms.Length];
            for (var i = 0; i < logTerms.Length; i++)
            {
                entries[i] = new Entry(logTerms[i], (ulong)i + 1, EntryType.Command, Encoding.UTF8.GetBytes($"{id}:{i + 1}@{logTerms[i]}"));
            }

            host.Log.Append(entries);
            host.Log.Sync();
            _hosts[id] = host;
            Boot(id);
        }
    }

    /// <summary>Each node's core, as its current driver runs it.</summary>
    public Dictionary<int, RaftNode> Nodes { get; } = [];

    public List<Message> InFlight { get; } = [];

    /// <summary>Every entry each node applied (or skipped) since it last started, in order.</summary>
    public Dictionary<int, List<Entry>> Applied { get; } = [];

    /// <summary>Every answer to a read index request, as each node's core gave it.</summary>
    public List<(int Node, ReadState State)> ReadStates { get; } = [];

    /// <summary>Messages for which this returns true are dropped instead of delivered.</summary>
    public Func<Message, bool>? Drop { get; set; }

    public RaftNode this[int id] => Nodes[id];

    public int Delivered { get; private set; }

    public void Isolate(int id)
    {
        foreach (var other in Nodes.Keys.Where(o => o != id))
        {
            _cut.Add((id, other));
            _cut.Add((other, id));
        }
    }

    public void Cut(int from, int to) => _cut.Add((from, to));

    public void Heal() => _cut.Clear();

    public void Crash(int id)
    {
        _down.Add(id);
        InFlight.RemoveAll(m => m.To == id || m.From == id);
    }

    public void Restart(int id)
    {
        _down.Remove(id);
        Boot(id);
    }

    public bool IsUp(int id) => !_down.Contains(id);

    /// <summary>Starts a node outside the cluster (empty log, no membership), ready to be added.</summary>
    public void AddNode(int id)
    {
        _hosts[id] = new Host(Membership.Empty);
        Boot(id);
    }

    /// <summary>Ticks every live node once, then delivers everything until the cluster is quiet.</summary>
    public void Tick(int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            _ticks++;
            foreach (var (id, host) in _hosts)
            {
                if (IsUp(id))
                {
                    host.Driver.Tick(1, (long)_ticks * MsPerTick);
                }
            }

            Settle();
        }
    }

    /// <summary>Handles every ready batch and delivers every message, until nothing is left (bounded).</summary>
    public void Settle(int maxRounds = 10_000)
    {
        for (var round = 0; round < maxRounds; round++)
        {
            ProcessReadies();
            if (InFlight.Count == 0)
            {
                return;
            }

            DeliverOne(0);
        }

        throw new InvalidOperationException("cluster did not settle");
    }

    /// <summary>Handles ready batches without delivering anything.</summary>
    public void ProcessReadies()
    {
        foreach (var (id, host) in _hosts)
        {
            if (IsUp(id))
            {
                host.Process();
            }
        }
    }

    /// <summary>Delivers the first in-flight message that matches, handling the ready batch it causes.</summary>
    public bool DeliverFirst(Func<Message, bool> match)
    {
        ProcessReadies();
        var index = InFlight.FindIndex(m => match(m));
        if (index < 0)
        {
            return false;
        }

        DeliverOne(index);
        ProcessReadies();
        return true;
    }

    public void DropAll(Func<Message, bool> match) => InFlight.RemoveAll(m => match(m));

    public int? Leader()
    {
        var leaders = Nodes.Where(kv => IsUp(kv.Key) && kv.Value.Role == RaftRole.Leader).OrderByDescending(kv => kv.Value.Term).ToList();
        return leaders.Count == 0 ? null : leaders[0].Key;
    }

    /// <summary>Ticks until some live node leads, at most <paramref name="maxTicks"/> times; returns how many ticks it took.</summary>
    public int TickUntilLeader(int maxTicks)
    {
        var ticks = 0;
        while (Leader() is null && ticks < maxTicks)
        {
            Tick();
            ticks++;
        }

        return ticks;
    }

    /// <summary>Ticks until a leader exists (at most <paramref name="maxTicks"/>) and returns it.</summary>
    public int ElectLeader(int maxTicks = 200)
    {
        for (var i = 0; i < maxTicks; i++)
        {
            if (Leader() is { } leader && Nodes.Where(kv => IsUp(kv.Key) && kv.Value.Membership.Contains(kv.Key)).All(kv => kv.Value.LeaderId == leader))
            {
                return leader;
            }

            Tick();
        }

        throw new InvalidOperationException($"no leader within {maxTicks} ticks");
    }

    public ulong Propose(int id, string data)
    {
        var result = Nodes[id].Propose(Encoding.UTF8.GetBytes(data), out var index);
        if (result != ProposeResult.Accepted)
        {
            throw new InvalidOperationException($"proposal at {id}: {result}");
        }

        return index;
    }

    public List<string> AppliedCommands(int id) =>
        Applied.GetValueOrDefault(id, []).Where(e => e.Type == EntryType.Command).Select(e => Encoding.UTF8.GetString(e.Data.Span)).ToList();

    private void DeliverOne(int index)
    {
        var m = InFlight[index];
        InFlight.RemoveAt(index);
        if (!_hosts.TryGetValue(m.To, out var to) || !IsUp(m.To) || _cut.Contains((m.From, m.To)) || (Drop?.Invoke(m) ?? false))
        {
            return;
        }

        Delivered++;
        to.Driver.Receive(m);
    }

    private void Boot(int id)
    {
        var host = _hosts[id];
        var applied = Applied[id] = [];
        var driverOptions = new NodeDriverOptions { Raft = _options(id) };
        if (_snapshotEveryEntries is { } every)
        {
            // Scenarios about snapshots want the log compacted right up to them.
            driverOptions = driverOptions with { SnapshotEveryEntries = every, SnapshotTrailingEntries = 0 };
        }

        // What was written but never synced is lost with the process.
        host.Log.DiscardUnsynced();
        host.Driver = new NodeDriver<AppliedIndexStateMachine, ulong>(
            driverOptions,
            new SeededRandom(_seed++ * 7919),
            host.Bootstrap,
            new NodeStores(host.Log, host.HardState, host.Snapshots),
            new AppliedIndexStateMachine(),
            new Outbox(InFlight),
            host.Worker,
            new Recorder(id, applied, ReadStates));
        Nodes[id] = host.Driver.Core;
    }

    /// <summary>One node's process and the stores that outlive it.</summary>
    private sealed class Host(Membership bootstrap)
    {
        public Membership Bootstrap { get; } = bootstrap;

        public MemoryLogStore Log { get; } = new();

        public MemoryHardStateStore HardState { get; } = new();

        public MemorySnapshotStore Snapshots { get; } = new();

        public NodeDriver<AppliedIndexStateMachine, ulong> Driver { get; set; } = null!;

        public QueuedWorker Worker { get; } = new();

        // The disk is instant: each batch the driver waits on is durable as soon as it is written, and background work
        // (snapshots) is done as soon as the batch that started it is.
        public void Process()
        {
            Persist();
            while (Worker.TryTake(out var job))
            {
                job.Execute();
                Driver.BackgroundDone(job);
                Persist();
            }
        }

        private void Persist()
        {
            Driver.Process();
            while (Driver.IsAwaitingPersistence)
            {
                Log.Sync();
                Driver.Persisted();
            }
        }
    }

    /// <summary>Background work the host runs when it gets to it, on its own thread, between the driver's batches.</summary>
    internal sealed class QueuedWorker : IBackgroundWorker
    {
        private readonly Queue<BackgroundJob> _jobs = new();

        public void Start(BackgroundJob job) => _jobs.Enqueue(job);

        public bool TryTake([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BackgroundJob? job) => _jobs.TryDequeue(out job);
    }

    private sealed class Outbox(List<Message> inFlight) : IOutbox
    {
        public void Send(in Message message)
        {
            // A snapshot chunk's bytes are the driver's until Send returns.
            var kept = message;
            kept.Data = message.Data.ToArray();
            inFlight.Add(kept);
        }
    }

    private sealed class Recorder(int id, List<Entry> applied, List<(int Node, ReadState State)> readStates) : INodeEvents<ulong>
    {
        public void Applied(in Entry entry, in ulong result) => applied.Add(entry);

        public void ReadIndexAnswered(in ReadState state) => readStates.Add((id, state));
    }

    /// <summary>
    /// The smallest state machine the driver can run: its whole state is how far it has applied, which the scenarios
    /// read from <see cref="Applied"/> instead.
    /// </summary>
    private sealed class AppliedIndexStateMachine : IReplicatedStateMachine<ulong>
    {
        public ulong AppliedIndex { get; private set; }

        public long ClockMs => 0;

        public ulong Apply(ulong index, ReadOnlySpan<byte> command)
        {
            Skip(index);
            return index;
        }

        public void Skip(ulong index)
        {
            if (index != AppliedIndex + 1)
            {
                throw new InvalidOperationException($"entry {index} applied after entry {AppliedIndex}");
            }

            AppliedIndex = index;
        }

        public bool TryStampTime(Span<byte> command, long leaderTimeMs) => false;

        public void CollectDueCommands(long leaderTimeMs, List<byte[]> into)
        {
        }

        public byte[]? TakeOverCommand(long gapMs) => null;

        public IStateMachineImage CaptureImage() => new IndexImage(AppliedIndex);

        public IStateMachineImage LoadImage(Stream source)
        {
            Span<byte> image = stackalloc byte[sizeof(ulong)];
            source.ReadExactly(image);
            return new IndexImage(BinaryPrimitives.ReadUInt64LittleEndian(image));
        }

        public void InstallImage(IStateMachineImage image) => AppliedIndex = ((IndexImage)image).Index;

        private sealed class IndexImage(ulong index) : IStateMachineImage
        {
            public ulong Index { get; } = index;

            public Stream OpenRead()
            {
                var bytes = new byte[sizeof(ulong)];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, Index);
                return new MemoryStream(bytes, writable: false);
            }

            public void Dispose()
            {
            }
        }
    }
}
