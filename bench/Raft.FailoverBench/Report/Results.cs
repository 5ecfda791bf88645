using System.Text.Json;
using System.Text.Json.Serialization;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Report;

/// <summary>One write attempt on the timeline: when it started relative to the fault, how long it took, whether it was acknowledged, the node it went to and how it failed.</summary>
internal sealed record LatencyPoint(double StartMs, double LatencyMs, bool Ok, int Node, string? Error);

/// <summary>A change the trial's watch delivered: when it arrived relative to the fault, its position, and whether its write's client was answered with success.</summary>
internal sealed record WatchPoint(double AtMs, ulong Index, bool Acknowledged);

/// <summary>Everything measured in one failover trial. Times are milliseconds; a null gap means no success after the fault.</summary>
internal sealed record TrialResult(
    string Target,
    string Scenario,
    int Trial,
    int OldLeader,
    int? NewLeader,
    double? WriteGapMs,
    double? ReadGapMs,
    double? LeaderAfterMs,
    int AcknowledgedWrites,
    int FailedWrites,
    int SuccessfulReads,
    int FailedReads,
    IReadOnlyDictionary<string, int> WriteErrors,
    IReadOnlyDictionary<string, int> ReadErrors,
    IReadOnlyList<string> Violations,
    IReadOnlyList<LatencyPoint> WriteLatencies)
{
    /// <summary>replace: from the kill until the dead member was removed (the new one added, caught up and promoted).</summary>
    public double? ReplacedAfterMs { get; init; }

    /// <summary>The node the trial's watch of its keys was opened on (none where the target serves no watch).</summary>
    public int? WatchNode { get; init; }

    /// <summary>The watcher's outage: the longest silence between delivered changes from the last one before the fault on.</summary>
    public double? WatchGapMs { get; init; }

    /// <summary>Changes the watch delivered, every one checked.</summary>
    public int? WatchChanges { get; init; }

    /// <summary>Watch streams that broke or ended during the trial, each resumed on the next node.</summary>
    public int? WatchReconnects { get; init; }

    /// <summary>Every change the watch delivered, in the order it arrived.</summary>
    public IReadOnlyList<WatchPoint>? WatchDeliveries { get; init; }

    /// <summary>What watch delivery adds to the write outage: the watch gap minus the write gap (negative: the watch's was shorter).</summary>
    public double? WatchGapOverWriteGapMs => WatchGapMs - WriteGapMs is { } over ? Math.Round(over, 3) : null;
}

/// <summary>
/// One load phase: <see cref="Concurrency"/> clients doing <see cref="Operation"/> (write or read) for the duration.
/// <see cref="Elections"/>: how far the cluster's highest term rose during the phase; <see cref="LeaderChanges"/>: the
/// most leader changes one node counted during it; both null where the target does not say (or a node did not answer).
/// </summary>
internal sealed record LoadResult(
    string Target, int Concurrency, string Operation, double DurationS, long Operations, long Errors, double PerSecond, double? P50Ms, double? P99Ms,
    long? Elections = null, long? LeaderChanges = null);

/// <summary>
/// One watcher row of the load mode: <see cref="Write"/> measured with <see cref="WatcherCount"/> watches open
/// (<see cref="Watchers"/>: <c>none</c>, <c>idle N</c>, <c>busy N</c>). <see cref="AcknowledgedWrites"/> counts the row's
/// warm-up and measured writes, every one of which a busy watch must see once; <see cref="ChangesPerWatch"/> is what
/// each watch received. <see cref="WatchesPassed"/>: watches open to the end that saw every acknowledged write once, in
/// index order (busy) or nothing but progress lines (idle). <see cref="CaughtUpAfterMs"/>: from the end of the measured
/// window until the last busy watch had received the last acknowledged write; null if one never did.
/// </summary>
internal sealed record WatcherLoadResult(
    string Target,
    string Watchers,
    int WatcherCount,
    LoadResult Write,
    long AcknowledgedWrites,
    IReadOnlyList<long> ChangesPerWatch,
    long ProgressLines,
    int WatchesPassed,
    double? CaughtUpAfterMs,
    IReadOnlyList<string> Violations);

/// <summary>
/// The startup mode's measurement of one target: <see cref="ClusterStartMs"/> from starting its processes until a node
/// claimed leadership; <see cref="ReadyMs"/>, per restart of a follower, from starting its process until it answered
/// a linearizable read; <see cref="Memory"/>, each node's memory after the formed cluster had been idle <see cref="IdleS"/> seconds.
/// </summary>
internal sealed record StartupResult(
    string Target,
    double ClusterStartMs,
    double IdleS,
    IReadOnlyList<double> ReadyMs,
    double? ReadyP50Ms,
    double? ReadyMaxMs,
    IReadOnlyList<Harness.ProcessMemory> Memory);

internal sealed record MachineInfo(int Cores, string Os, string Architecture, string DotNet, string? Etcd);

internal sealed record BenchSettings(
    string Mode,
    IReadOnlyList<string> Targets,
    IReadOnlyList<string> Scenarios,
    int Trials,
    int Writers,
    int RequestTimeoutMs,
    int DurationS,
    IReadOnlyList<int> Concurrency,
    int WarmupS = 0,
    IReadOnlyList<string>? Watchers = null,
    string? Contention = null,
    string? TimingProfile = null,
    string? WriteVia = null)
{
    /// <summary>Startup mode: followers restarted and timed, per target.</summary>
    public int? Starts { get; init; }

    /// <summary>Startup mode: seconds the formed cluster was left idle before its memory was read.</summary>
    public int? IdleS { get; init; }
}

/// <summary>
/// results.json. A failover run, a load run, a scale run and a startup run written to the same directory share the file: each
/// replaces its own part (settings and results) and keeps the others'. The watcher rows are the load run's.
/// </summary>
internal sealed record BenchResults(
    DateTimeOffset StartedAt,
    MachineInfo Machine,
    BenchSettings? FailoverSettings,
    IReadOnlyList<TrialResult> Trials,
    IReadOnlyList<string> Violations,
    BenchSettings? LoadSettings,
    IReadOnlyList<LoadResult> Load,
    ScaleSettings? ScaleSettings = null,
    IReadOnlyList<ScaleResult>? Scale = null,
    IReadOnlyList<WatcherLoadResult>? WatcherLoad = null,
    BenchSettings? StartupSettings = null,
    IReadOnlyList<StartupResult>? Startup = null);

/// <summary>Source-generated serializers for results.json and for etcd's wire shapes (ours are Raft.Protocol's).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(BenchResults))]
[JsonSerializable(typeof(EtcdPutRequest))]
[JsonSerializable(typeof(EtcdRangeRequest))]
[JsonSerializable(typeof(EtcdMoveLeaderRequest))]
[JsonSerializable(typeof(EtcdPutResponse))]
[JsonSerializable(typeof(EtcdRangeResponse))]
[JsonSerializable(typeof(EtcdStatusResponse))]
[JsonSerializable(typeof(EtcdHealthResponse))]
[JsonSerializable(typeof(EtcdMemberAddRequest))]
[JsonSerializable(typeof(EtcdMemberIdRequest))]
[JsonSerializable(typeof(EtcdMemberAddResponse))]
[JsonSerializable(typeof(EtcdWatchRequest))]
[JsonSerializable(typeof(EtcdWatchLine))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;
