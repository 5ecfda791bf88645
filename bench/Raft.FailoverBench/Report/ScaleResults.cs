using Raft.FailoverBench.Harness;

namespace Raft.FailoverBench.Report;

/// <summary>Writes of a steady writer in some span: how many were acknowledged and failed, and the acknowledged ones' latency.</summary>
internal sealed record LatencySummary(int Ok, int Failed, double? P50Ms, double? P99Ms, double? MaxMs)
{
    public static LatencySummary Of(IEnumerable<SteadyWrite> writes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        var all = writes.ToArray();
        var summary = Summary.Of(all.Where(w => w.Ok).Select(w => w.LatencyMs));
        return new LatencySummary(all.Count(w => w.Ok), all.Count(w => !w.Ok), Round(summary?.P50), Round(summary?.P99), Round(summary?.Max));
    }

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 3) : null;
}

/// <summary>Fsyncs of a node's write-ahead log in some span: how many, their mean, and how many took over 100 ms.</summary>
internal sealed record FsyncSummary(long Fsyncs, double? MeanMs, long Over100Ms);

/// <summary>The writes sent in one bucket of time, from the start of the phase.</summary>
internal sealed record LatencyBucket(double StartS, int Ok, int Failed, double? P50Ms, double? P99Ms, bool LeaderSnapshot);

/// <param name="Keys">Keys the fill wrote (each once, new, a value of the run's size).</param>
/// <param name="LeaderSnapshots">Snapshots the leader had taken by the end of the fill (ours only).</param>
/// <param name="LeaderBefore">The leader, as it names itself, when the fill began; <see cref="LeaderAfter"/> as the leader then names itself when it ended.</param>
internal sealed record FillResult(
    long Keys,
    long AcknowledgedKeys,
    long Bytes,
    double Seconds,
    double? MibPerSecond,
    long FailedWrites,
    long? LeaderSnapshots,
    ulong TermBefore,
    ulong TermAfter,
    int LeaderBefore,
    int LeaderAfter)
{
    public bool Elected => TermAfter != TermBefore || LeaderAfter != LeaderBefore;
}

/// <summary>
/// Node <see cref="Node"/> started again after the fill, while one steady writer wrote; caught up once it applied
/// <see cref="TargetIndex"/>, the leader's commit index as it started. The leaders before and after are as the node
/// that led at the start names them.
/// </summary>
internal sealed record CatchUpResult(
    int Node,
    ulong TargetIndex,
    double? Seconds,
    double? MibPerSecond,
    ulong TermBefore,
    ulong TermAfter,
    int LeaderBefore,
    int LeaderAfter,
    long? SnapshotsInstalled,
    long? LeaderSnapshotTransfers,
    long? SnapshotFailures,
    long? Campaigns,
    LatencySummary SteadyBefore,
    LatencySummary SteadyDuring)
{
    public bool CaughtUp => Seconds is not null;

    public bool Elected => TermAfter != TermBefore || LeaderAfter != LeaderBefore;
}

/// <summary>A snapshot window in seconds from the start of the phase.</summary>
internal sealed record SnapshotWindowResult(int Node, bool Leader, double StartS, double EndS);

/// <summary>
/// Steady writers while the nodes take their periodic snapshots of the whole state (ours only), and the leader's
/// write-ahead-log fsyncs during its snapshots and outside them.
/// </summary>
internal sealed record SnapshotPhaseResult(
    int Writers,
    double Seconds,
    int LeaderSnapshots,
    double? LongestLeaderWindowS,
    IReadOnlyList<SnapshotWindowResult> Windows,
    LatencySummary DuringLeaderSnapshot,
    LatencySummary DuringFollowerSnapshotOnly,
    LatencySummary Outside,
    FsyncSummary LeaderFsyncsDuringLeaderSnapshot,
    FsyncSummary LeaderFsyncsOutside,
    ulong TermBefore,
    ulong TermAfter,
    int LeaderBefore,
    int LeaderAfter,
    IReadOnlyList<LatencyBucket> Series)
{
    public bool Elected => TermAfter != TermBefore || LeaderAfter != LeaderBefore;

    /// <summary>p99 of writes in flight during a leader snapshot over p99 of writes in flight during none; the goal is at most 2.</summary>
    public double? P99Ratio => DuringLeaderSnapshot.P99Ms is { } during && Outside.P99Ms is { } outside && outside > 0 ? Math.Round(during / outside, 3) : null;
}

/// <summary>A full backup from follower <see cref="Node"/> while one steady writer wrote.</summary>
internal sealed record BackupResult(int Node, string? Error, double Seconds, long Bytes, double? MibPerSecond, LatencySummary SteadyBefore, LatencySummary SteadyDuring, string Detail);

internal sealed record RestoreResult(int ExitCode, double Seconds, string Output);

/// <summary>Node <see cref="Node"/> killed and started again, ready once it serves and applied <see cref="TargetIndex"/>.</summary>
internal sealed record RestartResult(int Node, ulong TargetIndex, double? Seconds);

internal sealed record VerifyResult(int FillKeysChecked, int SteadyKeysChecked, int Problems);

/// <summary>Everything measured for one target at one data size.</summary>
internal sealed record ScaleResult(
    string Target,
    int DataMib,
    int ValueBytes,
    FillResult Fill,
    CatchUpResult CatchUp,
    SnapshotPhaseResult? Snapshots,
    BackupResult Backup,
    RestoreResult Restore,
    RestartResult Restart,
    IReadOnlyList<ProcessMemory> MemoryAfterCatchUp,
    IReadOnlyList<ProcessMemory> MemoryAtEnd,
    VerifyResult Verified,
    IReadOnlyList<string> Violations,
    IReadOnlyList<string> Warnings);

internal sealed record ScaleSettings(
    IReadOnlyList<string> Targets,
    IReadOnlyList<int> DataMib,
    int ValueBytes,
    int FillWriters,
    int SnapshotPhaseS,
    int BaselineS,
    int SteadyTimeoutMs,
    IReadOnlyList<string> NodeArguments,
    IReadOnlyList<string> EtcdArguments);
