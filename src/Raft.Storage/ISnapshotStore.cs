using System.Diagnostics.CodeAnalysis;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// Where a node keeps its latest state machine snapshot, as a snapshot stream (see <see cref="SnapshotFormat"/>).
/// A snapshot comes in through a <see cref="SnapshotSink"/> (a leader's chunks, a backup, or one taken locally),
/// is verified and made durable by <see cref="SnapshotSink.Finish"/>, and becomes the latest, atomically and
/// durably, by <see cref="Install"/>, which then removes older ones. A crash at any point leaves the previous
/// latest in place.
/// </summary>
/// <remarks>
/// Threading: <see cref="LatestMetadata"/>, <see cref="TryOpenLatest"/>, <see cref="CreateSink"/> and
/// <see cref="Install"/> may be called from any thread (the node's, and the one that writes a snapshot out);
/// each sink, staged snapshot and reader belongs to whoever created it.
/// </remarks>
public interface ISnapshotStore : IDisposable
{
    /// <summary>Metadata of the latest snapshot, without reading its data; null when there is none.</summary>
    SnapshotMetadata? LatestMetadata { get; }

    /// <summary>
    /// Opens the latest snapshot's stream for reading; false when there is none. The reader stays readable after a
    /// newer snapshot replaces the latest, until it is disposed.
    /// </summary>
    bool TryOpenLatest([NotNullWhen(true)] out SnapshotReader? reader);

    /// <summary>
    /// Starts taking in a snapshot stream, bytes in order. Nothing of it is visible as the latest until it is
    /// finished and installed. A <paramref name="paced"/> sink may hold its writer back to the disk's pace, so that no
    /// backlog builds up that the log's fsyncs would wait behind: for a writer off the node's thread (a snapshot being
    /// taken), never for one on it (a snapshot being received), which only starts the disk on what it wrote.
    /// </summary>
    SnapshotSink CreateSink(bool paced = false);

    /// <summary>
    /// Makes a finished sink's snapshot the latest, durably, then removes older snapshots. Returns false, and
    /// discards the staged snapshot, when the latest is already at or past its index. The staged snapshot must come
    /// from this store's sink; it is still the caller's to dispose.
    /// </summary>
    bool Install(StagedSnapshot staged);
}

internal static class SnapshotContract
{
    public static void CheckMetadata(SnapshotMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(metadata.Membership);
        if (metadata.Index == 0 || metadata.Term == 0)
        {
            throw new ArgumentException($"snapshot at index {metadata.Index}, term {metadata.Term}: both must be positive", nameof(metadata));
        }
    }
}
