namespace Raft.Core;

/// <summary>
/// The state machine a Raft log drives: every replica applies the same committed commands in log order and so
/// reaches the same state. The node driver owns one and calls it from its single thread only.
/// </summary>
/// <typeparam name="TResult">What applying one command answers; handed back to the client that proposed it.</typeparam>
/// <remarks>
/// <para>Determinism: the state, and every <typeparamref name="TResult"/>, must be a function of the commands applied
/// and nothing else (no clock, no randomness, no culture). Time a command needs is the leader's, written into it
/// by <see cref="TryStampTime"/> before it is proposed.</para>
/// <para>Time: a command's effective time must be max(<see cref="ClockMs"/>, the time stamped into it). A new leader
/// stamps no earlier than what it has applied, but it may propose before it applied its predecessor's last entries,
/// whose stamps can be later than its own clock; taking the maximum on apply is what keeps time from going back.</para>
/// <para>Commands are opaque to the driver: it never reads or writes their layout except through this interface.</para>
/// </remarks>
public interface IReplicatedStateMachine<TResult>
{
    /// <summary>The index of the last log entry applied or skipped; what a snapshot taken now covers.</summary>
    ulong AppliedIndex { get; }

    /// <summary>The largest leader time (Unix ms) of any command applied; never decreases.</summary>
    long ClockMs { get; }

    /// <summary>Applies the committed command at <paramref name="index"/>, which is <see cref="AppliedIndex"/> + 1.</summary>
    TResult Apply(ulong index, ReadOnlySpan<byte> command);

    /// <summary>Records that the entry at <paramref name="index"/> carries nothing for the state machine (a no-op, a membership).</summary>
    void Skip(ulong index);

    /// <summary>
    /// Writes the leader's time into a command that carries one, just before the leader proposes it; false (nothing
    /// written) when the command carries no time.
    /// </summary>
    bool TryStampTime(Span<byte> command, long leaderTimeMs);

    /// <summary>
    /// The leader's duties at its time <paramref name="leaderTimeMs"/>: commands that something in the state has come
    /// due (a lease whose time ran out), added to <paramref name="into"/>. The driver asks on a leader that has applied
    /// its own term's first commands, again once what it proposed for the last answer has applied. Reads the state only.
    /// </summary>
    void CollectDueCommands(long leaderTimeMs, List<byte[]> into);

    /// <summary>
    /// A new leader's first command, proposed before any other it proposes in its term: what carries time-bound state
    /// across the <paramref name="gapMs"/> the cluster spent without a leader (as the new leader measured it); null for none.
    /// </summary>
    byte[]? TakeOverCommand(long gapMs);

    /// <summary>
    /// Freezes the state as it is now, at <see cref="AppliedIndex"/>, in time that does not grow with its size. The image
    /// may be written out from another thread while this goes on applying; the caller disposes it.
    /// </summary>
    IStateMachineImage CaptureImage();

    /// <summary>
    /// Reads an image's bytes (what <see cref="IStateMachineImage.OpenRead"/> produced), and no byte beyond them, into a
    /// detached state for <see cref="InstallImage"/>. Runs on any thread and touches nothing of this state machine.
    /// A damaged image throws <see cref="InvalidDataException"/>.
    /// </summary>
    IStateMachineImage LoadImage(Stream source);

    /// <summary>
    /// Replaces the whole state with an image's (one <see cref="LoadImage"/> read), on the owner's thread, in time that
    /// does not grow with the state's size: the image's structures are adopted, not copied.
    /// </summary>
    void InstallImage(IStateMachineImage image);
}
