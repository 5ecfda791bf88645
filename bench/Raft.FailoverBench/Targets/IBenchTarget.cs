namespace Raft.FailoverBench.Targets;

/// <summary>
/// One three-node cluster under test, as the client harness sees it. Nodes are numbered 1 to <see cref="Nodes"/>.
/// Every request method applies the target's per-request timeout itself and reports failure as a value
/// (<see cref="ErrorKinds"/>), never as an exception; cancelling <c>cancellationToken</c> is the only way to
/// make one throw. The process-control methods are called by one caller at a time.
/// </summary>
internal interface IBenchTarget : IAsyncDisposable
{
    /// <summary>What the tables call it: <c>ours</c>, <c>etcd-ours</c>, <c>etcd-default</c>.</summary>
    string Name { get; }

    int Nodes { get; }

    /// <summary>Starts the processes and returns once one node claims leadership.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Writes a new key. Success carries the log position the write was committed at.</summary>
    Task<WriteOutcome> PutAsync(int node, string key, string value, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>A linearizable read of <paramref name="key"/> served by <paramref name="node"/>.</summary>
    Task<ReadOutcome> GetAsync(int node, string key, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Whether the node itself says it is the leader; null when it did not answer.</summary>
    Task<bool?> ClaimsLeadershipAsync(int node, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Asks leader <paramref name="leader"/> to hand over; true once it accepted.</summary>
    Task<bool> TransferLeadershipAsync(int leader, CancellationToken cancellationToken);

    /// <summary>kill -9, and wait until the process is gone.</summary>
    Task CrashAsync(int node, CancellationToken cancellationToken);

    /// <summary>SIGSTOP.</summary>
    void Pause(int node);

    /// <summary>SIGCONT.</summary>
    void Resume(int node);

    /// <summary>Starts a crashed node again with the same arguments and data directory.</summary>
    Task RestartAsync(int node, CancellationToken cancellationToken);

    int Pid(int node);

    /// <summary>
    /// Replaces crashed node <paramref name="dead"/> with a new node on an empty data directory and other ports: added as a
    /// learner, promoted once caught up, then the dead member removed; returns once it is removed. The new node takes
    /// the dead one's number from then on.
    /// </summary>
    Task ReplaceAsync(int dead, CancellationToken cancellationToken);

    /// <summary>kill -9 every process this target started, without waiting; safe to call more than once.</summary>
    void KillAll();
}

/// <summary>Names for how a request failed, as counted per trial.</summary>
internal static class ErrorKinds
{
    public const string Timeout = "timeout";
    public const string Refused = "connection-refused";
    public const string Reset = "connection-reset";
    public const string Connection = "connection-error";
    public const string Unavailable = "503";
    public const string BadAnswer = "bad-answer";

    public static string Status(int code) => code == 503 ? Unavailable : code.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>An answer to a write: <see cref="Error"/> null means acknowledged at log position <see cref="Index"/>.</summary>
/// <param name="LeaderHint">The node the answering node named as leader, 0 when none.</param>
internal readonly record struct WriteOutcome(string? Error, ulong Index, int LeaderHint)
{
    public bool Ok => Error is null;

    public static WriteOutcome Failed(string error, int leaderHint = 0) => new(error, 0, leaderHint);
}

/// <summary>
/// An answer to a linearizable read. <see cref="Index"/> is the position the read was served at (ours:
/// <c>X-Raft-Index</c>; etcd: <c>header.revision</c>); <see cref="ModIndex"/> and <see cref="CreateIndex"/> are the
/// positions of the key's last write and of its creation; <see cref="Version"/> counts the key's writes where the
/// store reports it (etcd), null where it does not (ours, whose version is the last write's log index).
/// </summary>
internal readonly record struct ReadOutcome(string? Error, bool Found, string? Value, ulong Index, ulong ModIndex, ulong CreateIndex, long? Version, int LeaderHint)
{
    public bool Ok => Error is null;

    public static ReadOutcome Failed(string error, int leaderHint = 0) => new(error, false, null, 0, 0, 0, null, leaderHint);

    public static ReadOutcome NotFound(ulong index) => new(null, false, null, index, 0, 0, null, 0);
}
