using Microsoft.Extensions.Logging;
using Raft.Core;

namespace Raft.Server;

/// <summary>The node's structured log events.</summary>
internal static partial class NodeLog
{
    [LoggerMessage(23, LogLevel.Warning, "node {Id}: peers are not authenticated: configure Node:Tls (mutual TLS) or Node:ClusterSecretFile, or anyone who reaches the peer port can take part in the cluster")]
    public static partial void PeersUnauthenticated(ILogger logger, int id);

    [LoggerMessage(1, LogLevel.Information, "node {Id} started: term {Term}, commit {Commit}, applied {Applied}, {Members}")]
    public static partial void Started(ILogger logger, int id, ulong term, ulong commit, ulong applied, Membership members);

    [LoggerMessage(2, LogLevel.Critical, "node {Id} loop failed; the node stops")]
    public static partial void LoopFailed(ILogger logger, Exception exception, int id);

    [LoggerMessage(3, LogLevel.Warning, "node {Id} dropped a message from {From}")]
    public static partial void MessageDropped(ILogger logger, Exception exception, int id, int from);

    [LoggerMessage(4, LogLevel.Information, "node {Id}: leader {Leader} in term {Term} (this node is {Role})")]
    public static partial void LeaderChanged(ILogger logger, int id, int leader, ulong term, RaftRole role);

    [LoggerMessage(5, LogLevel.Information, "node {Id}: snapshot at ({Index}, t{Term}), {Bytes} bytes, written in {Ms} ms")]
    public static partial void SnapshotTaken(ILogger logger, int id, ulong index, ulong term, long bytes, long ms);

    [LoggerMessage(10, LogLevel.Information, "node {Id}: installed the leader's snapshot at ({Index}, t{Term}), {Bytes} bytes")]
    public static partial void SnapshotInstalled(ILogger logger, int id, ulong index, ulong term, long bytes);

    [LoggerMessage(14, LogLevel.Information, "node {Id}: sending the snapshot at ({Index}, t{Term}), {Bytes} bytes, to node {Peer}")]
    public static partial void SnapshotSendStarted(ILogger logger, int id, ulong index, ulong term, long bytes, int peer);

    [LoggerMessage(16, LogLevel.Warning, "node {Id}: one batch held the node's thread {Ms} ms (log fsync {FsyncMs} ms, garbage collection pauses {GcMs} ms); heartbeats and votes waited meanwhile")]
    public static partial void Stalled(ILogger logger, int id, long ms, long fsyncMs, long gcMs);

    [LoggerMessage(17, LogLevel.Warning, "node {Id}: the node's thread did not run for {Ms} ms between batches (garbage collection pauses {GcMs} ms); heartbeats and votes waited meanwhile")]
    public static partial void NotScheduled(ILogger logger, int id, long ms, long gcMs);

    [LoggerMessage(15, LogLevel.Warning, "node {Id}: {What} failed; it is tried again")]
    public static partial void SnapshotFailed(ILogger logger, Exception exception, int id, string what);

    [LoggerMessage(6, LogLevel.Information, "node {Id} stopping: {Detail} (leader now {Leader})")]
    public static partial void StoppingAfterTransfer(ILogger logger, int id, string detail, int leader);

    [LoggerMessage(7, LogLevel.Warning, "node {Id} stopping without handing leadership over: {Reason}")]
    public static partial void StoppingWithoutTransfer(ILogger logger, int id, string reason);

    [LoggerMessage(8, LogLevel.Debug, "node {Id} (term {Term}, {Role}) {Direction} {Message}")]
    public static partial void ElectionMessage(ILogger logger, int id, ulong term, RaftRole role, string direction, Message message);

    [LoggerMessage(9, LogLevel.Debug, "node {Id} (term {Term}, {Role}): peer {Peer} reported unreachable")]
    public static partial void PeerUnreachable(ILogger logger, int id, ulong term, RaftRole role, int peer);

    [LoggerMessage(11, LogLevel.Trace, "node {Id}: the last {Writes} writes, µs after each was proposed (p50/p90/p99): {Steps}")]
    public static partial void WriteTraced(ILogger logger, int id, int writes, string steps);

    [LoggerMessage(12, LogLevel.Trace, "node {Id}: the last {Appends} appends were answered {P50}/{P90} µs (p50/p90) after they arrived, log append and fsync included")]
    public static partial void AppendTraced(ILogger logger, int id, int appends, long p50, long p90);
    [LoggerMessage(13, LogLevel.Error, "request {Method} {Path} failed")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(18, LogLevel.Information, "node {Id}: membership change proposed at index {Index}: {Change}; in force now: {Members}")]
    public static partial void MembershipProposed(ILogger logger, int id, ulong index, MembershipChange change, Membership members);

    [LoggerMessage(19, LogLevel.Information, "node {Id}: {What}")]
    public static partial void Joining(ILogger logger, int id, string what);

    [LoggerMessage(20, LogLevel.Warning, "node {Id}: {What}; trying again")]
    public static partial void JoinRetry(ILogger logger, int id, string what);

    [LoggerMessage(21, LogLevel.Information, "node {Id}: failback to node {Preferred}: {What}")]
    public static partial void Failback(ILogger logger, int id, int preferred, string what);

    [LoggerMessage(23, LogLevel.Error, "node {Id}: disk full: {What}. Nothing of it is acknowledged and new writes are refused (disk_full); it is retried until space is freed in the data directory")]
    public static partial void DiskFull(ILogger logger, int id, string what);

    [LoggerMessage(24, LogLevel.Information, "node {Id}: disk space returned; the write that found the disk full went through and the node goes on")]
    public static partial void DiskSpaceReturned(ILogger logger, int id);

    [LoggerMessage(25, LogLevel.Critical, "node {Id}: fsync failed: {What}. Nothing written since the last good fsync can be trusted and nothing more is acknowledged: the node stops (exit code 1); restart it to recover from what is on disk")]
    public static partial void FsyncFailed(ILogger logger, Exception exception, int id, string what);

    [LoggerMessage(22, LogLevel.Information, "node {Id}: cluster version {What}")]
    public static partial void ClusterVersion(ILogger logger, int id, string what);
}
