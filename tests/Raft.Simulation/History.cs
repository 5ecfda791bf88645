using Raft.Core;
using Raft.KeyValue;

namespace Raft.Simulation;

/// <summary>A lock command as one replica applied it, in leader time (the store's clock once it applied it).</summary>
internal readonly record struct LockEvent(ulong Index, KvCommandType Type, string Name, string Owner, long AtMs, KvApplyResult Result);

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
    public SortedDictionary<ulong, LockEvent> LockStream { get; } = [];

    public IReadOnlyList<ClientOp> Ops => _ops;

    public int ReadsAnswered { get; private set; }

    public int WritesAnswered { get; private set; }

    public void OnCompleted(ClientOp op)
    {
        _ops.Add(op);
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

    public void OnLockApplied(in LockEvent lockEvent) => LockStream.TryAdd(lockEvent.Index, lockEvent);
}
