using System.Text;
using Raft.Core;

namespace Raft.Core.Tests;

/// <summary>
/// A few nodes wired together in memory, driven by hand: messages are delivered only when the test says so,
/// and every ready batch is persisted, sent and applied at once. Small enough to script the paper's scenarios.
/// </summary>
internal sealed class TestCluster
{
    private readonly Dictionary<int, Disk> _disks = [];
    private readonly HashSet<int> _down = [];
    private readonly HashSet<(int From, int To)> _cut = [];
    private readonly Func<int, RaftOptions> _options;
    private ulong _seed = 1;

    public TestCluster(int size, Func<int, RaftOptions>? options = null)
    {
        _options = options ?? (id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1 });
        var membership = Membership.Create(Enumerable.Range(1, size));
        for (var id = 1; id <= size; id++)
        {
            _disks[id] = new Disk { Snapshot = new Snapshot(new SnapshotMetadata(0, 0, membership), ReadOnlyMemory<byte>.Empty) };
            Nodes[id] = Boot(id);
        }
    }

    /// <summary>Nodes whose durable state is given: (term, vote, commit) and a log of (term) per index from 1.</summary>
    public TestCluster(Func<int, RaftOptions> options, params (int Id, ulong Term, int Vote, ulong Commit, ulong[] LogTerms)[] nodes)
    {
        _options = options;
        var membership = Membership.Create(nodes.Select(n => n.Id));
        foreach (var (id, term, vote, commit, logTerms) in nodes)
        {
            var disk = new Disk
            {
                Snapshot = new Snapshot(new SnapshotMetadata(0, 0, membership), ReadOnlyMemory<byte>.Empty),
                HardState = new HardState(term, vote, commit),
            };
            for (var i = 0; i < logTerms.Length; i++)
            {
                disk.Entries.Add(new Entry(logTerms[i], (ulong)i + 1, EntryType.Command, Encoding.UTF8.GetBytes($"{id}:{i + 1}@{logTerms[i]}")));
            }

            _disks[id] = disk;
            Nodes[id] = Boot(id);
        }
    }

    public Dictionary<int, RaftNode> Nodes { get; } = [];

    public List<Message> InFlight { get; } = [];

    /// <summary>Every entry each node applied, in order.</summary>
    public Dictionary<int, List<Entry>> Applied { get; } = [];

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
        Nodes[id] = Boot(id);
    }

    public bool IsUp(int id) => !_down.Contains(id);

    /// <summary>Starts a node outside the cluster (empty log, no membership), ready to be added.</summary>
    public void AddNode(int id)
    {
        _disks[id] = new Disk { Snapshot = new Snapshot(new SnapshotMetadata(0, 0, Membership.Empty), ReadOnlyMemory<byte>.Empty) };
        Nodes[id] = Boot(id);
    }

    /// <summary>Ticks every live node once, then delivers everything until the cluster is quiet.</summary>
    public void Tick(int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            foreach (var (id, node) in Nodes)
            {
                if (IsUp(id))
                {
                    node.Tick();
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
        foreach (var id in Nodes.Keys)
        {
            if (IsUp(id))
            {
                Process(id);
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
        if (!Nodes.TryGetValue(m.To, out var to) || !IsUp(m.To) || _cut.Contains((m.From, m.To)) || (Drop?.Invoke(m) ?? false))
        {
            return;
        }

        Delivered++;
        to.Step(m);
    }

    private void Process(int id)
    {
        var node = Nodes[id];
        var disk = _disks[id];
        while (node.HasReady)
        {
            var ready = node.GetReady();
            foreach (var m in ready.Messages)
            {
                InFlight.Add(m);
            }

            if (ready.Snapshot is not null)
            {
                disk.Snapshot = ready.Snapshot;
                disk.Entries.Clear();
            }

            foreach (var e in ready.Entries.Span)
            {
                disk.Entries.RemoveAll(x => x.Index >= e.Index);
                disk.Entries.Add(e);
            }

            if (ready.HasHardStateChange)
            {
                disk.HardState = ready.HardState;
            }

            foreach (var m in ready.MessagesAfterPersist)
            {
                InFlight.Add(m);
            }

            var applied = Applied.TryGetValue(id, out var list) ? list : Applied[id] = [];
            applied.AddRange(ready.CommittedEntries.ToArray());
            foreach (var rs in ready.ReadStates)
            {
                ReadStates.Add((id, rs));
            }

            node.Advance();
        }
    }

    private RaftNode Boot(int id)
    {
        var disk = _disks[id];
        Applied[id] = [];
        return new RaftNode(_options(id), new SeededRandom(_seed++ * 7919), disk.Snapshot, disk.HardState, disk.Entries.ToArray());
    }

    private sealed class Disk
    {
        public required Snapshot Snapshot { get; set; }

        public HardState HardState { get; set; }

        public List<Entry> Entries { get; } = [];
    }
}
