using System.Buffers.Binary;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;
using Raft.Simulation.Checking;

namespace Raft.Simulation;

/// <summary>
/// Leases: the simulator raises the cluster to version 3 once a leader exists, and a few lease holders each get a
/// lease, bind keys to it (and sometimes <see cref="LeaseWorkload.LockName"/>), keep it alive every third of its time to
/// live through whatever node they reach, and now and then die or revoke it and start again. The lease checker follows
/// the log as the first replica to apply each index applied it, every other replica's application of each lease's end,
/// and what the holders were told; at healing the holders all die, and the run converges only once every lease ended
/// on every member.
/// </summary>
internal sealed partial class Simulator
{
    // What the first replica to apply each lease's end held, in the lease key space, before and after it.
    private readonly Dictionary<ulong, (string[] Before, string[] After)> _leaseEndStates = [];
    private readonly List<KvListItem> _leaseScan = [];

    // Per node: the process that applied its last entry, and that entry's index.
    private (NodeDriver<KvStore, KvApplyResult>? Driver, ulong Index)[] _leaseAppliedAt = [];
    private LeaseWorkload _leaseWorkload = null!;
    private SeededRandom _leaseRandom = null!;
    private LeaseHolder[] _holders = [];
    private LeaseChecker? _leaseChecker;
    private ulong _leaseStreamIndex;
    private long _leaseStreamClockMs;
    private ulong _leaseLastEndIndex;
    private LeaseLockHold? _leaseLock;
    private int _leaseKeepAlives;
    private int _leaseLockGrants;
    private int _leaseLockRefusals;
    private long _leaseLivenessAllowanceMs;
    private (int Node, ulong Term) _leaseAbleLeader;
    private long _leaseAbleTick = -1;
    private bool _holdersStopped;
    private bool _leaseVersionRaised;
    private long _firstLeaderTick = -1;
    private long _leaseVersionProposedTick = -1;

    private enum LeaseStepKind : byte
    {
        Grant,
        Put,
        Lock,
        KeepAlive,
        Revoke,
    }

    private static ReadOnlySpan<byte> LeaseKeyPrefixUtf8 => "lease/"u8;

    private int LeaseAttemptTimeoutTicks => 3 * _config.ElectionTimeoutTicks;

    private LeaseCounts LeaseCountsNow() => _leaseChecker is not { } c
        ? new LeaseCounts()
        : new LeaseCounts(c.Granted, _leaseKeepAlives, c.Revoked, c.Expired, c.KeysDeleted, c.ReplicaEnds, c.WithinSkew, _leaseLockGrants, _leaseLockRefusals);

    // Once per tick, after the clients: the version, the holders (which all die when healing begins), the clock steps
    // of a test that breaks clocks on purpose, and, once the cluster has healed, the deadline of every lease.
    private void RunLeaseHolders()
    {
        if (_leaseChecker is null)
        {
            StartLeases();
        }

        RaiseClusterVersion();
        if (_leaseWorkload.ClockStepMs != 0 && _faultPhase && _tick % _leaseWorkload.ClockStepEveryTicks == 0 && CurrentLeader() is { } stepped)
        {
            stepped.ClockSkewMs += _leaseWorkload.ClockStepMs;
            Trace($"node {stepped.Id}'s clock steps {_leaseWorkload.ClockStepMs} ms ahead");
        }

        if (_faultPhase)
        {
            foreach (var holder in _holders)
            {
                RunHolder(holder);
            }

            return;
        }

        if (!_holdersStopped)
        {
            _holdersStopped = true;
            foreach (var holder in _holders)
            {
                Drop(holder, "healing begins: every holder dies");
            }
        }

        // Deadlines run from the moment the cluster has healed around a leader that can end leases: every member follows
        // it, it applied an entry of its own term (its take-over comes first, so its duties run), and everything in its
        // log is committed, so an expiry it proposes waits behind nothing. A new leader starts that moment again.
        var leader = CurrentLeader();
        if (leader is not null && (leader.Id, leader.Driver!.Core.Term) == _leaseAbleLeader)
        {
            _leaseChecker!.CheckEnded(TrueTimeMs(_tick), TrueTimeMs(_leaseAbleTick), _leaseLivenessAllowanceMs);
            ThrowIfLeaseViolation();
        }
        else if (leader is not null && FollowsOneLeader() && leader.Driver!.Core.TermAt(leader.Driver.StateMachine.AppliedIndex) == leader.Driver.Core.Term
            && leader.Driver.Core.CommitIndex == leader.Driver.Core.LastIndex)
        {
            _leaseAbleLeader = (leader.Id, leader.Driver.Core.Term);
            _leaseAbleTick = _tick;
            Trace($"leases: leader {leader.Id} can end leases; each must now end in time");
        }
    }

    private void StartLeases()
    {
        _leaseWorkload = _config.Leases ?? LeaseWorkload.FromSeed(_config);
        _leaseRandom = new SeededRandom(_config.Seed ^ 0x1EA5_E5EE_D000_0004UL);
        _holders = Enumerable.Range(0, _leaseWorkload.Holders).Select(i => new LeaseHolder(i)).ToArray();
        _leaseAppliedAt = new (NodeDriver<KvStore, KvApplyResult>?, ulong)[_nodes.Length];
        var skews = _nodes.Skip(1).Select(n => n.ClockSkewMs).ToArray();
        _leaseChecker = new LeaseChecker(skews.Max() - skews.Min());

        // After an able leader's clock passes a lease's end: a tick to notice, and round trips (with the disk on both
        // sides) for a duty already in flight to apply and then for the expiry to commit and apply.
        var roundTrip = (2 * (_config.MaxDelayTicks + 1)) + (2 * _config.MaxDiskLatencyTicks);
        _leaseLivenessAllowanceMs = ((4 * roundTrip) + 5) * (long)SimulationConfig.MsPerTick;
        Trace($"leases: {_leaseWorkload}, clock skew spread {_leaseChecker.SkewSpreadMs} ms");
    }

    // The version entry is a write like any other: proposed at the leader, asked again if it went nowhere. Without
    // holders it is not proposed, so that such a run is what it would be without leases.
    private void RaiseClusterVersion()
    {
        if (_leaseVersionRaised || _holders.Length == 0)
        {
            return;
        }

        foreach (var node in RunningNodes())
        {
            if (node.Driver!.StateMachine.ClusterVersion >= KvClusterVersion.Leases)
            {
                _leaseVersionRaised = true;
                Trace($"cluster version {KvClusterVersion.Leases} applied on node {node.Id}");
                return;
            }
        }

        if (CurrentLeader() is not { Paused: false } leader)
        {
            return;
        }

        if (_firstLeaderTick < 0)
        {
            _firstLeaderTick = _tick;
        }

        if (_tick < _firstLeaderTick + _leaseWorkload.VersionDelayTicks
            || (_leaseVersionProposedTick >= 0 && _tick - _leaseVersionProposedTick < 10 * _config.ElectionTimeoutTicks))
        {
            return;
        }

        _leaseVersionProposedTick = _tick;
        Trace($"propose cluster version {KvClusterVersion.Leases} at leader {leader.Id}");
        leader.Driver!.Propose(new MarkerWrite(KvCommandCodec.EncodeSetClusterVersion(KvClusterVersion.Leases), outcome =>
        {
            if (outcome.Status != WriteStatus.Applied)
            {
                _leaseVersionProposedTick = -1;
            }
        }));
    }

    private bool FollowsOneLeader()
    {
        if (CurrentLeader() is not { Paused: false } leader)
        {
            return false;
        }

        var raft = leader.Driver!.Core;
        foreach (var id in raft.Membership.Voters.ToArray().Concat(raft.Membership.Learners.ToArray()))
        {
            var node = _nodes[id];
            if (!node.Alive || node.Paused || node.Driver!.Core.LeaderId != leader.Id || node.Driver.Core.Term != raft.Term)
            {
                return false;
            }
        }

        return true;
    }

    // True time: the wall clock of a node without skew. A holder's belief is in it; no node ever reads it.
    private long TrueTimeMs(long tick) => WallClockMs(_nodes[1]) - _nodes[1].ClockSkewMs - ((_tick - tick) * SimulationConfig.MsPerTick);

    private void ThrowIfLeaseViolation()
    {
        if (_leaseChecker?.FirstViolation is { } violation)
        {
            throw new SimulationViolation($"leases: {violation}");
        }
    }

    // Part of convergence: every lease ended, every member applied the last end and holds no lease, no key bound to
    // one, and the lock bound to none (a member restored from a snapshot past an end is checked here too).
    private bool LeasesEndedEverywhere()
    {
        if (_leaseChecker is null)
        {
            return true;
        }

        if (_leaseChecker.Live.Any() || CurrentLeader() is not { } leader)
        {
            return false;
        }

        var membership = leader.Driver!.Core.Membership;
        var members = membership.Voters.ToArray().Concat(membership.Learners.ToArray()).Select(id => _nodes[id]).ToArray();
        if (members.Any(node => !node.Alive || node.Driver!.StateMachine.AppliedIndex < _leaseLastEndIndex))
        {
            return false;
        }

        foreach (var node in members)
        {
            var store = node.Driver!.StateMachine;
            if (store.LeaseCount != 0)
            {
                throw new SimulationViolation($"leases: node {node.Id} still holds {store.LeaseCount} lease(s) at index {store.AppliedIndex}, after every lease granted ended");
            }

            if (LeaseKeys(store).FirstOrDefault(item => item.Value.Lease != 0) is { Key: not null } bound)
            {
                throw new SimulationViolation($"leases: node {node.Id} holds \"{bound.Key}\" bound to lease {bound.Value.Lease} at index {store.AppliedIndex}, after every lease granted ended");
            }

            store.TryGetLock(LeaseWorkload.LockName, long.MinValue, out _, out var lockLease);
            if (lockLease != 0)
            {
                throw new SimulationViolation($"leases: node {node.Id} holds \"{LeaseWorkload.LockName}\" bound to lease {lockLease}, after every lease granted ended");
            }
        }

        return true;
    }

    private List<KvListItem> LeaseKeys(KvStore store)
    {
        _leaseScan.Clear();
        store.List(LeaseWorkload.KeyPrefix, int.MaxValue, _leaseScan);
        return _leaseScan;
    }

    private string[] LeaseKeyState(KvStore store) =>
        LeaseKeys(store).Select(item => $"{item.Key}@{item.Value.Version}~{item.Value.Lease}").ToArray();

    // ---- Holders.

    private void RunHolder(LeaseHolder holder)
    {
        if (holder.Attempt is { } attempt)
        {
            if (!ReferenceEquals(attempt.Node.Driver, attempt.Driver))
            {
                AttemptLost(attempt, "connection reset");
            }
            else if (_tick - attempt.SentTick > LeaseAttemptTimeoutTicks)
            {
                AttemptLost(attempt, "timed out");
            }

            return;
        }

        if (_tick < holder.NextTick)
        {
            return;
        }

        // What it cannot renew in time it no longer counts on: it starts again with a new lease.
        if (holder.Lease != 0 && TrueTimeMs(_tick) >= holder.BelievedUntilMs)
        {
            Drop(holder, "its lease may have run out");
            return;
        }

        holder.Step ??= NextStep(holder);
        if (holder.Step is { } step)
        {
            SendStep(holder, step);
        }
    }

    private LeaseStep? NextStep(LeaseHolder holder)
    {
        if (holder.Lease == 0)
        {
            // A new process: a new owner, a fresh time to live, some of them shorter than a failover.
            var et = _config.ElectionTimeoutTicks;
            var ttlTicks = _leaseRandom.Chance(_leaseWorkload.ShortTtlShare) ? _leaseRandom.Next(Math.Max(1, et / 2), 2 * et) : _leaseRandom.Next(3 * et, (10 * et) + 1);
            holder.Incarnation++;
            holder.TtlMs = ttlTicks * (long)SimulationConfig.MsPerTick;
            holder.KeepAliveEveryTicks = Math.Max(1, ttlTicks / 3);
            return new LeaseStep(LeaseStepKind.Grant);
        }

        if (_tick >= holder.LastRenewalSentTick + holder.KeepAliveEveryTicks)
        {
            if (_leaseRandom.Chance(_leaseWorkload.DeathRate))
            {
                // Half the time a new process starts at once and wants the lock its predecessor's lease still holds.
                Drop(holder, "it dies", restartSoon: _leaseRandom.Chance(0.5));
                return null;
            }

            return new LeaseStep(_leaseRandom.Chance(_leaseWorkload.RevokeRate) ? LeaseStepKind.Revoke : LeaseStepKind.KeepAlive);
        }

        if (holder.ToBind.TryDequeue(out var bind))
        {
            return bind;
        }

        if (holder.WantsLock && _tick >= holder.NextLockTick)
        {
            return new LeaseStep(LeaseStepKind.Lock, LeaseWorkload.LockName);
        }

        holder.NextTick = holder.LastRenewalSentTick + holder.KeepAliveEveryTicks;
        if (holder.WantsLock)
        {
            holder.NextTick = Math.Min(holder.NextTick, holder.NextLockTick);
        }

        return null;
    }

    private void SendStep(LeaseHolder holder, LeaseStep step)
    {
        var guess = _nodes[holder.LeaderGuess];
        var node = _leaseRandom.Chance(_config.AnyNodeShare) || !guess.Alive ? _nodes[1 + _leaseRandom.Next(_nodes.Length - 1)] : guess;
        if (!node.Alive)
        {
            // Connection refused: nothing was sent.
            holder.LeaderGuess = 1 + _leaseRandom.Next(_nodes.Length - 1);
            holder.NextTick = _tick + 1;
            return;
        }

        // A fresh array per attempt: the driver stamps the leader's time into the array it proposes, which the log keeps.
        var command = step.Kind switch
        {
            LeaseStepKind.Grant => KvCommandCodec.EncodeLeaseGrant(holder.TtlMs, default),
            LeaseStepKind.Put => KvCommandCodec.EncodePut(step.Name!, LeaseValue(), null, default, holder.Lease),
            LeaseStepKind.Lock => KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, step.Name!, holder.Owner, 0, default, holder.Lease),
            LeaseStepKind.KeepAlive => KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, holder.Lease, default),
            _ => KvCommandCodec.EncodeLease(KvCommandType.LeaseRevoke, holder.Lease, default),
        };
        var attempt = new LeaseAttempt(holder, step, node, node.Driver!, _tick);
        holder.Attempt = attempt;
        Trace($"{holder.Owner} sends {step.Kind} {step.Name} (lease {holder.Lease}) to node {node.Id}");
        Input(node, driver => driver.Propose(new LeaseWrite(this, attempt, command)), fromClient: true);
    }

    // Unique per write, as the session checker wants of every value.
    private byte[] LeaseValue()
    {
        var value = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(value, ++_values);
        return value;
    }

    private void OnLeaseOutcome(LeaseAttempt attempt, WriteOutcome<KvApplyResult> outcome)
    {
        if (attempt.Done)
        {
            return;
        }

        var holder = attempt.Holder;
        switch (outcome.Status)
        {
            case WriteStatus.Applied:
                attempt.Done = true;
                holder.Attempt = null;
                holder.LeaderGuess = attempt.Node.Id;
                OnLeaseAnswer(holder, attempt, outcome.Result);
                break;
            case WriteStatus.NotLeader when outcome.LeaderId != 0:
                // What a server's leader path would pass on; the holder goes there itself.
                attempt.Done = true;
                holder.Attempt = null;
                holder.LeaderGuess = outcome.LeaderId;
                holder.NextTick = _tick + 1;
                break;
            case WriteStatus.NotLeader:
            case WriteStatus.NoLeader:
            case WriteStatus.Overloaded:
            case WriteStatus.NotApplied:
                attempt.Done = true;
                holder.Attempt = null;
                holder.LeaderGuess = 1 + _leaseRandom.Next(_nodes.Length - 1);
                holder.NextTick = _tick + 1 + _leaseRandom.Next(3);
                break;
            default:
                AttemptLost(attempt, outcome.Status.ToString());
                break;
        }
    }

    // The outcome is unknown. Every step may be sent again: a second grant leaves an orphan lease to expire, a second
    // put writes a new value, a second acquire by the holder renews, a second keep-alive or revoke changes nothing more.
    private void AttemptLost(LeaseAttempt attempt, string why)
    {
        attempt.Done = true;
        var holder = attempt.Holder;
        holder.Attempt = null;
        holder.LeaderGuess = 1 + _leaseRandom.Next(_nodes.Length - 1);
        holder.NextTick = _tick + 1;
        Trace($"{holder.Owner}: {attempt.Step.Kind} unknown ({why}): sending it again");
    }

    private void OnLeaseAnswer(LeaseHolder holder, LeaseAttempt attempt, in KvApplyResult result)
    {
        Trace($"{holder.Owner}: {attempt.Step.Kind} {attempt.Step.Name} -> {result.Status} idx={result.Index} lease={result.Lease} until={result.ExpiresAtMs}");
        holder.Step = null;
        switch (attempt.Step.Kind, result.Status)
        {
            case (LeaseStepKind.Grant, KvApplyStatus.Ok):
                holder.Lease = result.Lease;
                Believe(holder, attempt);
                var keys = _leaseRandom.Next(1, _leaseWorkload.KeysPerLease + 1);
                for (var k = 0; k < keys; k++)
                {
                    holder.ToBind.Enqueue(new LeaseStep(LeaseStepKind.Put, $"{LeaseWorkload.KeyPrefix}h{holder.Index}/k{k}"));
                }

                holder.WantsLock = _leaseRandom.Chance(_leaseWorkload.LockShare);
                holder.NextLockTick = _tick;
                break;
            case (LeaseStepKind.Grant, KvApplyStatus.Invalid):
                // The cluster is not at version 3 yet: the same grant, a while later.
                holder.Step = attempt.Step;
                holder.NextTick = _tick + _config.ElectionTimeoutTicks;
                break;
            case (LeaseStepKind.KeepAlive, KvApplyStatus.Ok):
                _leaseKeepAlives++;
                Believe(holder, attempt);
                break;
            case (LeaseStepKind.Lock, KvApplyStatus.Ok):
                holder.WantsLock = false;
                break;
            case (LeaseStepKind.Lock, KvApplyStatus.LockHeld):
                // Held by another holder's lease (perhaps its own dead predecessor's): asked again a round later.
                holder.NextLockTick = _tick + holder.KeepAliveEveryTicks;
                break;
            case (LeaseStepKind.Revoke, _):
                Drop(holder, "it revoked its lease");
                break;
            case (_, KvApplyStatus.LeaseNotFound):
                Drop(holder, "the cluster says its lease is gone");
                break;
            case (LeaseStepKind.Grant, _):
                Drop(holder, $"its grant was refused ({result.Status})");
                break;
            default:
                // A put or the lock taken, or the lock held by another holder: nothing more to do about it.
                break;
        }
    }

    // A grant or keep-alive that took effect, sent at this attempt's tick: the holder may count on its lease until then
    // plus its time to live (by the true time it was sent; the checker allows for the leaders' clocks).
    private void Believe(LeaseHolder holder, LeaseAttempt attempt)
    {
        holder.LastRenewalSentTick = Math.Max(holder.LastRenewalSentTick, attempt.SentTick);
        holder.BelievedUntilMs = Math.Max(holder.BelievedUntilMs, TrueTimeMs(attempt.SentTick) + holder.TtlMs);
        _leaseChecker!.OnBelieved(holder.Lease, holder.BelievedUntilMs);
        ThrowIfLeaseViolation();
    }

    private void Drop(LeaseHolder holder, string why, bool restartSoon = false)
    {
        if (holder.Lease != 0)
        {
            Trace($"{holder.Owner} lets lease {holder.Lease} go: {why}");
        }

        if (holder.Attempt is { } attempt)
        {
            attempt.Done = true;
        }

        holder.Attempt = null;
        holder.Step = null;
        holder.ToBind.Clear();
        holder.WantsLock = false;
        holder.Lease = 0;
        holder.LastRenewalSentTick = 0;
        holder.BelievedUntilMs = 0;
        holder.NextTick = _tick + (restartSoon
            ? _leaseRandom.Next(1, (int)(holder.TtlMs / SimulationConfig.MsPerTick) + 1)
            : _leaseRandom.Next(30 * _config.ElectionTimeoutTicks, 80 * _config.ElectionTimeoutTicks));
    }

    // ---- What the replicas apply.

    // After every entry a replica applies: the first replica to apply an index feeds the checker; every other one's
    // application of a lease's end is compared with it; a replica that skipped entries (a snapshot, a restart) must
    // hold no key of a lease that ended by then.
    private void OnLeaseApplied(SimNode node, in Entry entry, in KvApplyResult result)
    {
        if (_leaseChecker is null)
        {
            return;
        }

        var driver = node.Driver!;
        var store = driver.StateMachine;
        ref var last = ref _leaseAppliedAt[node.Id];
        var skipped = !ReferenceEquals(last.Driver, driver) || last.Index + 1 != entry.Index;
        last = (driver, entry.Index);
        if (entry.Index > _leaseStreamIndex)
        {
            _leaseStreamIndex = entry.Index;
            if (entry.Type == EntryType.Command && KvCommandCodec.TryDecode(entry.Data.Span, out var command))
            {
                OnFirstApplied(store, entry.Index, command, result);
            }

            _leaseStreamClockMs = store.ClockMs;
        }
        else if (_leaseEndStates.TryGetValue(entry.Index, out var state))
        {
            OnEndAppliedAgain(node, store, entry.Index, state);
        }

        if (skipped)
        {
            CheckNoEndedLeaseKeys(node, store);
        }

        ThrowIfLeaseViolation();
    }

    private void OnFirstApplied(KvStore store, ulong index, in KvCommand command, in KvApplyResult result)
    {
        var checker = _leaseChecker!;
        var atMs = TrueTimeMs(_tick);
        switch (command.Type)
        {
            case KvCommandType.LeaseGrant when result.Status == KvApplyStatus.Ok:
                checker.OnGranted(result.Lease, result.TtlMs, result.ExpiresAtMs, atMs);
                break;
            case KvCommandType.LeaseKeepAlive when result.Status == KvApplyStatus.Ok:
                checker.OnKeptAlive(command.LeaseId, result.ExpiresAtMs, atMs);
                FollowLeaseLock(store, index, store.ClockMs);
                break;
            case KvCommandType.LeaseKeepAlive when result.Status == KvApplyStatus.LeaseNotFound:
                checker.OnKeepAliveRefused(index, command.LeaseId, atMs);
                break;
            case KvCommandType.LeaseExtend:
                foreach (var lease in checker.Live.ToArray())
                {
                    if (store.TryGetLease(lease, long.MinValue, out var info) && info.ExpiresAtMs != checker.ExpiresAtMs(lease))
                    {
                        checker.OnExtended(lease, info.ExpiresAtMs);
                    }
                }

                // The leases it moved were live at the store's time before it: that is when the lock's hold went on.
                FollowLeaseLock(store, index, _leaseStreamClockMs);
                break;
            case KvCommandType.LeaseRevoke when result.Status == KvApplyStatus.Ok:
                OnLeaseEnd(store, index, LeaseEndKind.Revoked, [command.LeaseId], atMs);
                break;
            case KvCommandType.LeaseExpire:
                var ended = new List<ulong>();
                for (var i = 0; i < KvCommandCodec.LeaseIdCount(command.Value); i++)
                {
                    var lease = KvCommandCodec.LeaseIdAt(command.Value, i);
                    if (checker.ExpiresAtMs(lease) is not null && !store.TryGetLease(lease, long.MinValue, out _))
                    {
                        ended.Add(lease);
                    }
                }

                if ((ulong)ended.Count != result.Lease)
                {
                    throw new SimulationViolation($"leases: the expiry at index {index} says it ended {result.Lease} lease(s), but {ended.Count} of those it names are gone");
                }

                if (ended.Count > 0)
                {
                    OnLeaseEnd(store, index, LeaseEndKind.Expired, ended, atMs);
                }

                break;
            // Holders bind keys under the prefix only, and nobody else writes there.
            case KvCommandType.Put or KvCommandType.PutIfVersion when result.Status == KvApplyStatus.Ok && command.Key.StartsWith(LeaseKeyPrefixUtf8):
                var key = System.Text.Encoding.UTF8.GetString(command.Key);
                store.TryGet(key, out var written);
                checker.OnKeyWritten(index, key, written.Lease);
                break;
            case KvCommandType.Delete or KvCommandType.DeleteIfVersion when result.Status == KvApplyStatus.Ok && command.Key.StartsWith(LeaseKeyPrefixUtf8):
                checker.OnKeyDeleted(index, System.Text.Encoding.UTF8.GetString(command.Key));
                break;
            case KvCommandType.LockAcquire when command.LeaseId != 0 && result.Status == KvApplyStatus.Ok && result.Index == index:
                _leaseLockGrants++;
                _leaseLock = new LeaseLockHold(System.Text.Encoding.UTF8.GetString(command.Owner), result.FencingToken, result.ExpiresAtMs, command.LeaseId);
                break;
            case KvCommandType.LockAcquire when command.LeaseId != 0 && result.Status == KvApplyStatus.LockHeld:
                _leaseLockRefusals++;
                break;
        }
    }

    // The first replica's end of leases: the keys it deleted are what it held bound to them before and no longer has.
    private void OnLeaseEnd(KvStore store, ulong index, LeaseEndKind kind, IReadOnlyList<ulong> ended, long atMs)
    {
        var checker = _leaseChecker!;
        var held = checker.BoundKeys.ToArray();
        var deleted = held.Where(key => !store.TryGet(key, out _)).ToArray();
        checker.OnEnded(index, kind, ended, deleted, atMs);
        _leaseEndStates[index] = (held, LeaseKeyState(store));
        _leaseLastEndIndex = index;
        CheckLeaseLockReleased(store, index, ended, "first replica");

        // A lock bound to an ended lease was released here if it was still held: the lock checker sees a release.
        if (_leaseLock is { } hold && ended.Contains(hold.Lease))
        {
            if (hold.UntilMs > store.ClockMs)
            {
                _history.OnLockApplied(new AppliedLock(index, KvCommandType.LockRelease, LeaseWorkload.LockName, hold.Owner, store.ClockMs,
                    new KvApplyResult(KvApplyStatus.Ok, index, 0, 0) { FencingToken = hold.Token }));
            }

            _leaseLock = null;
        }
    }

    private void OnEndAppliedAgain(SimNode node, KvStore store, ulong index, (string[] Before, string[] After) state)
    {
        var deleted = state.Before.Where(key => !store.TryGet(key, out _)).ToArray();
        _leaseChecker!.OnReplicaEnded(node.Id, index, deleted);
        var after = LeaseKeyState(store);
        if (!after.SequenceEqual(state.After, StringComparer.Ordinal))
        {
            throw new SimulationViolation($"leases: node {node.Id} holds [{string.Join(", ", after)}] after the lease end at index {index}, where the first replica held [{string.Join(", ", state.After)}]");
        }

        if (_leaseChecker.EndAt(index) is { } end)
        {
            CheckLeaseLockReleased(store, index, end.Leases, $"node {node.Id}");
        }
    }

    private static void CheckLeaseLockReleased(KvStore store, ulong index, IReadOnlyList<ulong> ended, string where)
    {
        // The lease a lock is bound to is reported whether or not the lock's time ran out.
        store.TryGetLock(LeaseWorkload.LockName, long.MinValue, out _, out var lease);
        if (lease != 0 && ended.Contains(lease))
        {
            throw new SimulationViolation($"leases: {where} keeps \"{LeaseWorkload.LockName}\" bound to lease {lease} after index {index} ended it");
        }
    }

    private void CheckNoEndedLeaseKeys(SimNode node, KvStore store)
    {
        foreach (var item in LeaseKeys(store))
        {
            var lease = item.Value.Lease;
            var endIndex = _leaseChecker!.EndIndexOf(lease);
            if (lease == 0 || !_leaseChecker.Knows(lease) || (endIndex != 0 && endIndex <= store.AppliedIndex))
            {
                var what = lease == 0 ? "bound to no lease" : !_leaseChecker.Knows(lease) ? $"bound to lease {lease}, never granted" : $"bound to lease {lease}, which ended at index {endIndex}";
                throw new SimulationViolation($"leases: node {node.Id}, which skipped to index {store.AppliedIndex}, holds \"{item.Key}\" {what}");
            }
        }
    }

    // The lock bound to a lease lives as long as the lease: what moved the lease's end moved the lock's, which the
    // lock checker hears of as a renewal at this index (at most one per index, as one lease holds the lock).
    private void FollowLeaseLock(KvStore store, ulong index, long atMs)
    {
        if (_leaseLock is not { } hold || !store.TryGetLock(LeaseWorkload.LockName, long.MinValue, out var held, out var lease)
            || lease != hold.Lease || held.FencingToken != hold.Token || held.ExpiresAtMs == hold.UntilMs)
        {
            return;
        }

        _leaseLock = hold with { UntilMs = held.ExpiresAtMs };
        _history.OnLockApplied(new AppliedLock(index, KvCommandType.LockRenew, LeaseWorkload.LockName, hold.Owner, atMs,
            new KvApplyResult(KvApplyStatus.Ok, index, 0, 0) { FencingToken = held.FencingToken, ExpiresAtMs = held.ExpiresAtMs }));
    }

    private sealed record LeaseStep(LeaseStepKind Kind, string? Name = null);

    private sealed record LeaseLockHold(string Owner, ulong Token, long UntilMs, ulong Lease);

    /// <summary>A process that holds a lease, one at a time; a new incarnation after each death or revoke.</summary>
    private sealed class LeaseHolder(int index)
    {
        public int Index { get; } = index;

        public int Incarnation { get; set; }

        public string Owner => $"holder-{Index}.{Incarnation}";

        /// <summary>The lease it keeps alive; 0 for none.</summary>
        public ulong Lease { get; set; }

        public long TtlMs { get; set; }

        public int KeepAliveEveryTicks { get; set; }

        /// <summary>When it sent the last grant or keep-alive that took effect.</summary>
        public long LastRenewalSentTick { get; set; }

        /// <summary>True time until which it counts on its lease.</summary>
        public long BelievedUntilMs { get; set; }

        public Queue<LeaseStep> ToBind { get; } = new();

        /// <summary>It tries for <see cref="LeaseWorkload.LockName"/>, bound to its lease, until it gets it.</summary>
        public bool WantsLock { get; set; }

        public long NextLockTick { get; set; }

        /// <summary>What it is doing now, sent again after an unknown outcome.</summary>
        public LeaseStep? Step { get; set; }

        public LeaseAttempt? Attempt { get; set; }

        public long NextTick { get; set; }

        public int LeaderGuess { get; set; } = 1;
    }

    private sealed class LeaseAttempt(LeaseHolder holder, LeaseStep step, SimNode node, NodeDriver<KvStore, KvApplyResult> driver, long sentTick)
    {
        public LeaseHolder Holder { get; } = holder;

        public LeaseStep Step { get; } = step;

        public SimNode Node { get; } = node;

        /// <summary>The process it reached; another one there means that one crashed and took the request with it.</summary>
        public NodeDriver<KvStore, KvApplyResult> Driver { get; } = driver;

        public long SentTick { get; } = sentTick;

        public bool Done { get; set; }
    }

    private sealed class LeaseWrite(Simulator simulator, LeaseAttempt attempt, byte[] command) : WriteRequest<KvApplyResult>(command)
    {
        // Called on the driver's thread: the answer travels back to the holder, taking a tick.
        protected override void OnCompleted(in WriteOutcome<KvApplyResult> outcome)
        {
            var copy = outcome;
            simulator.Later(0, () => simulator.OnLeaseOutcome(attempt, copy));
        }
    }
}
