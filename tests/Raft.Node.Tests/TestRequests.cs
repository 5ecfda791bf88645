using System.Text;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>A write that records its one answer.</summary>
internal sealed class TestWrite(byte[] command) : WriteRequest<KvApplyResult>(command)
{
    public WriteOutcome<KvApplyResult>? Outcome { get; private set; }

    public WriteStatus? Status => Outcome?.Status;

    /// <summary>The leader time stamped into the command when it was proposed (0 for an untimed command).</summary>
    public long StampedTimeMs => KvCommandCodec.TryDecode(Command, out var command) ? command.TimeMs : throw new InvalidOperationException("not a command");

    protected override void OnCompleted(in WriteOutcome<KvApplyResult> outcome)
    {
        if (Outcome is not null)
        {
            throw new InvalidOperationException($"answered twice: {Outcome} then {outcome}");
        }

        Outcome = outcome;
    }
}

/// <summary>A read of one key that records how it ended: the value it saw, or why it failed.</summary>
internal sealed class TestRead(ReadConsistency consistency, string key) : ReadRequest<KvStore>(consistency)
{
    public bool Served { get; private set; }

    /// <summary>The key's value when the read was served (null: absent).</summary>
    public string? Value { get; private set; }

    /// <summary>How far the state machine had applied when the read was served.</summary>
    public ulong ServedAtIndex { get; private set; }

    public ReadFailure? Failure { get; private set; }

    public int FailureLeaderId { get; private set; }

    public bool Answered => Served || Failure is not null;

    protected override void OnServed(KvStore stateMachine)
    {
        ThrowIfAnswered();
        Served = true;
        Value = stateMachine.TryGet(key, out var value) ? Encoding.UTF8.GetString(value.Value) : null;
        ServedAtIndex = stateMachine.AppliedIndex;
    }

    protected override void OnFailed(ReadFailure failure, int leaderId)
    {
        ThrowIfAnswered();
        Failure = failure;
        FailureLeaderId = leaderId;
    }

    private void ThrowIfAnswered()
    {
        if (Answered)
        {
            throw new InvalidOperationException($"answered twice (served={Served}, failure={Failure})");
        }
    }
}

/// <summary>A leadership transfer that records its one answer.</summary>
internal sealed class TestTransfer(int to) : TransferRequest(to)
{
    public TransferOutcome? Outcome { get; private set; }

    public TransferStatus? Status => Outcome?.Status;

    protected override void OnCompleted(in TransferOutcome outcome)
    {
        if (Outcome is not null)
        {
            throw new InvalidOperationException($"answered twice: {Outcome} then {outcome}");
        }

        Outcome = outcome;
    }
}
