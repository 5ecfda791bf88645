using Raft.Core;

namespace Raft.Simulation;

internal sealed partial class Simulator
{
    private readonly ClientState[] _clients;
    private long _opIds;
    private ulong _values;
    private ulong _requestIds;

    private sealed class ClientState
    {
        public ClientOp? Op { get; set; }

        public long NextAttemptTick { get; set; }

        public int LeaderGuess { get; set; } = 1;
    }

    private void RunClients()
    {
        var timeout = 6 * _config.ElectionTimeoutTicks;
        for (var c = 0; c < _clients.Length; c++)
        {
            var client = _clients[c];
            if (client.Op is { } op)
            {
                // Writes must resolve on their own once the cluster heals; only the fault phase gives up on them.
                if (_tick - op.InvokeTick > timeout && (_faultPhase || op.Kind != OpKind.Write))
                {
                    Abandon(op);
                }

                continue;
            }

            if (_faultPhase && _tick >= client.NextAttemptTick)
            {
                Invoke(c, client);
            }
        }
    }

    private void Invoke(int c, ClientState client)
    {
        var live = LiveNodes().ToArray();
        if (live.Length == 0)
        {
            return;
        }

        var roll = _random.NextDouble();
        var kind = roll < 0.5 ? OpKind.Write : roll < 0.75 ? OpKind.ReadIndex : OpKind.LeaseRead;
        var key = _random.Next(_config.Keys);
        var guess = _nodes[client.LeaderGuess];
        // Clients mostly go to the leader they believe in, sometimes to any node (which redirects them).
        var anyNode = kind == OpKind.Write ? _random.Chance(0.2) : _random.Chance(0.5);
        var node = anyNode || !guess.Alive ? live[_random.Next(live.Length)] : guess;
        if (node.PendingReady is not null)
        {
            client.NextAttemptTick = _tick + 1;
            return;
        }

        var raft = node.Raft!;
        if (kind == OpKind.Write)
        {
            var value = ++_values;
            var data = Command.Encode(key, value, _random.Next(_config.MaxPaddingBytes + 1));
            var maxAcked = _linearizability.MaxAckedAnyKey;
            if (raft.Propose(data, out var index) == ProposeResult.Accepted)
            {
                var op = NewOp(c, kind, key, node, value: value, maxAckedBeforeInvoke: maxAcked);
                op.Index = index;
                op.Term = raft.Term;
                if (node.PendingWrites.Remove(index, out var replaced))
                {
                    // This node proposed at the same index before; that entry was cut from its log, though
                    // another node may still hold it and commit it.
                    Resolve(replaced, OpStatus.Unknown);
                }

                node.PendingWrites[index] = op;
                client.Op = op;
                Trace($"invoke {op}");
            }
            else
            {
                Redirect(client, raft);
            }

            return;
        }

        if (kind == OpKind.LeaseRead)
        {
            var minVisible = _linearizability.MinVisibleFor(key);
            if (raft.TryLeaseRead(out var readIndex))
            {
                var op = NewOp(c, kind, key, node, minVisibleWrite: minVisible);
                client.Op = op;
                Trace($"invoke {op} at lease index {readIndex}");
                node.WaitingReads.Add((op, readIndex));
                ServeWaitingReads(node);
                return;
            }

            // No lease: fall back to a read index, as a real client library would.
            kind = OpKind.ReadIndex;
        }

        var requestId = ++_requestIds;
        var min = _linearizability.MinVisibleFor(key);
        if (raft.ReadIndex(requestId) == ReadIndexResult.Pending)
        {
            var op = NewOp(c, kind, key, node, minVisibleWrite: min);
            op.Index = requestId;
            node.PendingReads[requestId] = op;
            client.Op = op;
            Trace($"invoke {op}");
            Observe(node);
        }
        else
        {
            Redirect(client, raft);
        }
    }

    private ClientOp NewOp(int client, OpKind kind, int key, SimNode node, ulong value = 0, ulong minVisibleWrite = 0, ulong maxAckedBeforeInvoke = 0) => new()
    {
        Id = ++_opIds,
        Client = client,
        Kind = kind,
        Key = key,
        Value = value,
        Node = node.Id,
        InvokeEvent = ++_event,
        InvokeTick = _tick,
        MinVisibleWrite = minVisibleWrite,
        MaxAckedBeforeInvoke = maxAckedBeforeInvoke,
    };

    private void Redirect(ClientState client, RaftNode raft)
    {
        client.LeaderGuess = raft.LeaderId != 0 ? raft.LeaderId : 1 + _random.Next(_nodes.Length - 1);
        client.NextAttemptTick = _tick + 1 + _random.Next(3);
    }

    private void OnApplied(SimNode node, in Entry e)
    {
        if (e.Type == EntryType.Membership)
        {
            OnMembershipApplied(e);
        }

        if (node.PendingWrites.Remove(e.Index, out var op))
        {
            if (e.Term == op.Term)
            {
                op.CompleteEvent = ++_event;
                Resolve(op, OpStatus.Acknowledged);
                _linearizability.OnWriteAcknowledged(op);
            }
            else
            {
                // Another entry took the index: this write was never committed and never will be.
                Resolve(op, OpStatus.Failed);
            }
        }
    }

    private void OnReadState(SimNode node, ReadState rs)
    {
        if (!node.PendingReads.Remove(rs.RequestId, out var op))
        {
            return;
        }

        if (rs.Status == ReadStatus.Failed)
        {
            Resolve(op, OpStatus.Failed);
            return;
        }

        node.WaitingReads.Add((op, rs.Index));
        ServeWaitingReads(node);
    }

    private void ServeWaitingReads(SimNode node)
    {
        var applied = node.StateMachine.AppliedIndex;
        for (var i = node.WaitingReads.Count - 1; i >= 0; i--)
        {
            var (op, index) = node.WaitingReads[i];
            if (index > applied)
            {
                continue;
            }

            node.WaitingReads.RemoveAt(i);
            if (op.Status != OpStatus.Pending)
            {
                continue;
            }

            var (value, writeIndex) = node.StateMachine.Read(op.Key);
            op.CompleteEvent = ++_event;
            Resolve(op, OpStatus.Acknowledged);
            Trace($"read {op} -> value {value} from index {writeIndex} (read index {index}, applied {applied})");
            _linearizability.OnRead(op, value, writeIndex);
        }
    }

    private void Abandon(ClientOp op)
    {
        var node = _nodes[op.Node];
        var pending = op.Kind == OpKind.Write ? node.PendingWrites : node.PendingReads;
        if (pending.TryGetValue(op.Index, out var current) && ReferenceEquals(current, op))
        {
            pending.Remove(op.Index);
        }

        Resolve(op, OpStatus.Unknown);

        // A client that timed out stops trusting its leader.
        _clients[op.Client].LeaderGuess = 1 + _random.Next(_nodes.Length - 1);
    }

    private void Resolve(ClientOp op, OpStatus status)
    {
        op.Status = status;
        var client = _clients[op.Client];
        if (ReferenceEquals(client.Op, op))
        {
            client.Op = null;
            client.NextAttemptTick = _tick + _random.Next(3);
        }

        if (status != OpStatus.Acknowledged)
        {
            Trace($"resolve {op}");
        }
    }
}
