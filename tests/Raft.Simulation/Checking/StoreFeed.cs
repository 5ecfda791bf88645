using Raft.KeyValue;

namespace Raft.Simulation.Checking;

/// <summary>
/// Turns what <see cref="KvStore"/> answers into what the checkers take, so that a simulator feeds them the same
/// way everywhere.
/// </summary>
internal static class StoreFeed
{
    /// <summary>A client's view of a put's or delete's answer, for <see cref="RegisterOp"/>.</summary>
    public static RegisterOutcome ToOutcome(KvApplyStatus status) => status switch
    {
        KvApplyStatus.Ok => RegisterOutcome.Ok,
        KvApplyStatus.NotFound => RegisterOutcome.NotFound,
        KvApplyStatus.PreconditionFailed => RegisterOutcome.PreconditionFailed,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "not an answer to a put or a delete"),
    };

    public static SessionAnswer ToSessionAnswer(in KvApplyResult result)
    {
        var status = result.Status switch
        {
            KvApplyStatus.Ok => SessionAnswerStatus.Ok,
            KvApplyStatus.NotFound => SessionAnswerStatus.NotFound,
            KvApplyStatus.PreconditionFailed => SessionAnswerStatus.PreconditionFailed,
            KvApplyStatus.LockHeld => SessionAnswerStatus.LockHeld,
            KvApplyStatus.StaleSequence => SessionAnswerStatus.StaleSequence,
            _ => SessionAnswerStatus.Invalid,
        };
        return new SessionAnswer(status, result.Index, result.Version, result.FencingToken, result.ExpiresAtMs);
    }

    /// <summary>
    /// The lock event a command applied at <paramref name="entryIndex"/> makes, or null when it made none: a lock
    /// nobody holds (not found), or a deduplicated session retry, whose answer is the original command's (its index
    /// is not this entry's) and which changed nothing.
    /// </summary>
    /// <param name="clockMs">The store's time after the command (<see cref="KvStore.ClockMs"/>).</param>
    public static LockEvent? ToLockEvent(KvCommandType type, string lockName, string owner, in KvApplyResult result, ulong entryIndex, long clockMs)
    {
        if (result.Index != entryIndex)
        {
            return null;
        }

        return (result.Status, type) switch
        {
            (KvApplyStatus.Ok, KvCommandType.LockAcquire) => LockEvent.Granted(lockName, owner, result.FencingToken, clockMs, result.ExpiresAtMs),
            (KvApplyStatus.Ok, KvCommandType.LockRenew) => LockEvent.Renewed(lockName, owner, result.FencingToken, clockMs, result.ExpiresAtMs),
            (KvApplyStatus.Ok, KvCommandType.LockRelease) => LockEvent.Released(lockName, owner, result.FencingToken, clockMs),
            (KvApplyStatus.LockHeld, _) => LockEvent.Refused(lockName, owner, clockMs, result.Holder!, result.ExpiresAtMs),
            _ => null,
        };
    }

    /// <summary>What a client is told by a lock command's answer, or null when it is told it holds nothing.</summary>
    public static LockAnswer? ToLockAnswer(KvCommandType type, string lockName, string owner, in KvApplyResult result) =>
        (result.Status, type) switch
        {
            (KvApplyStatus.Ok, KvCommandType.LockAcquire) => new LockAnswer(LockEventKind.Granted, lockName, owner, result.FencingToken, result.ExpiresAtMs),
            (KvApplyStatus.Ok, KvCommandType.LockRenew) => new LockAnswer(LockEventKind.Renewed, lockName, owner, result.FencingToken, result.ExpiresAtMs),
            (KvApplyStatus.Ok, KvCommandType.LockRelease) => new LockAnswer(LockEventKind.Released, lockName, owner, result.FencingToken, 0),
            _ => null,
        };
}
