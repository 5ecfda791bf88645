namespace Raft.FailoverBench.Targets;

/// <summary>
/// What the scale mode asks of a cluster beyond the failover harness: each node's Raft state, its readiness, a backup
/// taken from a node and its restore. Like <see cref="IBenchTarget"/>, failures come back as values; only cancelling
/// <c>cancellationToken</c> throws.
/// </summary>
internal interface IScaleTarget : IBenchTarget
{
    /// <summary>Node <paramref name="node"/>'s own account of its Raft state; null when it did not answer.</summary>
    Task<NodeState?> StateAsync(int node, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Whether the node says it can serve (ours: <c>/health/ready</c>; etcd: <c>/health</c>).</summary>
    Task<bool> IsReadyAsync(int node, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// How many snapshots node <paramref name="node"/> received from a leader and installed since its process started,
    /// as its own metrics or log say; null when the target cannot tell.
    /// </summary>
    Task<long?> SnapshotsInstalledAsync(int node, CancellationToken cancellationToken);

    /// <summary>A full backup of node <paramref name="node"/>'s state into <paramref name="file"/>, made durable there.</summary>
    Task<BackupOutcome> BackupAsync(int node, string file, CancellationToken cancellationToken);

    /// <summary>Turns the backup <paramref name="file"/> into the data directory <paramref name="directory"/> of node 1, with the same tool an operator would use.</summary>
    Task<ToolOutcome> RestoreAsync(string file, string directory, CancellationToken cancellationToken);
}

/// <summary>
/// A node's Raft state. <see cref="LeaderId"/> is the node number of the leader it knows (0 for none). The
/// snapshot, election and write-ahead-log fsync counters are known for ours only (its <c>/metrics</c>), null for
/// etcd; they count from the node process's start. <see cref="SlowFsyncs"/> counts fsyncs of more than 100 ms.
/// </summary>
internal sealed record NodeState(
    ulong Term,
    int LeaderId,
    ulong CommitIndex,
    ulong AppliedIndex,
    long? Campaigns = null,
    long? SnapshotsTaken = null,
    double? SnapshotSeconds = null,
    long? SnapshotsInstalled = null,
    long? SnapshotTransfers = null,
    long? SnapshotFailures = null,
    long? Fsyncs = null,
    double? FsyncSeconds = null,
    long? SlowFsyncs = null);

/// <summary>A backup's result: <see cref="Error"/> null means <see cref="Bytes"/> bytes are in the file, durable.</summary>
internal sealed record BackupOutcome(string? Error, long Bytes, string Detail);

/// <summary>A command-line tool's run: its exit code (-1 when it was killed for taking too long) and the end of its output.</summary>
internal sealed record ToolOutcome(int ExitCode, string Output);
