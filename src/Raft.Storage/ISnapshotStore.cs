using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
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
    /// finished and installed.
    /// </summary>
    SnapshotSink CreateSink();

    /// <summary>
    /// Makes a finished sink's snapshot the latest, durably, then removes older snapshots. Returns false, and
    /// discards the staged snapshot, when the latest is already at or past its index. The staged snapshot must come
    /// from this store's sink; it is still the caller's to dispose.
    /// </summary>
    bool Install(StagedSnapshot staged);

    /// <summary>
    /// Stores <paramref name="snapshot"/> as the latest. Its index must not be below the current latest (a snapshot
    /// never moves the log backwards); at the latest's index it changes nothing, since a snapshot's index fixes its
    /// contents. The store keeps no reference to its data after returning unless it lives in memory, where the
    /// immutable data is shared.
    /// </summary>
    void Save(Snapshot snapshot);

    /// <summary>The latest snapshot with its data, verified; false when there is none.</summary>
    /// <exception cref="SnapshotCorruptedException">The latest snapshot fails its CRC or its trailer.</exception>
    bool TryLoadLatest([NotNullWhen(true)] out Snapshot? snapshot);
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

    public static void CheckSave(Snapshot snapshot, SnapshotMetadata? latest)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        CheckMetadata(snapshot.Metadata);
        if (latest is not null && snapshot.Index < latest.Index)
        {
            throw new ArgumentException($"snapshot at index {snapshot.Index} is older than the stored one at index {latest.Index}", nameof(snapshot));
        }
    }

    /// <summary><see cref="ISnapshotStore.Save"/> through a sink: encode, finish, install.</summary>
    public static void Save(ISnapshotStore store, Snapshot snapshot)
    {
        var latest = store.LatestMetadata;
        CheckSave(snapshot, latest);
        if (latest?.Index == snapshot.Index)
        {
            return;
        }

        if (!MemoryMarshal.TryGetArray(snapshot.Data, out var segment))
        {
            segment = snapshot.Data.ToArray();
        }

        using var sink = store.CreateSink();
        using (var stream = SnapshotStream.Open(snapshot.Metadata, new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)))
        {
            stream.CopyTo(sink.AsStream());
        }

        using var staged = sink.Finish();
        store.Install(staged);
    }

    /// <summary><see cref="ISnapshotStore.TryLoadLatest"/> through a reader: the whole body, verified, in one array.</summary>
    public static bool TryLoad(ISnapshotStore store, [NotNullWhen(true)] out Snapshot? snapshot)
    {
        snapshot = null;
        if (!store.TryOpenLatest(out var reader))
        {
            return false;
        }

        using (reader)
        {
            var bodyBytes = ((StoredSnapshotReader)reader).BodyBytes;
            if (bodyBytes > Array.MaxLength)
            {
                throw new InvalidOperationException($"the latest snapshot's body is {bodyBytes} bytes, too large for one array: read it as a stream");
            }

            var data = new byte[bodyBytes];
            using (var body = reader.OpenBody())
            {
                // Reading to the end checks the body against the trailer, an empty body included.
                body.ReadExactly(data);
                if (body.ReadByte() != -1)
                {
                    throw new InvalidOperationException("the body stream went on past the length its trailer gives");
                }
            }

            snapshot = new Snapshot(reader.Metadata, data);
            return true;
        }
    }
}
