using Raft.Core;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>
/// A few real node drivers over in-memory stores and the key-value store, wired by a network the test drives by
/// hand: a message moves only when the test ticks, settles or delivers it, so every scenario is deterministic.
/// After every input a node's driver processes, and its disk completes the batch at once (sync the log, then
/// <c>Persisted</c>) unless the test holds that disk to look at a batch that waits.
/// </summary>
internal sealed class Cluster
{
    private const int SettleRoundsMax = 100_000;

    private readonly HashSet<(int From, int To)> _cut = [];

    public Cluster(int size, Func<NodeDriverOptions, NodeDriverOptions>? configure = null)
    {
        var membership = Membership.Create(Enumerable.Range(1, size));
        for (var id = 1; id <= size; id++)
        {
            var options = Defaults(id);
            Nodes.Add(new TestNode(this, configure?.Invoke(options) ?? options, membership, seed: (ulong)id * 7919));
        }
    }

    public List<TestNode> Nodes { get; } = [];

    /// <summary>Messages sent and not yet delivered or dropped, oldest first.</summary>
    public List<Message> InFlight { get; } = [];

    /// <summary>Messages for which this returns true are dropped instead of delivered.</summary>
    public Func<Message, bool>? Drop { get; set; }

    public TestNode this[int id] => Nodes[id - 1];

    /// <summary>
    /// Settings small enough to script: an election timeout of 10 ticks (so a lease of 9, a read confirmation of
    /// 20 and a transfer timeout of 20), a leader wait of 30 and a request timeout of 100.
    /// </summary>
    public static NodeDriverOptions Defaults(int id) => new()
    {
        Raft = new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1 },
        LeaderWaitTicks = 30,
        RequestTimeoutTicks = 100,
    };

    /// <summary>
    /// A cluster of <paramref name="size"/> whose leader is <paramref name="leader"/> (handed to it by a transfer if
    /// the election chose another), known to every node, with its term's first entry committed and its lease held.
    /// </summary>
    public static Cluster WithLeader(int size, int leader, Func<NodeDriverOptions, NodeDriverOptions>? configure = null)
    {
        var cluster = new Cluster(size, configure);
        var elected = cluster.ElectLeader();
        if (elected != leader)
        {
            var transfer = cluster[elected].Transfer(leader);
            cluster.Settle();
            if (transfer.Outcome?.Status != TransferStatus.Moved)
            {
                throw new InvalidOperationException($"could not hand leadership from {elected} to {leader}: {transfer.Outcome}");
            }
        }

        if (cluster.ElectLeader() != leader)
        {
            throw new InvalidOperationException($"node {leader} did not keep the leadership");
        }

        cluster.Tick(2);
        return cluster;
    }

    public void Cut(int from, int to) => _cut.Add((from, to));

    /// <summary>No message reaches <paramref name="id"/> or leaves it, including those already in flight.</summary>
    public void Isolate(int id)
    {
        foreach (var other in Nodes)
        {
            if (other.Id != id)
            {
                _cut.Add((id, other.Id));
                _cut.Add((other.Id, id));
            }
        }
    }

    public void Heal() => _cut.Clear();

    /// <summary>The process dies: pending requests are never answered, what its disk synced survives.</summary>
    public void Crash(int id)
    {
        this[id].Crash();
        InFlight.RemoveAll(m => m.To == id || m.From == id);
    }

    /// <summary>A new process for <paramref name="id"/>: a new driver and state machine over the stores that survived.</summary>
    public void Restart(int id) => this[id].Restart();

    /// <summary>Every running node's clock moves one tick, then everything in flight is delivered; <paramref name="times"/> over.</summary>
    public void Tick(int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            foreach (var node in Nodes)
            {
                if (node.IsUp)
                {
                    node.Tick();
                }
            }

            Settle();
        }
    }

    /// <summary>Ticks until <paramref name="done"/> holds, at most <paramref name="maxTicks"/> times.</summary>
    public void TickUntil(Func<bool> done, int maxTicks = 200)
    {
        for (var i = 0; i < maxTicks && !done(); i++)
        {
            Tick();
        }

        if (!done())
        {
            throw new InvalidOperationException($"not reached within {maxTicks} ticks");
        }
    }

    /// <summary>Delivers everything in flight, and what that causes, until nothing is left (bounded).</summary>
    public void Settle()
    {
        for (var round = 0; round < SettleRoundsMax; round++)
        {
            if (InFlight.Count == 0)
            {
                return;
            }

            DeliverAt(0);
        }

        throw new InvalidOperationException("the cluster did not settle");
    }

    /// <summary>Delivers the messages in flight now that match, in order; what they cause stays in flight.</summary>
    public void DeliverAll(Func<Message, bool> match)
    {
        var chosen = InFlight.Where(match).ToList();
        InFlight.RemoveAll(m => match(m));
        foreach (var m in chosen)
        {
            Deliver(m);
        }
    }

    /// <summary>Ticks until a leader is known to every running voter and has committed its term's first entry.</summary>
    public int ElectLeader(int maxTicks = 200)
    {
        for (var i = 0; i < maxTicks; i++)
        {
            var leaders = Nodes.Where(n => n.IsUp && n.Core.Role == RaftRole.Leader).ToList();
            if (leaders.Count == 1)
            {
                var leader = leaders[0].Core;
                var committedInTerm = leader.TermAt(leader.CommitIndex) == leader.Term;
                if (committedInTerm && Nodes.All(n => !n.IsUp || n.Core.LeaderId == leader.Id))
                {
                    return leader.Id;
                }
            }

            Tick();
        }

        throw new InvalidOperationException($"no leader within {maxTicks} ticks");
    }

    internal void Send(in Message message) => InFlight.Add(message);

    private void DeliverAt(int index)
    {
        var m = InFlight[index];
        InFlight.RemoveAt(index);
        Deliver(m);
    }

    private void Deliver(in Message m)
    {
        if (m.To < 1 || m.To > Nodes.Count || !this[m.To].IsUp || _cut.Contains((m.From, m.To)) || (Drop?.Invoke(m) ?? false))
        {
            return;
        }

        this[m.To].Receive(m);
    }
}
