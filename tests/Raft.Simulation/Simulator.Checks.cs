using System.Runtime.CompilerServices;
using Raft.Core;
using Raft.KeyValue;

namespace Raft.Simulation;

internal sealed partial class Simulator
{
    public void TraceNode(SimNode node, [InterpolatedStringHandlerArgument("")] ref TraceHandler text)
    {
        if (Tracing)
        {
            Trace($"node {node.Id}: {text.ToStringAndClear()}");
        }
    }

    public void OnRoleChanged(SimNode node, RaftRole role, int leaderId, ulong term)
    {
        if (role == RaftRole.Leader)
        {
            OnBecameLeader(node, node.Driver!.Core);
        }
    }

    // Log matching, entry by entry, as entries reach a node's log.
    public void OnEntriesAppended(SimNode node, ulong firstIndex, ulong lastIndex)
    {
        using var read = node.Log.Read(firstIndex, lastIndex, long.MaxValue);
        _safety.OnPersisted(node.Id, node.Driver!.Core, read.Span);
    }

    public void OnCommitAdvanced(SimNode node, ulong commitIndex)
    {
        if (commitIndex > node.CheckedCommit)
        {
            _safety.OnCommitted(node.Id, node.Driver!.Core, node.CheckedCommit + 1, commitIndex);
            node.CheckedCommit = commitIndex;
        }
    }

    public void OnApplied(SimNode node, in Entry entry, in KvApplyResult result)
    {
        _safety.OnApplied(node.Id, entry);
        OnLeaseApplied(node, entry, result);
        if (entry.Type == EntryType.Membership)
        {
            OnMembershipApplied(entry);
            return;
        }

        if (entry.Type != EntryType.Command || !KvCommandCodec.TryDecode(entry.Data.Span, out var command))
        {
            return;
        }

        if (command.HasSession)
        {
            _history.OnSessionApplied(node.Id, entry.Index, System.Text.Encoding.UTF8.GetString(command.ClientId), command.Sequence, command.Type, result);
        }

        var key = System.Text.Encoding.UTF8.GetString(command.Key);
        switch (command.Type)
        {
            case KvCommandType.LockAcquire or KvCommandType.LockRenew or KvCommandType.LockRelease:
                _history.OnLockApplied(new AppliedLock(entry.Index, command.Type, key, System.Text.Encoding.UTF8.GetString(command.Owner), node.Driver!.StateMachine.ClockMs, result));
                break;
            default:
                // A value is written by one operation only: seen at a second version on a replica, it was applied twice.
                OnKeyState(node, key);
                break;
        }
    }

    private void OnKeyState(SimNode node, string key)
    {
        var found = node.Driver!.StateMachine.TryGet(key, out var value);
        _history.Sessions.OnApplied(node.Id, key, found ? SimRead.ValueId(value.Value) : 0, found ? value.Version : 0);
    }

    private static byte[] ImageBytes(KvStore store)
    {
        using var image = store.CaptureImage();
        using var stream = image.OpenRead();
        using var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        return bytes.ToArray();
    }

    // Every storage failure here is a bug: the simulated disk never fails.
    public void OnSnapshotFailed(SimNode node, string what, Exception exception)
    {
        if (exception is TimeoutException)
        {
            TraceNode(node, $"{what}: {exception.Message}");
            return;
        }

        throw new SimulationViolation($"node {node.Id}: {what} failed: {exception}");
    }

    public void OnSnapshotInstalled(SimNode node)
    {
        var items = new List<KvListItem>();
        node.Driver!.StateMachine.List(string.Empty, int.MaxValue, items);
        foreach (var item in items)
        {
            _history.Sessions.OnApplied(node.Id, item.Key, SimRead.ValueId(item.Value.Value), item.Value.Version);
        }
    }

    // An acknowledged write is the entry applied at the index its answer names.
    private void CheckAcknowledged(ClientOp op)
    {
        if (!op.IsWrite || op.Result.Status is KvApplyStatus.StaleSequence)
        {
            if (op.Result.Status is KvApplyStatus.StaleSequence)
            {
                throw new SimulationViolation($"sessions: {op} answered stale_sequence for the client's latest sequence");
            }

            return;
        }

        if (!_safety.TryGetApplied(op.Result.Index, out var applied) || applied.Type != EntryType.Command
            || !KvCommandCodec.TryDecode(applied.Data.Span, out var command)
            || System.Text.Encoding.UTF8.GetString(command.Key) != op.Key
            || ((op.Kind is OpKind.Put or OpKind.PutIfVersion) && SimRead.ValueId(command.Value) != op.Value))
        {
            throw new SimulationViolation($"durability: {op} was answered with index {op.Result.Index}, which holds something else");
        }
    }

    // Once every member has applied the marker: all replicas hold the same state, and it is the state a fresh store
    // reaches by applying the committed log from the start: nothing acknowledged was lost or applied differently.
    private void CheckFinalState()
    {
        var leader = CurrentLeader()!;
        var image = ImageBytes(leader.Driver!.StateMachine);
        var applied = leader.Driver.StateMachine.AppliedIndex;
        var maxAcknowledged = _history.Ops.Where(op => op.IsWrite && op.Status == OpStatus.Answered).Select(op => op.Result.Index).DefaultIfEmpty().Max();
        var membership = leader.Driver.Core.Membership;
        foreach (var node in LiveNodes())
        {
            var store = node.Driver!.StateMachine;
            if (!membership.Contains(node.Id))
            {
                continue;
            }

            if (store.AppliedIndex < maxAcknowledged)
            {
                throw new SimulationViolation($"durability: node {node.Id} applied only {store.AppliedIndex}, below the acknowledged index {maxAcknowledged}");
            }

            if (store.AppliedIndex == applied && !ImageBytes(store).AsSpan().SequenceEqual(image))
            {
                throw new SimulationViolation($"state machine safety: node {node.Id} and leader {leader.Id} hold different states at index {applied}");
            }
        }

        // The committed log applied to a fresh store, which also tells every change it made: what watches must deliver.
        var changes = new List<WatchChange>();
        var reference = new KvStore(new KvStoreOptions
        {
            KeyChanged = (in KvChange c) => changes.Add(new WatchChange(c.Index, new string(c.Key), c.Value, c.Version, c.CreateIndex, c.Lease)),
        });
        for (ulong i = 1; i <= applied; i++)
        {
            ApplyCommitted(reference, i);
        }

        if (!ImageBytes(reference).AsSpan().SequenceEqual(image))
        {
            throw new SimulationViolation($"durability: the leader's state at {applied} is not the committed log's");
        }

        _history.Check();

        // A node past the leader's applied index may have shown a watch more.
        for (var i = applied + 1; i <= _safety.MaxApplied; i++)
        {
            ApplyCommitted(reference, i);
        }

        CheckWatches(leader, changes, reference.AppliedIndex);
    }

    private void ApplyCommitted(KvStore reference, ulong index)
    {
        if (!_safety.TryGetApplied(index, out var entry))
        {
            throw new SimulationViolation($"durability: index {index} was never applied anywhere");
        }

        if (entry.Type == EntryType.Command)
        {
            reference.Apply(index, entry.Data.Span);
        }
        else
        {
            reference.Skip(index);
        }
    }
}
