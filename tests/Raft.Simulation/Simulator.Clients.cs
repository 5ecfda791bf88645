using System.Buffers.Binary;
using Raft.KeyValue;
using Raft.Node;
using Raft.Simulation.Checking;

namespace Raft.Simulation;

/// <summary>
/// Clients that speak the HTTP API's contract: writes with and without sessions, compare-and-set, deletes, lock
/// acquire, renew and release, linearizable and lease reads, sent to the leader they believe in or to any node. The
/// node they reach answers as a server does: a follower forwards what only the leader serves (at most three hops),
/// and a client retries elsewhere when nothing was applied, or on an unknown outcome when its write carries a
/// session (the same sequence, as the .NET client does); a write without a session is never retried blindly.
/// </summary>
internal sealed partial class Simulator
{
    private const int ForwardHopsMax = 3;

    private readonly SimClient[] _clients;
    private long _opIds;
    private ulong _values;

    private sealed class SimClient(int index, bool usesSession)
    {
        public int Index { get; } = index;

        public string ClientId { get; } = $"client-{index}";

        public bool UsesSession { get; } = usesSession;

        public ulong NextSequence { get; set; } = 1;

        public ClientOp? Op { get; set; }

        public Attempt? Attempt { get; set; }

        public long NextAttemptTick { get; set; }

        public int LeaderGuess { get; set; } = 1;

        /// <summary>The last (value, version) this client saw for each key: what its compare-and-set expects.</summary>
        public Dictionary<string, (ulong Value, ulong Version)> Seen { get; } = [];

        /// <summary>Locks this client was told it holds, until when (leader time).</summary>
        public Dictionary<string, long> Holds { get; } = [];

        /// <summary>An answered session write to send again with the same sequence, as a client whose answer was lost would.</summary>
        public ClientOp? Repeat { get; set; }
    }

    private int AttemptTimeoutTicks => 12 * _config.ElectionTimeoutTicks;

    private int OpTimeoutTicks => 40 * _config.ElectionTimeoutTicks;

    private void RunClients()
    {
        foreach (var client in _clients)
        {
            if (client.Op is { } op)
            {
                if (client.Attempt is { } attempt && _tick - attempt.StartedTick > AttemptTimeoutTicks)
                {
                    AttemptUnknown(attempt, "the client timed out");
                }
                else if (_faultPhase && _tick - op.InvokeTick > OpTimeoutTicks)
                {
                    Abandon(client, op);
                }
                else if (client.Attempt is null && _tick >= client.NextAttemptTick)
                {
                    StartAttempt(client, op);
                }

                continue;
            }

            if (_faultPhase && _tick >= client.NextAttemptTick)
            {
                Invoke(client);
            }
        }
    }

    private void Invoke(SimClient client)
    {
        if (client.Repeat is { } repeat)
        {
            // The same session write again: it must answer exactly as before and change nothing.
            client.Repeat = null;
            var again = NewOp(client, repeat.Kind, repeat.Key, repeat.Value, repeat.ExpectedVersion, repeat.Owner, repeat.TtlMs, repeat.Session, isRepeat: true);
            client.Op = again;
            StartAttempt(client, again);
            return;
        }

        var roll = _random.NextDouble();
        ClientOp op;
        if (roll < _config.LockShare)
        {
            op = NewLockOp(client);
        }
        else if (roll < _config.LockShare + ((1 - _config.LockShare) * _config.WriteShare))
        {
            op = NewWriteOp(client);
        }
        else
        {
            var key = $"k{_random.Next(_config.Keys)}";
            op = NewOp(client, _random.Chance(0.35) ? OpKind.LeaseGet : OpKind.Get, key, 0, 0, null, 0, default);
        }

        client.Op = op;
        Trace($"invoke {op}");
        StartAttempt(client, op);
    }

    private ClientOp NewWriteOp(SimClient client)
    {
        var key = $"k{_random.Next(_config.Keys)}";
        var seen = client.Seen.TryGetValue(key, out var s) ? s.Version : 0;
        var expected = _random.Chance(0.7) ? seen : 0;
        var kind = OpKind.Put;
        var roll = _random.NextDouble();
        if (roll < _config.DeleteShare)
        {
            kind = _random.Chance(0.5) ? OpKind.DeleteIfVersion : OpKind.Delete;
        }
        else if (roll < _config.DeleteShare + _config.CasShare)
        {
            kind = OpKind.PutIfVersion;
        }

        var value = kind is OpKind.Put or OpKind.PutIfVersion ? ++_values : 0;
        return NewOp(client, kind, key, value, expected, null, 0, NextSession(client));
    }

    private ClientOp NewLockOp(SimClient client)
    {
        var name = $"lock/{_random.Next(_config.Locks)}";
        var ttl = (long)_random.Next(5, 40) * SimulationConfig.MsPerTick;
        var kind = OpKind.Acquire;
        if (client.Holds.ContainsKey(name))
        {
            kind = _random.Chance(0.5) ? OpKind.Renew : OpKind.Release;
        }
        else if (_random.Chance(0.1))
        {
            // Renewing or releasing a lock one does not hold is refused; it must change nothing.
            kind = _random.Chance(0.5) ? OpKind.Renew : OpKind.Release;
        }

        return NewOp(client, kind, name, 0, 0, client.ClientId, ttl, NextSession(client));
    }

    private static KvSession NextSession(SimClient client) =>
        client.UsesSession ? new KvSession(client.ClientId, client.NextSequence++) : default;

    private ClientOp NewOp(SimClient client, OpKind kind, string key, ulong value, ulong expected, string? owner, long ttlMs, KvSession session, bool isRepeat = false)
    {
        var op = new ClientOp
        {
            Id = ++_opIds,
            Client = client.Index,
            Kind = kind,
            Key = key,
            Value = value,
            ExpectedVersion = expected,
            Owner = owner,
            TtlMs = ttlMs,
            Session = session,
            IsRepeat = isRepeat,
            InvokeEvent = ++_event,
            InvokeTick = _tick,
        };
        _history.OnInvoked(op);
        return op;
    }

    private void StartAttempt(SimClient client, ClientOp op)
    {
        var attempt = new Attempt(op, ++op.AttemptCount) { StartedTick = _tick };
        client.Attempt = attempt;
        var guess = _nodes[client.LeaderGuess];
        var node = _random.Chance(_config.AnyNodeShare) || !guess.Alive ? _nodes[1 + _random.Next(_nodes.Length - 1)] : guess;
        if (!node.Alive)
        {
            // Connection refused: nothing was sent.
            RetryLater(client, attempt, 0);
            return;
        }

        attempt.Entry = node;
        SubmitAt(attempt, node);
    }

    private void SubmitAt(Attempt attempt, SimNode node)
    {
        attempt.At = node;
        node.Attempts.Add(attempt);
        Input(node, driver =>
        {
            var op = attempt.Op;
            if (op.IsWrite)
            {
                driver.Propose(new SimWrite(this, attempt, Encode(op)) { CanHandOver = attempt.Hops + 1 < ForwardHopsMax, HandedOverBy = attempt.HandedOverBy });
            }
            else
            {
                driver.Read(new SimRead(this, attempt, op.Kind == OpKind.LeaseGet ? ReadConsistency.Lease : ReadConsistency.Linearizable));
            }
        }, fromClient: true);
    }

    // A fresh array per attempt: the driver stamps the leader's time into the array it proposes, which the log keeps.
    private byte[] Encode(ClientOp op)
    {
        switch (op.Kind)
        {
            case OpKind.Put:
            case OpKind.PutIfVersion:
                var value = new byte[8 + (int)(op.Value % (ulong)(_config.MaxPaddingBytes + 1))];
                BinaryPrimitives.WriteUInt64LittleEndian(value, op.Value);
                return KvCommandCodec.EncodePut(op.Key, value, op.Kind == OpKind.PutIfVersion ? op.ExpectedVersion : null, op.Session);
            case OpKind.Delete:
            case OpKind.DeleteIfVersion:
                return KvCommandCodec.EncodeDelete(op.Key, op.Kind == OpKind.DeleteIfVersion ? op.ExpectedVersion : null, op.Session);
            case OpKind.Acquire:
                return KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, op.Key, op.Owner!, op.TtlMs, op.Session);
            case OpKind.Renew:
                return KvCommandCodec.EncodeLock(KvCommandType.LockRenew, op.Key, op.Owner!, op.TtlMs, op.Session);
            case OpKind.Release:
                return KvCommandCodec.EncodeLock(KvCommandType.LockRelease, op.Key, op.Owner!, 0, op.Session);
            default:
                throw new InvalidOperationException($"{op.Kind} is not a write");
        }
    }

    // Called by the driver, on its thread: the answer travels back to the client, taking a tick.
    public void OnWriteOutcome(SimWrite write, in WriteOutcome<KvApplyResult> outcome)
    {
        var attempt = write.Attempt;
        var copy = outcome;
        var op = attempt.Op;
        if (copy.Status == WriteStatus.Applied && !op.Session.IsEmpty && copy.Result.Status != KvApplyStatus.StaleSequence)
        {
            // Every answer a session write gets, from any attempt on any node, whether its client still waits or not.
            _history.Sessions.OnAnswer(op.Session.ClientId!, op.Session.Sequence, op.Key, op.Value, StoreFeed.ToSessionAnswer(copy.Result));
        }

        Later(0, () => HandleWriteOutcome(attempt, copy));
    }

    public void OnReadServed(SimRead read, bool found, ulong value, ulong version)
    {
        var attempt = read.Attempt;
        Later(0, () =>
        {
            if (attempt.Done)
            {
                return;
            }

            var op = attempt.Op;
            op.Found = found;
            op.ReadValue = value;
            op.ReadVersion = version;
            Answer(attempt, default);
        });
    }

    public void OnReadFailed(SimRead read, ReadFailure failure, int leaderId)
    {
        var attempt = read.Attempt;
        Later(0, () =>
        {
            if (attempt.Done)
            {
                return;
            }

            if (failure == ReadFailure.NotLeader && leaderId != 0)
            {
                Forward(attempt, leaderId);
            }
            else
            {
                // A read changes nothing, so it is simply asked again.
                RetryLater(_clients[attempt.Op.Client], attempt, leaderId);
            }
        });
    }

    private void HandleWriteOutcome(Attempt attempt, WriteOutcome<KvApplyResult> outcome)
    {
        if (attempt.Done)
        {
            return;
        }

        var client = _clients[attempt.Op.Client];
        switch (outcome.Status)
        {
            case WriteStatus.Applied:
                Answer(attempt, outcome.Result);
                break;
            case WriteStatus.NotLeader when outcome.LeaderId != 0:
                Forward(attempt, outcome.LeaderId);
                break;
            case WriteStatus.HandedOver:
                Forward(attempt, outcome.LeaderId, handOverFrom: attempt.At!.Id);
                break;
            case WriteStatus.NotLeader:
            case WriteStatus.NoLeader:
            case WriteStatus.Overloaded:
            case WriteStatus.NotApplied:
                // Definitely not applied: try again, anywhere.
                RetryLater(client, attempt, outcome.LeaderId);
                break;
            default:
                AttemptUnknown(attempt, outcome.Status.ToString());
                break;
        }
    }

    // What a server's one leader path does with a request only the leader serves: pass it on, a few hops at most. A
    // leader handing leadership over passes a write on to the target (handOverFrom: itself), which holds it.
    private void Forward(Attempt attempt, int leaderId, int handOverFrom = 0)
    {
        var from = attempt.At!;
        var client = _clients[attempt.Op.Client];
        var leader = _nodes[leaderId];
        if (attempt.Hops >= ForwardHopsMax || !leader.Alive || LinkDown(from.Id, leaderId))
        {
            // The forward could not connect (or bounced too often): nothing reached a leader.
            RetryLater(client, attempt, leaderId);
            return;
        }

        if (from != attempt.Entry)
        {
            from.Attempts.Remove(attempt);
        }

        attempt.Hops++;
        attempt.HandedOverBy = handOverFrom;
        attempt.At = null;
        Later(NetworkDelay(), () =>
        {
            if (attempt.Done)
            {
                return;
            }

            if (!leader.Alive)
            {
                AttemptUnknown(attempt, "the leader it was forwarded to crashed");
                return;
            }

            SubmitAt(attempt, leader);
        });
    }

    private void Answer(Attempt attempt, KvApplyResult result)
    {
        var op = attempt.Op;
        var client = _clients[op.Client];
        EndAttempt(attempt);
        op.Result = result;
        op.Status = OpStatus.Answered;
        op.CompleteEvent = ++_event;
        client.Op = null;
        client.Attempt = null;
        client.NextAttemptTick = _tick + _random.Next(3);
        if (attempt.At is { } at)
        {
            client.LeaderGuess = at.Id;
        }

        if (op.Kind == OpKind.Put || op.Kind == OpKind.PutIfVersion)
        {
            if (result.Status == KvApplyStatus.Ok)
            {
                client.Seen[op.Key] = (op.Value, result.Version);
            }
        }
        else if (op.Kind is OpKind.Get or OpKind.LeaseGet && op.Found)
        {
            client.Seen[op.Key] = (op.ReadValue, op.ReadVersion);
        }
        else if (op.IsLock)
        {
            if (result.Status == KvApplyStatus.Ok && op.Kind != OpKind.Release)
            {
                client.Holds[op.Key] = result.ExpiresAtMs;
            }
            else
            {
                client.Holds.Remove(op.Key);
            }
        }

        // A refused acquire is not remembered by the session (retrying it tries again), so it is not repeated.
        var refusedAcquire = op.Kind == OpKind.Acquire && result.Status == KvApplyStatus.LockHeld;
        if (op.IsWrite && !op.Session.IsEmpty && !op.IsRepeat && !refusedAcquire && _faultPhase && _random.Chance(0.05))
        {
            client.Repeat = op;
        }

        Trace($"answer {op}");
        CheckAcknowledged(op);
        _history.OnCompleted(op);
    }

    // The client cannot tell whether this attempt took effect. A session write is sent again with the same
    // sequence; a plain write is reported unknown (retrying it could apply it twice); a read is asked again.
    private void AttemptUnknown(Attempt attempt, string why)
    {
        if (attempt.Done)
        {
            return;
        }

        var op = attempt.Op;
        var client = _clients[op.Client];
        if (!op.IsWrite || !op.Session.IsEmpty)
        {
            Trace($"attempt {attempt.Number} of op {op.Id} unknown ({why}): retrying");
            RetryLater(client, attempt, 0);
            return;
        }

        EndAttempt(attempt);
        Finish(client, op, OpStatus.Unknown, why);
    }

    private void RetryLater(SimClient client, Attempt attempt, int leaderHint)
    {
        EndAttempt(attempt);
        client.Attempt = null;
        client.NextAttemptTick = _tick + 1 + _random.Next(3);
        client.LeaderGuess = leaderHint != 0 ? leaderHint : 1 + _random.Next(_nodes.Length - 1);
    }

    private void Abandon(SimClient client, ClientOp op)
    {
        if (client.Attempt is { } attempt)
        {
            EndAttempt(attempt);
        }

        Finish(client, op, OpStatus.Unknown, "the client gave up");
    }

    private void Finish(SimClient client, ClientOp op, OpStatus status, string why)
    {
        op.Status = status;
        client.Op = null;
        client.Attempt = null;
        client.NextAttemptTick = _tick + _random.Next(3);

        // A client that lost track of a lock command no longer trusts its own view of that lock.
        if (op.IsLock)
        {
            client.Holds.Remove(op.Key);
        }

        Trace($"resolve {op} ({why})");
        _history.OnCompleted(op);
    }

    private static void EndAttempt(Attempt attempt)
    {
        attempt.Done = true;
        attempt.At?.Attempts.Remove(attempt);
        attempt.Entry?.Attempts.Remove(attempt);
    }
}
