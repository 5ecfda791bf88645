using Raft.Core;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Simulation;

internal sealed partial class Simulator
{
    private readonly List<(long Tick, int Node, int Peer)> _scheduledReports = [];
    private readonly Dictionary<ulong, int> _pendingRemovals = [];

    // Nodes whose removal committed (and that were not added again since).
    private readonly HashSet<int> _removed = [];
    private readonly List<(long Tick, int Node, ulong Term)> _scheduledCrashes = [];
    private readonly List<(int Leader, ulong Term, int Follower, long From, long Until)> _stabilityWatches = [];
    private long _lastLinkBreakTick = -1_000_000;
    private readonly long[,] _linkBrokenUntil;
    private long _partitionHealTick;
    private ulong _markerIndex;
    private ulong _markerTerm;
    private int _markerLeader;
    private bool _markerPending;

    private void InjectFaults()
    {
        if (_partitionHealTick != 0 && _tick >= _partitionHealTick)
        {
            HealPartition();
        }
        else if (_partitionHealTick == 0 && _random.Chance(_config.PartitionRate))
        {
            StartPartition();
        }

        if (_random.Chance(_config.CrashRate))
        {
            CrashRandomNode(null);
        }

        for (var i = _scheduledCrashes.Count - 1; i >= 0; i--)
        {
            var (at, id, term) = _scheduledCrashes[i];
            if (at <= _tick)
            {
                _scheduledCrashes.RemoveAt(i);
                if (_nodes[id].Driver?.Core is { Role: RaftRole.Leader } raft && raft.Term == term)
                {
                    CrashRandomNode(_nodes[id]);
                }
            }
        }

        if (_random.Chance(_config.FalseUnreachableRate))
        {
            BreakRandomLink();
        }

        if (_random.Chance(_config.MembershipChangeRate))
        {
            ChangeMembership();
        }

        if (_random.Chance(_config.TransferRate))
        {
            TransferLeadership();
        }

        if (_random.Chance(_config.PauseRate))
        {
            PauseNode();
        }

        for (var i = _scheduledReports.Count - 1; i >= 0; i--)
        {
            var (at, id, peer) = _scheduledReports[i];
            if (at > _tick)
            {
                continue;
            }

            _scheduledReports.RemoveAt(i);
            if (_nodes[id].Alive)
            {
                Input(_nodes[id], driver => driver.PeerUnreachable(peer));
            }
        }
    }

    private void StartPartition()
    {
        var ids = Enumerable.Range(1, _nodes.Length - 1).ToArray();
        var kind = _random.Next(3);
        var leader = CurrentLeader();
        switch (kind)
        {
            case 0 when leader is not null:
                // Isolate the leader, both ways.
                foreach (var id in ids)
                {
                    if (id != leader.Id)
                    {
                        _linkDown[leader.Id, id] = true;
                        _linkDown[id, leader.Id] = true;
                    }
                }

                Trace($"partition: leader {leader.Id} isolated");
                break;
            case 1:
                // A random split into two sides; every link across is down both ways.
                var side = ids.ToDictionary(id => id, _ => _random.Chance(0.5));
                foreach (var a in ids)
                {
                    foreach (var b in ids)
                    {
                        _linkDown[a, b] = side[a] != side[b];
                    }
                }

                Trace($"partition: symmetric split [{string.Join(',', ids.Where(id => side[id]))}] | [{string.Join(',', ids.Where(id => !side[id]))}]");
                break;
            default:
                // Asymmetric: a few directed links fail.
                var count = _random.Next(1, ids.Length + 1);
                for (var i = 0; i < count; i++)
                {
                    var a = ids[_random.Next(ids.Length)];
                    var b = ids[_random.Next(ids.Length)];
                    if (a != b)
                    {
                        _linkDown[a, b] = true;
                        Trace($"partition: link {a}->{b} down");
                    }
                }

                break;
        }

        _partitionHealTick = _tick + _random.Next(5, 40 * _config.ElectionTimeoutTicks);
    }

    private void IsolateNode(int id, int ticks)
    {
        for (var other = 1; other < _nodes.Length; other++)
        {
            if (other != id)
            {
                _linkDown[id, other] = true;
                _linkDown[other, id] = true;
            }
        }

        _partitionHealTick = _tick + ticks;
        Trace($"partition: node {id} isolated for {ticks} ticks");
    }

    private void HealPartition()
    {
        Array.Clear(_linkDown);
        if (!_faultPhase)
        {
            Array.Clear(_linkBrokenUntil);
        }

        _partitionHealTick = 0;
        Trace("partition healed");
    }

    private void CrashRandomNode(SimNode? chosen)
    {
        var live = LiveNodes().ToArray();
        var down = _nodes.Skip(1).Count(n => n.Started && !n.Alive && !n.Decommissioned);
        if (live.Length == 0 || down + 1 > (live.Length + down - 1) / 2)
        {
            return;
        }

        var victim = chosen ?? (_random.Chance(0.5) ? CurrentLeader() ?? live[_random.Next(live.Length)] : live[_random.Next(live.Length)]);
        Crash(victim, "kill -9");
        victim.RestartAtTick = _tick + _random.Next(1, 30 * _config.ElectionTimeoutTicks);

        // The survivors' connections to it reset and their reconnects are refused.
        foreach (var peer in LiveNodes())
        {
            if (_random.Chance(_config.TrueUnreachableRate))
            {
                _scheduledReports.Add((_tick + _random.Next(0, 3), peer.Id, victim.Id));
            }
        }
    }

    // A live link breaks: both ends report each other unreachable, and what was in flight on it is lost.
    private void BreakRandomLink()
    {
        var live = LiveNodes().ToArray();
        if (live.Length < 2)
        {
            return;
        }

        var a = live[_random.Next(live.Length)];
        var b = live[_random.Next(live.Length)];
        if (a == b)
        {
            return;
        }

        // The link stays down for a while, as a connection that was reset and whose reconnect was refused.
        var until = _tick + _random.Next(1, 2 * _config.ElectionTimeoutTicks);
        _linkBrokenUntil[a.Id, b.Id] = until;
        _linkBrokenUntil[b.Id, a.Id] = until;
        Trace($"link {a.Id}<->{b.Id} breaks until {until} (false unreachable reports)");
        var kept = new List<(Message, (long, long))>();
        while (_network.TryDequeue(out var m, out var priority))
        {
            if (!((m.From == a.Id && m.To == b.Id) || (m.From == b.Id && m.To == a.Id)))
            {
                kept.Add((m, priority));
            }
        }

        foreach (var (m, priority) in kept)
        {
            _network.Enqueue(m, priority);
        }

        Input(a, driver => driver.PeerUnreachable(b.Id));
        Input(b, driver => driver.PeerUnreachable(a.Id));

        // A break that overlaps another one may cut the leader from a majority; only lone breaks are watched.
        var overlaps = _tick - _lastLinkBreakTick < 4 * _config.ElectionTimeoutTicks;
        _lastLinkBreakTick = _tick;
        if (overlaps)
        {
            _stabilityWatches.Clear();
            return;
        }

        var leader = CurrentLeader();
        if (_config.WatchLeaderStability && leader is not null && (leader == a || leader == b) && leader.Driver!.Core.Membership.Voters.Length >= 3)
        {
            var follower = leader == a ? b : a;
            _stabilityWatches.Add((leader.Id, leader.Driver.Core.Term, follower.Id, _tick, until + (2 * _config.ElectionTimeoutTicks)));
        }
    }

    // A healthy leader is not deposed because one follower's link to it dropped for a while (PreVote and the
    // voters' own view of the leader see to that).
    private void CheckLeaderStability()
    {
        for (var i = _stabilityWatches.Count - 1; i >= 0; i--)
        {
            var (leader, term, follower, from, until) = _stabilityWatches[i];
            var raft = _nodes[leader].Driver?.Core;
            if (raft is null || _tick > until)
            {
                _stabilityWatches.RemoveAt(i);
                continue;
            }

            if (raft.Role != RaftRole.Leader || raft.Term != term)
            {
                throw new SimulationViolation($"stability: leader {leader} of term {term} was deposed (now {raft}) by a transient drop of its link to follower {follower} at tick {from}");
            }
        }
    }

    private void RestartDueNodes()
    {
        for (var id = 1; id < _nodes.Length; id++)
        {
            var node = _nodes[id];
            if (node.Alive && node.Decommissioned)
            {
                Crash(node, "decommissioned");
            }

            if (!node.Alive && node.RestartAtTick >= 0 && node.RestartAtTick <= _tick && !node.Decommissioned)
            {
                Start(node);
            }
        }
    }

    private SimNode? CurrentLeader()
    {
        SimNode? best = null;
        foreach (var node in LiveNodes())
        {
            if (node.Driver!.Core.Role == RaftRole.Leader && (best is null || node.Driver.Core.Term > best.Driver!.Core.Term))
            {
                best = node;
            }
        }

        return best;
    }

    private void ChangeMembership()
    {
        var leader = CurrentLeader();
        if (leader is null || leader.Paused || leader.Driver!.IsAwaitingPersistence)
        {
            return;
        }

        var membership = leader.Driver.Core.Membership;
        var options = new List<MembershipChange>();
        foreach (var learner in membership.Learners)
        {
            options.Add(new MembershipChange(MembershipChangeKind.PromoteLearner, learner));
            options.Add(new MembershipChange(MembershipChangeKind.Remove, learner));
        }

        for (var id = 1; id < _nodes.Length; id++)
        {
            if (!membership.Contains(id))
            {
                options.Add(new MembershipChange(MembershipChangeKind.AddLearner, id));
            }
        }

        if (membership.Voters.Length > 3)
        {
            foreach (var voter in membership.Voters)
            {
                options.Add(new MembershipChange(MembershipChangeKind.Remove, voter));
            }
        }

        if (options.Count == 0)
        {
            return;
        }

        // Through the driver's request, as the server's members API proposes: refused promotions of learners still
        // behind, and changes refused while another is pending, are part of what is checked.
        var change = options[_random.Next(options.Count)];
        var request = new SimMembershipChange(change, (ulong)_random.Next(0, 200), outcome =>
        {
            Trace($"membership {change} at leader {leader.Id}: {outcome.Status} {outcome.Detail}");
            _membershipCounts = outcome.Status == MembershipStatus.Committed
                ? _membershipCounts with { Committed = _membershipCounts.Committed + 1 }
                : _membershipCounts with { Refused = _membershipCounts.Refused + 1 };
        });
        leader.Driver.ChangeMembership(request);
        if (request.Index == 0)
        {
            return;
        }

        var target = _nodes[change.NodeId];
        if (change.Kind == MembershipChangeKind.AddLearner)
        {
            _removed.Remove(change.NodeId);
            target.Decommissioned = false;
            if (!target.Alive)
            {
                Start(target);
            }
        }
        else if (change.Kind == MembershipChangeKind.Remove)
        {
            _pendingRemovals[request.Index] = change.NodeId;
        }
    }

    // A committed removal takes the node out of service, as an operator would; or, where removed nodes linger, leaves it
    // running with whatever it knows, to show it cannot disrupt the members.
    private void OnMembershipApplied(in Entry e)
    {
        if (!_pendingRemovals.Remove(e.Index, out var removed))
        {
            return;
        }

        if (Membership.Decode(e.Data.Span).Contains(removed))
        {
            return;
        }

        _removed.Add(removed);
        if (_config.RemovedLinger)
        {
            return;
        }

        // Stopped at the start of the next tick, not in the middle of its own ready batch.
        var node = _nodes[removed];
        node.Decommissioned = true;
        node.RestartAtTick = -1;
    }

    private void TransferLeadership()
    {
        var leader = CurrentLeader();
        if (leader is null || leader.Paused)
        {
            return;
        }

        var voters = leader.Driver!.Core.Membership.Voters.ToArray().Where(v => v != leader.Id).ToArray();
        if (voters.Length == 0)
        {
            return;
        }

        var to = voters[_random.Next(voters.Length)];
        Trace($"transfer leadership {leader.Id} -> {to}");
        leader.Driver.TransferLeadership(new SimTransfer(to, outcome => Trace($"transfer {leader.Id} -> {to}: {outcome.Status} {outcome.Detail}")));
    }

    // SIGSTOP: the process stops, its sockets stay open, so peers see silence, not a reset; what reaches it waits.
    private void PauseNode()
    {
        var running = RunningNodes().ToArray();
        if (running.Length == 0)
        {
            return;
        }

        var victim = _random.Chance(0.7) && CurrentLeader() is { Paused: false } leader ? leader : running[_random.Next(running.Length)];
        var ticks = _random.Next(1, 4 * _config.ElectionTimeoutTicks);
        victim.PausedAt = _tick;
        victim.PausedUntil = _tick + ticks;
        Trace($"pause node {victim.Id} for {ticks} ticks: {victim}");
    }

    // SIGCONT. The server's shell hands the driver what the peers said meanwhile, then the time that really passed,
    // then the clients' requests, so nothing is served before the clock caught up. The old shell, which this seed's
    // config may ask for, reported one tick and took both kinds of input as their sockets happened to be read.
    private void ResumeDueNodes()
    {
        foreach (var node in LiveNodes())
        {
            if (node.Paused && (node.PausedUntil <= _tick || !_faultPhase))
            {
                Resume(node);
            }
        }
    }

    private void Resume(SimNode node)
    {
        var driver = node.Driver!;
        node.PausedUntil = -1;
        Trace($"resume node {node.Id} after {_tick - node.PausedAt} ticks");
        if (_config.ResumeWithElapsedTicks)
        {
            while (node.Alive && node.PausedMessages.TryDequeue(out var message))
            {
                message(driver);
            }

            driver.Tick((ulong)(_tick - node.PausedAt), WallClockMs(node));
            while (node.Alive && node.PausedRequests.TryDequeue(out var request))
            {
                request(driver);
            }

            return;
        }

        driver.Tick(1, WallClockMs(node));
        while (node.Alive && (node.PausedMessages.Count > 0 || node.PausedRequests.Count > 0))
        {
            var fromClient = node.PausedMessages.Count == 0 || (node.PausedRequests.Count > 0 && _random.Chance(0.5));
            (fromClient ? node.PausedRequests : node.PausedMessages).Dequeue()(driver);
        }
    }

    private void BeginLiveness()
    {
        _faultPhase = false;
        HealPartition();
        _scheduledReports.Clear();
        _scheduledCrashes.Clear();
        _stabilityWatches.Clear();
        for (var id = 1; id < _nodes.Length; id++)
        {
            var node = _nodes[id];
            if (!node.Alive && node.Started && !node.Decommissioned)
            {
                node.RestartAtTick = _tick;
            }
        }

        Trace("fault phase over: network healed, crashed nodes restart, paused nodes resume");
    }

    // Converged: one leader known to every member in its term, a marker write of that term applied everywhere, and
    // every client's operation answered.
    private bool LivenessReached()
    {
        var leader = CurrentLeader();
        if (leader is null || leader.Paused)
        {
            return false;
        }

        var raft = leader.Driver!.Core;
        var members = raft.Membership.Voters.ToArray().Concat(raft.Membership.Learners.ToArray()).ToArray();
        foreach (var id in members)
        {
            var node = _nodes[id];
            if (!node.Alive || node.Paused || node.Driver!.Core.LeaderId != leader.Id || node.Driver.Core.Term != raft.Term)
            {
                return false;
            }
        }

        if (_markerTerm != raft.Term || _markerLeader != leader.Id)
        {
            if (!_markerPending)
            {
                ProposeMarker(leader);
            }

            return false;
        }

        if (_markerIndex == 0)
        {
            return false;
        }

        foreach (var id in members)
        {
            if (_nodes[id].Driver!.StateMachine.AppliedIndex < Math.Max(_markerIndex, raft.CommitIndex))
            {
                return false;
            }
        }

        return _clients.All(c => c.Op is null) && _later.Count == 0;
    }

    private void ProposeMarker(SimNode leader)
    {
        var term = leader.Driver!.Core.Term;
        _markerPending = true;
        _markerTerm = term;
        _markerLeader = leader.Id;
        _markerIndex = 0;
        leader.Driver.Propose(new MarkerWrite(KvCommandCodec.EncodePut("marker", BitConverter.GetBytes(++_values)), outcome =>
        {
            _markerPending = false;
            if (outcome.Status == WriteStatus.Applied && outcome.Term == term && _markerTerm == term)
            {
                _markerIndex = outcome.Index;
                Trace($"marker applied at {outcome.Index} t{term}");
            }
            else
            {
                _markerTerm = 0;
            }
        }));
    }
}
