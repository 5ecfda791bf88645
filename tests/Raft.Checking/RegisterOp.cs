using System.Globalization;

namespace Raft.Checking;

/// <summary>What a client asked of one key.</summary>
internal enum RegisterOpKind : byte
{
    Get,
    Put,

    /// <summary>A put that applies only when the key's version equals <see cref="RegisterOp.ExpectedVersion"/> (0: the key must not exist).</summary>
    PutIfVersion,
    Delete,

    /// <summary>A delete that applies only when the key's version equals <see cref="RegisterOp.ExpectedVersion"/>.</summary>
    DeleteIfVersion,
}

/// <summary>How an operation turned out, as its client saw it.</summary>
internal enum RegisterOutcome : byte
{
    Ok,
    PreconditionFailed,
    NotFound,

    /// <summary>Definitely not applied: it never takes effect.</summary>
    Failed,

    /// <summary>
    /// The client never learned the answer: the operation may take effect at any time after its invocation, or
    /// never, and what it would have returned is unconstrained.
    /// </summary>
    Unknown,
}

/// <summary>
/// One client operation on one key, with its invocation and answer as positions in one global event order shared
/// by every key and client (positions are distinct; an answer comes after its invocation).
/// </summary>
/// <remarks>
/// A write retried in a client session (same client id and sequence, on any node) is one operation: invoked by its
/// first attempt, answered by the attempt whose answer the client got. A session write sent again after it was
/// answered is no operation at all here: its answer goes to the <see cref="SessionChecker"/> only, whose question
/// it is whether the store applied the write once.
/// </remarks>
internal sealed record RegisterOp
{
    public required int Client { get; init; }

    public required string Key { get; init; }

    public required RegisterOpKind Kind { get; init; }

    /// <summary>
    /// For a put: the value it writes, unique in the whole history and never 0, so that a value names its write.
    /// For a get answered <see cref="RegisterOutcome.Ok"/>: the value it read. Otherwise 0.
    /// </summary>
    public ulong Value { get; init; }

    /// <summary>For a conditional put or delete: the version it expects (0: the key must not exist).</summary>
    public ulong ExpectedVersion { get; init; }

    public RegisterOutcome Outcome { get; init; } = RegisterOutcome.Unknown;

    /// <summary>
    /// The version the answer carried: a get's version read, a put's new version, a delete's removed version, a
    /// failed precondition's current version (0 when absent). 0 when the answer carries none.
    /// </summary>
    public ulong Version { get; init; }

    public required long InvokedAt { get; init; }

    /// <summary>Where the answer arrived; meaningless for <see cref="RegisterOutcome.Unknown"/>.</summary>
    public long CompletedAt { get; init; }

    public bool IsWrite => Kind is RegisterOpKind.Put or RegisterOpKind.PutIfVersion;

    public bool IsCompleted => Outcome is RegisterOutcome.Ok or RegisterOutcome.PreconditionFailed or RegisterOutcome.NotFound;

    /// <summary>One line for reports, e.g. <c>c2 put-if-version(7, expect v12) -> ok v14 [40, 45]</c> (client 2, invoked at 40, answered at 45).</summary>
    public string Describe()
    {
        var expect = ExpectedVersion == 0 ? "expect absent" : $"expect v{ExpectedVersion}";
        var request = Kind switch
        {
            RegisterOpKind.Get => "get",
            RegisterOpKind.Put => $"put({Value})",
            RegisterOpKind.PutIfVersion => $"put-if-version({Value}, {expect})",
            RegisterOpKind.Delete => "delete",
            _ => $"delete-if-version({expect})",
        };
        var answer = (Kind, Outcome) switch
        {
            (RegisterOpKind.Get, RegisterOutcome.Ok) => $"ok {Value} v{Version}",
            (_, RegisterOutcome.Ok) => $"ok v{Version}",
            (_, RegisterOutcome.PreconditionFailed) => Version == 0 ? "precondition-failed (absent)" : $"precondition-failed (current v{Version})",
            (_, RegisterOutcome.NotFound) => "not-found",
            (_, RegisterOutcome.Failed) => "failed",
            _ => "unknown",
        };
        var span = Outcome == RegisterOutcome.Unknown
            ? string.Create(CultureInfo.InvariantCulture, $"[{InvokedAt}, never answered]")
            : string.Create(CultureInfo.InvariantCulture, $"[{InvokedAt}, {CompletedAt}]");
        return string.Create(CultureInfo.InvariantCulture, $"c{Client} {request} -> {answer} {span}");
    }
}

/// <summary>
/// Records operations as a simulator runs them: <see cref="Invoke"/> when a client sends a request,
/// <see cref="Complete"/> when it gets the answer. An operation never completed stays <see cref="RegisterOutcome.Unknown"/>.
/// Operation ids are positions in <see cref="Operations"/>, the numbers the checker's reports use (#id).
/// </summary>
/// <remarks>Not thread-safe; positions come from the caller's global event counter.</remarks>
internal sealed class RegisterHistory
{
    private readonly List<RegisterOp> _ops = [];

    public IReadOnlyList<RegisterOp> Operations => _ops;

    public int Invoke(int client, string key, RegisterOpKind kind, long at, ulong value = 0, ulong expectedVersion = 0)
    {
        if (expectedVersion != 0 && kind is not (RegisterOpKind.PutIfVersion or RegisterOpKind.DeleteIfVersion))
        {
            throw new ArgumentException($"a {kind} expects no version", nameof(expectedVersion));
        }

        _ops.Add(new RegisterOp { Client = client, Key = key, Kind = kind, Value = kind is RegisterOpKind.Put or RegisterOpKind.PutIfVersion ? value : 0, ExpectedVersion = expectedVersion, InvokedAt = at });
        return _ops.Count - 1;
    }

    /// <summary>Records the answer of operation <paramref name="id"/>; <paramref name="value"/> is a get's value read (ignored otherwise).</summary>
    public void Complete(int id, RegisterOutcome outcome, long at, ulong version = 0, ulong value = 0)
    {
        var op = _ops[id];
        if (op.Outcome != RegisterOutcome.Unknown || outcome == RegisterOutcome.Unknown || at <= op.InvokedAt)
        {
            throw new InvalidOperationException($"operation #{id} ({op.Describe()}) cannot complete as {outcome} at {at}");
        }

        _ops[id] = op with
        {
            Outcome = outcome,
            CompletedAt = at,
            Version = version,
            Value = op.Kind == RegisterOpKind.Get ? (outcome == RegisterOutcome.Ok ? value : 0) : op.Value,
        };
    }
}
