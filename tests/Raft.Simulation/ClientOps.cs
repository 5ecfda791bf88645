using Raft.Core;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Simulation;

/// <summary>What a simulated client asks, in the HTTP API's terms.</summary>
internal enum OpKind : byte
{
    Put,
    PutIfVersion,
    Delete,
    DeleteIfVersion,
    Get,
    LeaseGet,
    Acquire,
    Renew,
    Release,
}

internal enum OpStatus : byte
{
    Pending,

    /// <summary>The client got the state machine's answer (which may be a refusal: 412, 404, 409).</summary>
    Answered,

    /// <summary>Definitely not applied: the client learned it never will be.</summary>
    Failed,

    /// <summary>The client gave up or lost the connection: it may or may not have been applied.</summary>
    Unknown,
}

/// <summary>One operation as its client sees it, from the first attempt to the answer.</summary>
internal sealed class ClientOp
{
    public required long Id { get; init; }

    public required int Client { get; init; }

    public required OpKind Kind { get; init; }

    /// <summary>The key, or the lock's name.</summary>
    public required string Key { get; init; }

    /// <summary>A put's unique value (its first 8 bytes); 0 for other kinds.</summary>
    public ulong Value { get; init; }

    public ulong ExpectedVersion { get; init; }

    public string? Owner { get; init; }

    public long TtlMs { get; init; }

    public KvSession Session { get; init; }

    /// <summary>A session write sent again after it was answered; it must answer the same and change nothing.</summary>
    public bool IsRepeat { get; init; }

    public required long InvokeEvent { get; init; }

    public required long InvokeTick { get; init; }

    public long CompleteEvent { get; set; }

    public OpStatus Status { get; set; }

    /// <summary>The state machine's answer for writes and lock commands.</summary>
    public KvApplyResult Result { get; set; }

    /// <summary>A read's answer: whether the key existed, its value and version.</summary>
    public bool Found { get; set; }

    public ulong ReadValue { get; set; }

    public ulong ReadVersion { get; set; }

    /// <summary>The operation's id in the register history (-1 for lock commands and repeats, which are not register operations).</summary>
    public int RegisterId { get; set; } = -1;

    /// <summary>Which attempt is current; answers to older attempts are ignored.</summary>
    public int AttemptCount { get; set; }

    public bool IsWrite => Kind is OpKind.Put or OpKind.PutIfVersion or OpKind.Delete or OpKind.DeleteIfVersion or OpKind.Acquire or OpKind.Renew or OpKind.Release;

    public bool IsLock => Kind is OpKind.Acquire or OpKind.Renew or OpKind.Release;

    public override string ToString() =>
        $"op {Id} client {Client} {Kind} {Key}" + (Value != 0 ? $" value={Value}" : string.Empty)
        + (Kind is OpKind.PutIfVersion or OpKind.DeleteIfVersion ? $" if={ExpectedVersion}" : string.Empty)
        + (Session.IsEmpty ? string.Empty : $" seq={Session.Sequence}")
        + $" {Status}" + (Status == OpStatus.Answered ? $" {Describe()}" : string.Empty);

    private string Describe() => Kind is OpKind.Get or OpKind.LeaseGet
        ? (Found ? $"-> {ReadValue}@{ReadVersion}" : "-> absent")
        : $"-> {Result.Status} idx={Result.Index} v={Result.Version}" + (IsLock ? $" token={Result.FencingToken} until={Result.ExpiresAtMs}" : string.Empty);
}

/// <summary>One attempt of an operation: where it is now and how many forwards it took to get there.</summary>
internal sealed class Attempt(ClientOp op, int number)
{
    public ClientOp Op { get; } = op;

    public int Number { get; } = number;

    /// <summary>The node the client connected to; its crash, like that of <see cref="At"/>, loses the answer.</summary>
    public SimNode? Entry { get; set; }

    /// <summary>Where the request is now (after forwards); null while a forward is in flight.</summary>
    public SimNode? At { get; set; }

    public int Hops { get; set; }

    /// <summary>The leader that passed the write on to the target of its hand-over (the server's <c>X-Raft-Hand-Over-From</c>), or 0.</summary>
    public int HandedOverBy { get; set; }

    public long StartedTick { get; set; }

    public bool Done { get; set; }
}

/// <summary>A client's write as the driver carries it; the answer goes back through the simulated HTTP layer.</summary>
internal sealed class SimWrite(Simulator simulator, Attempt attempt, byte[] command) : WriteRequest<KvApplyResult>(command)
{
    public Attempt Attempt { get; } = attempt;

    protected override void OnCompleted(in WriteOutcome<KvApplyResult> outcome) => simulator.OnWriteOutcome(this, outcome);
}

/// <summary>A client's read of one key.</summary>
internal sealed class SimRead(Simulator simulator, Attempt attempt, ReadConsistency consistency) : ReadRequest<KvStore>(consistency)
{
    public Attempt Attempt { get; } = attempt;

    protected override void OnServed(KvStore stateMachine)
    {
        var found = stateMachine.TryGet(Attempt.Op.Key, out var value);
        simulator.OnReadServed(this, found, found ? ValueId(value.Value) : 0, found ? value.Version : 0);
    }

    protected override void OnFailed(ReadFailure failure, int leaderId) => simulator.OnReadFailed(this, failure, leaderId);

    public static ulong ValueId(ReadOnlySpan<byte> value) => value.Length >= 8 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(value) : 0;
}

/// <summary>A write the simulator itself makes (the liveness marker); nobody waits for its answer but the simulator.</summary>
internal sealed class MarkerWrite(byte[] command, Action<WriteOutcome<KvApplyResult>> onCompleted) : WriteRequest<KvApplyResult>(command)
{
    protected override void OnCompleted(in WriteOutcome<KvApplyResult> outcome) => onCompleted(outcome);
}

/// <summary>A fault-injected leadership transfer; its outcome is only traced.</summary>
internal sealed class SimTransfer(int to, Action<TransferOutcome> onCompleted) : TransferRequest(to)
{
    protected override void OnCompleted(in TransferOutcome outcome) => onCompleted(outcome);
}

internal sealed class SimMembershipChange(MembershipChange change, ulong promoteMaxLag, Action<MembershipOutcome> onCompleted) : MembershipRequest(change, promoteMaxLag)
{
    protected override void OnCompleted(in MembershipOutcome outcome) => onCompleted(outcome);
}
