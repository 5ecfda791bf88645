using Raft.Core;

namespace Raft.Simulation;

internal sealed partial class Simulator
{
    private readonly List<(long Tick, int Node, int Peer)> _scheduledReports = [];
    private readonly Dictionary<ulong, int> _pendingRemovals = [];
    private readonly List<(long Tick, int Node, ulong Term)> _scheduledCrashes = [];
    private readonly List<(int Leader, ulong Term, int Follower, long From, long Until)> _stabilityWatches = [];
    private long _lastLinkBreakTick = -1_000_000;
    private readonly long[,] _linkBrokenUntil;
    private long _partitionHealTick;
    private ulong _markerIndex;
    private ulong _markerTerm;

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
                if (_nodes[id].Raft is { Role: RaftRole.Leader } raft && raft.Term == term)
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
                Input(_nodes[id], new NodeInput(NodeInputKind.Unreachable, default, peer));
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

        Input(a, new NodeInput(NodeInputKind.Unreachable, default, b.Id));
        Input(b, new NodeInput(NodeInputKind.Unreachable, default, a.Id));

        // A break that overlaps another one may cut the leader from a majority; only lone breaks are watched.
        var overlaps = _tick - _lastLinkBreakTick < 4 * _config.ElectionTimeoutTicks;
        _lastLinkBreakTick = _tick;
        if (overlaps)
        {
            _stabilityWatches.Clear();
            return;
        }

        var leader = CurrentLeader();
        if (_config.WatchLeaderStability && leader is not null && (leader == a || leader == b) && leader.Raft!.Membership.Voters.Length >= 3)
        {
            var follower = leader == a ? b : a;
            _stabilityWatches.Add((leader.Id, leader.Raft.Term, follower.Id, _tick, until + (2 * _config.ElectionTimeoutTicks)));
        }
    }

    // A healthy leader is not deposed because one follower's link to it dropped for a while (PreVote and the
    // voters' own view of the leader see to that).
    private void CheckLeaderStability()
    {
        for (var i = _stabilityWatches.Count - 1; i >= 0; i--)
        {
            var (leader, term, follower, from, until) = _stabilityWatches[i];
            var raft = _nodes[leader].Raft;
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
            if (node.Raft!.Role == RaftRole.Leader && (best is null || node.Raft.Term > best.Raft!.Term))
            {
                best = node;
            }
        }

        return best;
    }

    private void ChangeMembership()
    {
        var leader = CurrentLeader();
        if (leader is null || leader.PendingReady is not null)
        {
            return;
        }

        var membership = leader.Raft!.Membership;
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

        var change = options[_random.Next(options.Count)];
        var result = leader.Raft.ProposeMembershipChange(change, out var index, out var error);
        Trace($"membership {change} at leader {leader.Id}: {result} {error}");
        Observe(leader);
        if (result != ProposeResult.Accepted)
        {
            return;
        }

        var target = _nodes[change.NodeId];
        if (change.Kind == MembershipChangeKind.AddLearner)
        {
            target.Decommissioned = false;
            if (!target.Alive)
            {
                Start(target);
            }
        }
        else if (change.Kind == MembershipChangeKind.Remove)
        {
            _pendingRemovals[index] = change.NodeId;
        }
    }

    // A committed removal takes the node out of service, as an operator would.
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

        // Stopped at the start of the next tick, not in the middle of its own ready batch.
        var node = _nodes[removed];
        node.Decommissioned = true;
        node.RestartAtTick = -1;
    }

    private void TransferLeadership()
    {
        var leader = CurrentLeader();
        if (leader is null || leader.PendingReady is not null)
        {
            return;
        }

        var voters = leader.Raft!.Membership.Voters.ToArray().Where(v => v != leader.Id).ToArray();
        if (voters.Length == 0)
        {
            return;
        }

        var to = voters[_random.Next(voters.Length)];
        var result = leader.Raft.TransferLeadership(to);
        Trace($"transfer leadership {leader.Id} -> {to}: {result}");
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

        Trace("fault phase over: network healed, crashed nodes restart");
    }

    private bool LivenessReached()
    {
        var leader = CurrentLeader();
        if (leader is null)
        {
            return false;
        }

        var raft = leader.Raft!;
        var members = raft.Membership.Voters.ToArray().Concat(raft.Membership.Learners.ToArray()).ToArray();
        foreach (var id in members)
        {
            var node = _nodes[id];
            if (!node.Alive || node.Raft!.LeaderId != leader.Id || node.Raft.Term != raft.Term)
            {
                return false;
            }
        }

        if (_markerIndex != 0 && _safety.TryGetApplied(_markerIndex, out var applied) && applied.Term != _markerTerm)
        {
            _markerIndex = 0;
        }

        if (_markerIndex == 0 || (_markerTerm != raft.Term && !_safety.TryGetApplied(_markerIndex, out _)))
        {
            if (leader.PendingReady is null && raft.Propose(Command.Encode(Command.MarkerKey, 0, 0), out var index) == ProposeResult.Accepted)
            {
                _markerIndex = index;
                _markerTerm = raft.Term;
                Trace($"marker proposed at {index} t{raft.Term}");
            }

            return false;
        }

        foreach (var id in members)
        {
            if (_nodes[id].StateMachine.AppliedIndex < _markerIndex)
            {
                return false;
            }
        }

        if (!_safety.TryGetApplied(_markerIndex, out var marker) || marker.Term != _markerTerm)
        {
            return false;
        }

        // With the marker committed at (M, tm), an entry of an older term beyond M can never commit: a log
        // holding it would hold a term below tm at M, and every future leader holds (M, tm).
        foreach (var node in _nodes.Skip(1))
        {
            foreach (var op in node.PendingWrites.Values.Where(op => op.Index > _markerIndex && op.Term < _markerTerm).ToArray())
            {
                node.PendingWrites.Remove(op.Index);
                Resolve(op, OpStatus.Failed);
            }
        }

        return _clients.All(c => c.Op is null);
    }
}
