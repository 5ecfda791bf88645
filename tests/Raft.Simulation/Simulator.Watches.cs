using Raft.Core;
using Raft.KeyValue;
using Raft.Simulation.Checking;

namespace Raft.Simulation;

/// <summary>
/// What a run's watch clients went through: changes delivered (each checked against the committed log), resumes on
/// another node (some because their node crashed or restarted), watches a node ended for falling behind its history,
/// re-reads after a node answered compacted, opens a full node refused, and faults put in on purpose.
/// </summary>
internal sealed record WatchCounts(int Watchers = 0, long Delivered = 0, int Resumed = 0, int AfterCrash = 0, int Dropped = 0, int Rereads = 0, int Refused = 0, int Faults = 0)
{
    public WatchCounts Add(WatchCounts other) => new(
        Watchers + other.Watchers, Delivered + other.Delivered, Resumed + other.Resumed, AfterCrash + other.AfterCrash, Dropped + other.Dropped,
        Rereads + other.Rereads, Refused + other.Refused, Faults + other.Faults);

    public override string ToString() =>
        $"{Watchers} watches ({Delivered} changes delivered and checked, {Resumed} resumed on another node ({AfterCrash} after their node crashed or restarted), " +
        $"{Dropped} ended for falling behind, {Rereads} re-read after compaction, {Refused} refused by a full node" + (Faults > 0 ? $", {Faults} faults put in)" : ")");
}

/// <summary>
/// Watch clients, as the .NET client's watch over the HTTP API: each watches a prefix (or a key) through one node,
/// reading that node's <see cref="WatchHub"/> (the server's own history, fed by the node's store and published after
/// each batch, as the server's node loop does) in bounded batches at its own pace, and choosing what to deliver with
/// the server's own <see cref="WatchFilter.Select"/>. It resumes on the next node from the last index it saw when
/// its node crashes or restarts, when the node ends the watch for falling behind, when the node is stopped and stays
/// silent, or when its connection breaks at random. A node whose history no longer reaches back to that index answers
/// compacted: the client reads the keys again from that node, at its applied index, and watches on after it.
/// </summary>
/// <remarks>
/// The clients only observe: they draw from their own generator and hand no driver any input, so a seed's cluster
/// runs exactly as it would without them. At the end every client catches up through a member of the converged
/// cluster, and <see cref="WatchChecker"/> compares what each saw with the changes the committed log made.
/// </remarks>
internal sealed partial class Simulator
{
    private readonly SeededRandom _watchRandom;
    private readonly SimWatcher[] _watchers;
    private readonly List<WatchChange> _watchBatch = [];
    private readonly List<WatchChange> _watchMatching = [];
    private WatchCounts _watchCounts = new();

    private sealed class SimWatcher(int index, WatchFilter filter)
    {
        public WatchTrace Observed { get; } = new(index, filter);

        public WatchFilter Filter { get; } = filter;

        /// <summary>The index the client resumes from: it has had every change up to it. Null until it first opens.</summary>
        public ulong? After { get; set; }

        public long NextTick { get; set; }

        /// <summary>The node it last opened a watch on (or tried to), so that it resumes on the next one.</summary>
        public int LastNodeId { get; set; }

        public bool Faulted { get; set; }

        // The open watch, as the server holds it: the node's history, the position in it, the index the watch was
        // opened after, the index its reads have seen everything up to, and the last index it told the client.
        public SimNode? Node { get; set; }

        public WatchHub? Hub { get; set; }

        public long Position { get; set; }

        public ulong OpenedAfter { get; set; }

        public ulong Seen { get; set; }

        public ulong Said { get; set; }

        public override string ToString() => Observed.ToString();
    }

    private SimWatcher[] CreateWatchers()
    {
        var watchers = new SimWatcher[_config.Watchers];
        for (var i = 0; i < watchers.Length; i++)
        {
            // Every key (the liveness marker among them), the clients' keys, or one of those by prefix or by name.
            var filter = _watchRandom.Next(4) switch
            {
                0 => new WatchFilter(string.Empty, IsPrefix: true),
                1 => new WatchFilter("k", IsPrefix: true),
                2 => new WatchFilter($"k{_watchRandom.Next(_config.Keys)}", IsPrefix: true),
                _ => new WatchFilter($"k{_watchRandom.Next(_config.Keys)}", IsPrefix: false),
            };
            watchers[i] = new SimWatcher(i, filter) { NextTick = _watchRandom.Next(_config.FaultTicks / 2) };
        }

        _watchCounts = _watchCounts with { Watchers = watchers.Length };
        return watchers;
    }

    private void RunWatchers()
    {
        foreach (var watcher in _watchers)
        {
            if (_tick >= watcher.NextTick)
            {
                watcher.NextTick = _tick + 1 + _watchRandom.Next(_config.WatchReadTicksMax);
                StepWatcher(watcher);
            }
        }
    }

    private void StepWatcher(SimWatcher watcher)
    {
        if (watcher.Node is { } node)
        {
            if (!ReferenceEquals(node.Watches, watcher.Hub))
            {
                Trace($"watch {watcher}: node {node.Id} crashed or restarted, resuming after {watcher.After}");
                _watchCounts = _watchCounts with { AfterCrash = _watchCounts.AfterCrash + 1 };
                CloseWatch(watcher);
            }
            else if (node.Paused)
            {
                // A stopped process says nothing, not even progress lines; the client gives up on it after a while.
                if (!_watchRandom.Chance(0.2))
                {
                    return;
                }

                Trace($"watch {watcher}: node {node.Id} silent, resuming after {watcher.After}");
                CloseWatch(watcher);
            }
            else if (_watchRandom.Chance(_config.WatchReconnectRate))
            {
                Trace($"watch {watcher}: connection to node {node.Id} broke, resuming after {watcher.After}");
                CloseWatch(watcher);
            }
            else
            {
                // A progress line needs a quiet interval: about every other read that finds nothing.
                ReadWatch(watcher, quiet: _watchRandom.Chance(0.5));
                return;
            }
        }

        OpenWatch(watcher, NextWatchNode(watcher));
    }

    // The client's next endpoint: any node but the one it last tried.
    private SimNode NextWatchNode(SimWatcher watcher)
    {
        var count = _nodes.Length - 1;
        var id = 1 + _watchRandom.Next(count);
        if (id == watcher.LastNodeId && count > 1)
        {
            id = 1 + (id % count);
        }

        return _nodes[id];
    }

    // GET /v1/watch?prefix=p&fromIndex=after&consistency=stale on this node, as WatchApi answers it.
    private void OpenWatch(SimWatcher watcher, SimNode node)
    {
        watcher.LastNodeId = node.Id;
        if (!node.Alive || node.Paused)
        {
            // Refused, or no answer in time: the client tries the next node later.
            return;
        }

        var hub = node.Watches!;
        if (!hub.TryEnter())
        {
            _watchCounts = _watchCounts with { Refused = _watchCounts.Refused + 1 };
            return;
        }

        // From the client's index; a new watch from what this node has published (stale: no barrier with the leader).
        var resumed = watcher.After is not null;
        var after = watcher.After ?? hub.Published;
        if (watcher.After is null)
        {
            watcher.Observed.Started(after);
            watcher.After = after;
        }

        if (!hub.TryOpen(after, out var position, out var oldest))
        {
            // 410 compacted: the client reads the keys again, from this node, and watches from that read's index.
            Reread(watcher, node, oldest);
            after = watcher.After.Value;
            if (!hub.TryOpen(after, out position, out oldest))
            {
                hub.Leave();
                throw new SimulationViolation($"watch: node {node.Id}'s history refused its own applied index {after} (it keeps the changes after {oldest} only)");
            }
        }
        else if (resumed)
        {
            _watchCounts = _watchCounts with { Resumed = _watchCounts.Resumed + 1 };
        }

        Trace($"watch {watcher}: open on node {node.Id} after {after}");
        watcher.Node = node;
        watcher.Hub = hub;
        watcher.Position = position;
        watcher.OpenedAfter = after;
        watcher.Seen = after;
        watcher.Said = after;
    }

    // The keys as of the node's applied index, read straight from its store between two of its inputs.
    private void Reread(SimWatcher watcher, SimNode node, ulong oldest)
    {
        var store = node.Driver!.StateMachine;
        var items = new List<KvListItem>();
        if (watcher.Filter.IsPrefix)
        {
            store.List(watcher.Filter.Text, int.MaxValue, items);
        }
        else if (store.TryGet(watcher.Filter.Text, out var value))
        {
            items.Add(new KvListItem(watcher.Filter.Text, value));
        }

        Trace($"watch {watcher}: node {node.Id} keeps the changes after {oldest} only, not after {watcher.After}: {items.Count} keys read again at {store.AppliedIndex}");
        _watchCounts = _watchCounts with { Rereads = _watchCounts.Rereads + 1 };
        watcher.Observed.Reread(store.AppliedIndex, items);
        watcher.After = store.AppliedIndex;
    }

    // One turn of WatchApi's stream loop and the client's reading of it: a batch from the history, a line per entry
    // that changed a watched key, or a progress line when there was none and the watch was quiet long enough.
    private void ReadWatch(SimWatcher watcher, bool quiet)
    {
        var hub = watcher.Hub!;
        _watchBatch.Clear();
        _watchMatching.Clear();
        var position = watcher.Position;
        if (!hub.Read(ref position, _watchBatch, _config.WatchBatchMax, out var published, out _))
        {
            // Further behind than the history holds: the node ends the watch, and the client resumes on the next node.
            hub.CountDropped();
            Trace($"watch {watcher}: dropped by node {watcher.Node!.Id}, resuming after {watcher.After}");
            _watchCounts = _watchCounts with { Dropped = _watchCounts.Dropped + 1 };
            CloseWatch(watcher);
            return;
        }

        watcher.Position = position;
        watcher.Filter.Select(_watchBatch, watcher.OpenedAfter, _watchMatching);
        PutFault(watcher, _watchMatching);
        for (var i = 0; i < _watchMatching.Count;)
        {
            var index = _watchMatching[i].Index;
            for (; i < _watchMatching.Count && _watchMatching[i].Index == index; i++)
            {
                watcher.Observed.Delivered(_watchMatching[i]);
            }

            // The client goes on from a line's index once it has had the whole line.
            watcher.Said = index;
            watcher.After = Math.Max(watcher.After!.Value, index);
            watcher.Observed.SeenThrough(watcher.After.Value);
        }

        _watchCounts = _watchCounts with { Delivered = _watchCounts.Delivered + _watchMatching.Count };
        watcher.Seen = Math.Max(watcher.Seen, published);
        if (_watchMatching.Count == 0 && quiet)
        {
            watcher.Said = Math.Max(watcher.Seen, watcher.Said);
            watcher.After = Math.Max(watcher.After!.Value, watcher.Said);
            watcher.Observed.SeenThrough(watcher.After.Value);
        }
    }

    private static void CloseWatch(SimWatcher watcher)
    {
        if (watcher.Node is { } node && ReferenceEquals(node.Watches, watcher.Hub))
        {
            watcher.Hub!.Leave();
        }

        watcher.Node = null;
        watcher.Hub = null;
    }

    // The fault a test asks for, once per watch: a change lost before a later entry's, or a change delivered twice.
    private void PutFault(SimWatcher watcher, List<WatchChange> matching)
    {
        if (watcher.Faulted)
        {
            return;
        }

        switch (_config.WatchFault)
        {
            case WatchFault.DropOne when matching.Count > 1 && matching[^1].Index != matching[0].Index:
                matching.RemoveAt(0);
                break;
            case WatchFault.RepeatOne when matching.Count > 0:
                matching.Insert(1, matching[0]);
                break;
            default:
                return;
        }

        watcher.Faulted = true;
        _watchCounts = _watchCounts with { Faults = _watchCounts.Faults + 1 };
    }

    // Once the cluster converged: every client catches up through a member, and what each saw is checked against the
    // changes the committed log made (log, through logEnd).
    private void CheckWatches(SimNode leader, List<WatchChange> log, ulong logEnd)
    {
        var target = leader.Driver!.StateMachine.AppliedIndex;
        var members = LiveNodes().Where(n => leader.Driver.Core.Membership.Contains(n.Id)).ToArray();
        foreach (var watcher in _watchers)
        {
            CloseWatch(watcher);
        }

        var readsMax = 4 * (log.Count + 100);
        foreach (var watcher in _watchers)
        {
            for (var reads = 0; watcher.After is not { } after || after < target; reads++)
            {
                if (reads > readsMax)
                {
                    throw new SimulationViolation($"watch liveness: {watcher} has seen everything only up to {watcher.After} after {readsMax} reads of the converged members, short of {target}");
                }

                if (watcher.Node is null)
                {
                    OpenWatch(watcher, members[_watchRandom.Next(members.Length)]);
                }
                else
                {
                    ReadWatch(watcher, quiet: true);
                }
            }

            CloseWatch(watcher);
        }

        var result = WatchChecker.Check(log, logEnd, _watchers.Select(w => w.Observed), target);
        if (!result.IsPass)
        {
            throw new SimulationViolation(result.Explanation);
        }
    }
}
