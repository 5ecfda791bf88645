using System.Diagnostics.CodeAnalysis;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// Where a node keeps its latest state machine snapshot. <see cref="Save"/> is atomic and durable when it
/// returns and removes older snapshots; a crash during a save leaves the previous snapshot in place.
/// Single-threaded: the node loop (or the one task it hands snapshotting to) owns it.
/// </summary>
public interface ISnapshotStore : IDisposable
{
    /// <summary>Metadata of the latest snapshot, without reading its data; null when there is none.</summary>
    SnapshotMetadata? LatestMetadata { get; }

    /// <summary>
    /// Stores <paramref name="snapshot"/> as the latest. Its index must not be below the current latest
    /// (a snapshot never moves the log backwards). The store keeps no reference to its data after returning
    /// unless it lives in memory, where the immutable data is shared.
    /// </summary>
    void Save(Snapshot snapshot);

    /// <summary>The latest snapshot with its data; false when there is none.</summary>
    bool TryLoadLatest([NotNullWhen(true)] out Snapshot? snapshot);
}

/// <summary>An <see cref="ISnapshotStore"/> in memory, for the simulator and tests.</summary>
public sealed class MemorySnapshotStore : ISnapshotStore
{
    private Snapshot? _latest;

    public SnapshotMetadata? LatestMetadata => _latest?.Metadata;

    public void Save(Snapshot snapshot)
    {
        SnapshotContract.CheckSave(snapshot, _latest?.Metadata);
        _latest = snapshot;
    }

    public bool TryLoadLatest([NotNullWhen(true)] out Snapshot? snapshot)
    {
        snapshot = _latest;
        return snapshot is not null;
    }

    public void Dispose()
    {
    }
}

internal static class SnapshotContract
{
    public static void CheckSave(Snapshot snapshot, SnapshotMetadata? latest)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Index == 0 || snapshot.Term == 0)
        {
            throw new ArgumentException($"snapshot at index {snapshot.Index}, term {snapshot.Term}: both must be positive", nameof(snapshot));
        }

        if (latest is not null && snapshot.Index < latest.Index)
        {
            throw new ArgumentException($"snapshot at index {snapshot.Index} is older than the stored one at index {latest.Index}", nameof(snapshot));
        }
    }
}
