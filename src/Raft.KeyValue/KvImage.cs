using Raft.Core;

namespace Raft.KeyValue;

/// <summary>
/// The key-value store's state frozen at <see cref="Index"/>, from <see cref="KvStore.CaptureImage"/> or
/// <see cref="KvStore.LoadImage"/>: the keys as a frozen tree (shared with the store that captured it, never written
/// again), and copies of the locks and sessions. Its bytes are the snapshot layout drawn in KvStore.Snapshot.cs.
/// </summary>
/// <remarks>
/// Immutable: any thread may open and read streams of it, several at once, while the store goes on applying.
/// <see cref="Dispose"/> drops its references to the state; nothing may be opened, read or installed from it after.
/// </remarks>
public sealed partial class KvImage : IStateMachineImage
{
    private KvTree.Frozen _keys;
    private LockEntry[] _locks;
    private SessionEntry[] _sessions;
    private LeaseEntry[] _leases;
    private volatile bool _disposed;

    internal KvImage(ulong index, long clockMs, int clusterVersion, KvTree.Frozen keys, LockEntry[] locks, SessionEntry[] sessions, LeaseEntry[] leases)
    {
        Index = index;
        ClockMs = clockMs;
        ClusterVersion = clusterVersion;
        _keys = keys;
        _locks = locks;
        _sessions = sessions;
        _leases = leases;
    }

    /// <summary>The applied index of the store the image was taken from.</summary>
    public ulong Index { get; }

    internal long ClockMs { get; }

    /// <summary>The cluster version it was taken at; from <see cref="KvClusterVersion.Transactions"/> on, it is written in format 3.</summary>
    internal int ClusterVersion { get; }

    /// <summary>
    /// The snapshot format its bytes take: the newest the cluster version allows (2 at the initial version, 3 with
    /// transactions, 4 with leases), so that every node the cluster version admits can read it.
    /// </summary>
    internal uint Format => ClusterVersion switch
    {
        >= KvClusterVersion.Leases => KvStore.SnapshotFormat,
        KvClusterVersion.Transactions => 3,
        _ => 2,
    };

    internal KvTree.Frozen Keys
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _keys;
        }
    }

    /// <summary>The locks, in no particular order.</summary>
    internal ReadOnlySpan<LockEntry> Locks
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _locks;
        }
    }

    /// <summary>The leases in ascending id order, with the keys and locks bound to each.</summary>
    internal ReadOnlySpan<LeaseEntry> Leases
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _leases;
        }
    }

    /// <summary>The sessions from least to most recently used.</summary>
    internal ReadOnlySpan<SessionEntry> Sessions
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _sessions;
        }
    }

    /// <summary>
    /// A new read-only, non-seekable stream of the image's bytes from the start, produced as it is read from a small
    /// buffer and a cursor into the frozen keys. Each stream has its own cursor, so several may be read at once.
    /// </summary>
    public Stream OpenRead()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new ImageStream(this);
    }

    public void Dispose()
    {
        _disposed = true;
        _keys = default;
        _locks = [];
        _sessions = [];
        _leases = [];
    }

    internal readonly record struct LeaseEntry(ulong Id, long TtlMs, long ExpiresAtMs, string[] Keys, string[] Locks);

    internal readonly record struct LockEntry(string Name, KvStore.LockSlot Slot);

    internal readonly record struct SessionEntry(string ClientId, ulong Sequence, long LastUsedMs, KvApplyResult Result);
}
