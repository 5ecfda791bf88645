using Raft.KeyValue;

namespace Raft.Simulation;

/// <summary>Checks over a whole run's history, once it is over.</summary>
internal static class HistoryChecks
{
    /// <summary>
    /// A read that found a value saw the write applied at the version it reports, and no older one than a write
    /// on that key acknowledged before the read began.
    /// </summary>
    public static void CheckReads(IReadOnlyList<ClientOp> ops, SafetyChecker safety)
    {
        var writes = ops.Where(op => op.IsWrite && !op.IsLock && op.Status == OpStatus.Answered && op.Result.Status == KvApplyStatus.Ok)
            .OrderBy(op => op.CompleteEvent).ToList();
        foreach (var read in ops.Where(op => op.Kind is OpKind.Get or OpKind.LeaseGet && op.Status == OpStatus.Answered && op.Found))
        {
            if (!safety.TryGetApplied(read.ReadVersion, out var entry) || !KvCommandCodec.TryDecode(entry.Data.Span, out var command)
                || System.Text.Encoding.UTF8.GetString(command.Key) != read.Key || SimRead.ValueId(command.Value) != read.ReadValue)
            {
                throw new SimulationViolation($"linearizability: {read} reports a value that is not the write applied at its version");
            }

            var newest = writes.Where(w => w.Key == read.Key && w.CompleteEvent < read.InvokeEvent).Select(w => w.Result.Index).DefaultIfEmpty().Max();
            if (read.ReadVersion < newest)
            {
                throw new SimulationViolation($"linearizability: stale read: {read} saw version {read.ReadVersion}, but the write at {newest} was acknowledged before it began");
            }
        }
    }

    /// <summary>Per lock, along the applied stream: one holder at a time in leader time, and tokens that only grow.</summary>
    public static void CheckLocks(IEnumerable<LockEvent> stream, IReadOnlyList<ClientOp> ops)
    {
        var holders = new Dictionary<string, (string Owner, ulong Token, long Until)>();
        var tokens = new Dictionary<string, ulong>();
        var byIndex = new Dictionary<ulong, LockEvent>();
        foreach (var e in stream)
        {
            byIndex[e.Index] = e;
            if (e.Result.Index != e.Index)
            {
                // A session retry answered from memory: it repeats an earlier effect and has none of its own.
                continue;
            }

            var held = holders.TryGetValue(e.Name, out var h) && h.Until > e.AtMs;
            var r = e.Result;
            switch (e.Type)
            {
                case KvCommandType.LockAcquire when r.Status == KvApplyStatus.Ok:
                    if (held && h.Owner != e.Owner)
                    {
                        throw new SimulationViolation($"locks: '{e.Name}' granted to {e.Owner} at {e.AtMs} (entry {e.Index}) while {h.Owner} held it until {h.Until}");
                    }

                    if (held ? r.FencingToken != h.Token : r.FencingToken <= tokens.GetValueOrDefault(e.Name))
                    {
                        throw new SimulationViolation($"locks: '{e.Name}' granted at entry {e.Index} with token {r.FencingToken} after token {tokens.GetValueOrDefault(e.Name)}");
                    }

                    holders[e.Name] = (e.Owner, r.FencingToken, r.ExpiresAtMs);
                    tokens[e.Name] = Math.Max(tokens.GetValueOrDefault(e.Name), r.FencingToken);
                    break;
                case KvCommandType.LockRenew when r.Status == KvApplyStatus.Ok:
                    if (!held || h.Owner != e.Owner || h.Token != r.FencingToken)
                    {
                        throw new SimulationViolation($"locks: '{e.Name}' renewed for {e.Owner} at entry {e.Index}, who did not hold it");
                    }

                    holders[e.Name] = (e.Owner, r.FencingToken, r.ExpiresAtMs);
                    break;
                case KvCommandType.LockRelease when r.Status == KvApplyStatus.Ok:
                    if (!held || h.Owner != e.Owner)
                    {
                        throw new SimulationViolation($"locks: '{e.Name}' released by {e.Owner} at entry {e.Index}, who did not hold it");
                    }

                    holders.Remove(e.Name);
                    break;
                case var _ when r.Status == KvApplyStatus.LockHeld:
                    if (!held || h.Owner == e.Owner)
                    {
                        throw new SimulationViolation($"locks: '{e.Name}' refused to {e.Owner} at entry {e.Index} though nobody else held it");
                    }

                    break;
                case var _ when r.Status == KvApplyStatus.NotFound:
                    if (held && h.Owner == e.Owner)
                    {
                        throw new SimulationViolation($"locks: '{e.Name}' not found for its holder {e.Owner} at entry {e.Index}");
                    }

                    break;
            }
        }

        foreach (var op in ops.Where(op => op.IsLock && op.Status == OpStatus.Answered && op.Result.Status == KvApplyStatus.Ok))
        {
            if (!byIndex.TryGetValue(op.Result.Index, out var e) || e.Name != op.Key || (op.Kind != OpKind.Release && e.Result.FencingToken != op.Result.FencingToken))
            {
                throw new SimulationViolation($"locks: {op} was answered with what no replica applied");
            }
        }
    }
}
