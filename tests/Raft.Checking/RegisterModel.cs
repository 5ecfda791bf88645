namespace Raft.Checking;

/// <summary>
/// One key as the store holds it (see <c>KvStore.Execute</c>): absent, or a value with its version. Versions are log
/// indexes, so along a key's linearization every write's version exceeds <see cref="Floor"/>, the largest version
/// written so far.
/// </summary>
/// <param name="Value">0: absent. <see cref="Unobserved"/>: a write nobody read, whose version nobody tied to a value.</param>
/// <param name="Version">
/// The current version; 0 when absent. For an unobserved write, 0 until some answer reports its version, then that.
/// </param>
/// <param name="Floor">The largest known version written so far (deletes keep it).</param>
internal readonly record struct RegisterState(ulong Value, ulong Version, ulong Floor)
{
    /// <summary>
    /// Every unobserved write leaves the same state: no completed operation can tell two of them apart, so one
    /// marker keeps the search from exploring each of them separately.
    /// </summary>
    public const ulong Unobserved = ulong.MaxValue;

    public bool IsAbsent => Value == 0;

    public override string ToString() => Value switch
    {
        0 => $"absent (floor v{Floor})",
        Unobserved => Version == 0 ? "an unobserved write" : $"an unobserved write at v{Version}",
        _ => $"{Value} v{Version}",
    };
}

/// <summary>How an operation may take effect in the search.</summary>
internal enum SearchEffect : byte
{
    Ok,
    PreconditionFailed,
    NotFound,

    /// <summary>An operation whose answer was lost and that nobody observed: it may take effect whenever it changes something.</summary>
    Any,
}

/// <summary>
/// An operation as the search sees it. Keys order events: an invocation at position p is 2p, an answer 2p + 1, so
/// an invocation and an answer at one position count as concurrent.
/// </summary>
/// <param name="Source">The operation's id in the history.</param>
/// <param name="Value">The value written or read; <see cref="RegisterState.Unobserved"/> for an unobserved write.</param>
/// <param name="VersionIsOrphan">The reported version belongs to no write whose version is known.</param>
/// <param name="ReturnKey">For an operation of effect <see cref="SearchEffect.Any"/>, <see cref="long.MaxValue"/>.</param>
internal readonly record struct SearchOp(
    int Source,
    RegisterOpKind Kind,
    SearchEffect Effect,
    ulong Value,
    ulong Expected,
    ulong Version,
    bool VersionIsOrphan,
    long InvokeKey,
    long ReturnKey)
{
    /// <summary>Whether taking effect can change the state; the others only test it.</summary>
    public bool Mutates => Effect == SearchEffect.Any || (Effect == SearchEffect.Ok && Kind != RegisterOpKind.Get);

    /// <summary>
    /// The version the key must hold for this operation to take effect (0: none in particular). A version, once the
    /// key leaves it, never returns, so every operation needing it must take effect before that.
    /// </summary>
    public ulong NeededVersion => (Kind, Effect) switch
    {
        (RegisterOpKind.Get, SearchEffect.Ok) => Version,
        (RegisterOpKind.PutIfVersion, SearchEffect.Ok) => Expected,

        // An orphan version is met on an unobserved write, which has no version of its own to leave.
        (RegisterOpKind.Delete or RegisterOpKind.DeleteIfVersion, SearchEffect.Ok) when !VersionIsOrphan => Version,
        (_, SearchEffect.PreconditionFailed) when !VersionIsOrphan => Version,
        _ => 0,
    };

    /// <summary>A write that took effect with a known version: these take effect in version order.</summary>
    public bool IsKnownWrite => Effect == SearchEffect.Ok && Kind is RegisterOpKind.Put or RegisterOpKind.PutIfVersion;

    /// <summary>
    /// The store's semantics for one key. False when the operation cannot take effect on <paramref name="state"/>
    /// with the answer it got, and, for <see cref="SearchEffect.Any"/>, when taking effect would change nothing
    /// (that is the same as never taking effect).
    /// </summary>
    public bool TryApply(in RegisterState state, out RegisterState next)
    {
        next = state;
        switch (Kind, Effect)
        {
            case (RegisterOpKind.Get, SearchEffect.Ok):
                return state.Value == Value && state.Version == Version;
            case (RegisterOpKind.Get, SearchEffect.NotFound):
                return state.IsAbsent;
            case (RegisterOpKind.Put or RegisterOpKind.PutIfVersion, SearchEffect.Ok):
                if ((Kind == RegisterOpKind.PutIfVersion && !Matches(state, Expected)) || Version <= state.Floor)
                {
                    return false;
                }

                next = new RegisterState(Value, Version, Version);
                return true;
            case (RegisterOpKind.PutIfVersion or RegisterOpKind.DeleteIfVersion, SearchEffect.PreconditionFailed):
                return !Matches(state, Expected) && ReportsCurrentVersion(state, out next);
            case (RegisterOpKind.Delete, SearchEffect.Ok):
                if (state.IsAbsent || !ReportsCurrentVersion(state, out var reported))
                {
                    return false;
                }

                next = reported with { Value = 0, Version = 0 };
                return true;
            case (RegisterOpKind.Delete or RegisterOpKind.DeleteIfVersion, SearchEffect.NotFound):
                // A delete-if-version of an absent key expecting 0 passes its check and then finds nothing.
                return state.IsAbsent && (Kind == RegisterOpKind.Delete || Expected == 0);
            case (RegisterOpKind.DeleteIfVersion, SearchEffect.Ok):
                if (Expected == 0 || Version != Expected || !Matches(state, Expected))
                {
                    return false;
                }

                next = state with { Value = 0, Version = 0 };
                return true;
            case (RegisterOpKind.Put, SearchEffect.Any):
                next = state with { Value = RegisterState.Unobserved, Version = 0 };
                return next != state;
            case (RegisterOpKind.PutIfVersion, SearchEffect.Any):
                next = state with { Value = RegisterState.Unobserved, Version = 0 };
                return Matches(state, Expected) && next != state;
            case (RegisterOpKind.Delete, SearchEffect.Any):
                next = state with { Value = 0, Version = 0 };
                return !state.IsAbsent;
            case (RegisterOpKind.DeleteIfVersion, SearchEffect.Any):
                next = state with { Value = 0, Version = 0 };
                return Expected != 0 && Matches(state, Expected);
            default:
                return false;
        }
    }

    /// <summary>
    /// The store's version check. An unobserved write never matches a nonzero expectation: clients take expected
    /// versions only from (value, version) pairs they observed, so a version nobody observed is never expected.
    /// </summary>
    private static bool Matches(in RegisterState state, ulong expected) =>
        expected == 0 ? state.IsAbsent : state.Value != RegisterState.Unobserved && state.Version == expected;

    // Whether the answer's version is the state's. An unobserved write's version is unknown until reported: any
    // version that names no known write and exceeds the floor could be it, and the first report fixes it (so
    // versions written after exceed it).
    private bool ReportsCurrentVersion(in RegisterState state, out RegisterState next)
    {
        next = state;
        if (state.Value != RegisterState.Unobserved || state.Version != 0)
        {
            return Version == state.Version;
        }

        if (Version == 0 || !VersionIsOrphan || Version <= state.Floor)
        {
            return false;
        }

        next = state with { Version = Version, Floor = Version };
        return true;
    }

    /// <summary>Whether taking effect on <paramref name="state"/> would fix an unobserved write's version: a change, though the operation only tests.</summary>
    public bool MayBind(in RegisterState state) =>
        !Mutates && VersionIsOrphan && state.Value == RegisterState.Unobserved && state.Version == 0;
}
