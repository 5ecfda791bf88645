using System.Buffers;

namespace Raft.FailoverBench.Targets;

/// <summary>
/// A cluster whose watch a failover trial follows (ours and etcd): a stream of every change under a prefix, from any
/// node, resumable after a position. A position is the store's own: our log index, etcd's revision; each write of the
/// trial is one position.
/// </summary>
internal interface IFailoverWatchTarget : IBenchTarget
{
    /// <summary>
    /// Asks <paramref name="node"/> for every change under <paramref name="prefix"/> after <paramref name="after"/> (null:
    /// from now) and returns once its headers arrived or it failed (as a value), within <paramref name="timeout"/>. The
    /// caller owns the response and reads its body line by line with <see cref="ReadWatchLine"/>.
    /// </summary>
    Task<WatchOpening> OpenWatchAsync(int node, string prefix, ulong? after, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>What one line of a watch stream says (without its newline).</summary>
    WatchLine ReadWatchLine(ReadOnlySequence<byte> line);
}

/// <summary>
/// An opened watch stream, or why it could not be opened (<see cref="ErrorKinds"/>). <see cref="Start"/>: the position
/// it streams from, when its headers say so (ours: <c>X-Raft-Index</c>); null when its first line will (etcd).
/// </summary>
internal sealed record WatchOpening(string? Error, HttpResponseMessage? Response, ulong? Start);

/// <summary>One change of a watched key as delivered: the position of the write that made it.</summary>
internal readonly record struct WatchedChange(ulong Index, string Key, bool Deleted);

/// <summary>
/// One line of a watch stream. <see cref="Error"/>: the stream says it ends, or cannot be read (a resume follows).
/// <see cref="Start"/>: the position a watch opened from now streams after (etcd's created response). <see cref="Through"/>:
/// the stream has delivered everything up to this position (our progress and change lines, etcd's last event).
/// </summary>
internal readonly record struct WatchLine(string? Error, ulong? Start, ulong? Through, IReadOnlyList<WatchedChange> Changes)
{
    public static WatchLine Failed(string error) => new(error, null, null, []);
}
