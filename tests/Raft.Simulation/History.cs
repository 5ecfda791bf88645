using Raft.KeyValue;
using Raft.Simulation.Checking;

namespace Raft.Simulation;

/// <summary>A lock command as the first replica to apply its index applied it, with the store's clock after it.</summary>
internal readonly record struct AppliedLock(ulong Index, KvCommandType Type, string Name, string Owner, long ClockMs, KvApplyResult Result);

/// <summary>
/// What the clients saw and what the replicas did, collected during a run and checked as it goes (sessions) and at
/// the end (registers, locks, durability).
/// </summary>
internal sealed class History
{
    private readonly List<ClientOp> _ops = [];

    // Per (client, sequence): the answer the session remembered the first time it applied it.
    private readonly Dictionary<(string Client, ulong Sequence), KvApplyResult> _sessionAnswers = [];
    private readonly Dictionary<string, ulong> _sessionApplied = [];

    /// <summary>Lock commands in log order, each as the first replica to apply its index saw it.</summary>
    public SortedDictionary<ulong, AppliedLock> LockStream { get; } = [];

    /// <summary>Every operation on a key, as its client saw it: what the linearizability checker reads.</summary>
    public RegisterHistory Registers { get; } = new();

    /// <summary>Every answer a session write got, and every replica's state after each write it applied.</summary>
    public SessionChecker Sessions { get; } = new();

    public IReadOnlyList<ClientOp> Ops => _ops;

    public int ReadsAnswered { get; private set; }

    public int WritesAnswered { get; private set; }

    public void OnInvoked(ClientOp op)
    {
        if (op.IsLock || op.IsRepeat)
        {
            return;
        }

        var kind = op.Kind switch
        {
            OpKind.Put => RegisterOpKind.Put,
            OpKind.PutIfVersion => RegisterOpKind.PutIfVersion,
            OpKind.Delete => RegisterOpKind.Delete,
            OpKind.DeleteIfVersion => RegisterOpKind.DeleteIfVersion,
            _ => RegisterOpKind.Get,
        };
        var expected = kind is RegisterOpKind.PutIfVersion or RegisterOpKind.DeleteIfVersion ? op.ExpectedVersion : 0;
        op.RegisterId = Registers.Invoke(op.Client, op.Key, kind, op.InvokeEvent, op.Value, expected);
    }

    public void OnCompleted(ClientOp op)
    {
        _ops.Add(op);
        if (op.RegisterId >= 0 && op.Status == OpStatus.Answered)
        {
            if (op.Kind is OpKind.Get or OpKind.LeaseGet)
            {
                Registers.Complete(op.RegisterId, op.Found ? RegisterOutcome.Ok : RegisterOutcome.NotFound, op.CompleteEvent, op.ReadVersion, op.ReadValue);
            }
            else
            {
                Registers.Complete(op.RegisterId, StoreFeed.ToOutcome(op.Result.Status), op.CompleteEvent, op.Result.Status == KvApplyStatus.NotFound ? 0 : op.Result.Version);
            }
        }
        else if (op.RegisterId >= 0 && op.Status == OpStatus.Failed)
        {
            Registers.Complete(op.RegisterId, RegisterOutcome.Failed, op.CompleteEvent);
        }

        if (op.Status == OpStatus.Answered)
        {
            if (op.IsWrite)
            {
                WritesAnswered++;
            }
            else
            {
                ReadsAnswered++;
            }
        }
    }

    /// <summary>
    /// A session command applied on some replica. Every replica, and every retry, must produce the answer the session
    /// gave the first time: a fresh application of a retry would carry its own index, not the original's. An older
    /// sequence answers "stale" only once a later one was applied; a refused acquire is not remembered.
    /// </summary>
    public void OnSessionApplied(int node, ulong index, string clientId, ulong sequence, KvCommandType type, KvApplyResult result)
    {
        var applied = _sessionApplied.GetValueOrDefault(clientId);
        if (result.Status == KvApplyStatus.StaleSequence)
        {
            if (applied <= sequence)
            {
                throw new SimulationViolation($"sessions: node {node} answered {clientId} sequence {sequence} (entry {index}) stale, but the latest sequence it applied is {applied}");
            }

            return;
        }

        if (type == KvCommandType.LockAcquire && result.Status == KvApplyStatus.LockHeld)
        {
            return;
        }

        if (_sessionAnswers.TryGetValue((clientId, sequence), out var first))
        {
            if (first != result)
            {
                throw new SimulationViolation($"sessions: {clientId} sequence {sequence} was answered {first} and then, at entry {index} on node {node}, {result}: applied twice or answered differently");
            }
        }
        else
        {
            _sessionAnswers[(clientId, sequence)] = result;
        }

        if (sequence > applied)
        {
            _sessionApplied[clientId] = sequence;
        }
    }

    public void OnLockApplied(in AppliedLock applied) => LockStream.TryAdd(applied.Index, applied);

    /// <summary>The checkers over the whole run: linearizability per key, exactly-once sessions, lock holders.</summary>
    public void Check()
    {
        var registers = RegisterChecker.Check(Registers.Operations);
        if (!registers.ToCheckResult().IsPass)
        {
            throw new SimulationViolation($"linearizability ({registers.Verdict}): {registers.Explanation}");
        }

        var sessions = Sessions.Check();
        if (!sessions.IsPass)
        {
            throw new SimulationViolation($"{sessions.Verdict}: {sessions.Explanation}");
        }

        var locks = new LockChecker();
        foreach (var applied in LockStream.Values)
        {
            if (StoreFeed.ToLockEvent(applied.Type, applied.Name, applied.Owner, applied.Result, applied.Index, applied.ClockMs) is { } lockEvent)
            {
                locks.OnApplied(lockEvent);
            }
        }

        foreach (var op in _ops)
        {
            if (op.IsLock && op.Status == OpStatus.Answered && StoreFeed.ToLockAnswer(LockCommand(op.Kind), op.Key, op.Owner!, op.Result) is { } answer)
            {
                locks.OnAnswer(answer);
            }
        }

        var lockResult = locks.Check();
        if (!lockResult.IsPass)
        {
            throw new SimulationViolation($"locks ({lockResult.Verdict}): {lockResult.Explanation}");
        }
    }

    private static KvCommandType LockCommand(OpKind kind) => kind switch
    {
        OpKind.Acquire => KvCommandType.LockAcquire,
        OpKind.Renew => KvCommandType.LockRenew,
        _ => KvCommandType.LockRelease,
    };
}
