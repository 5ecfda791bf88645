using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// A snapshot taken in whole, verified and durable, but not yet its store's latest: the result of
/// <see cref="SnapshotSink.Finish"/>, for <see cref="ISnapshotStore.Install"/>. Its body can be loaded into a state
/// machine first. Dispose discards it unless it was installed; an installed one then only lets go of its bytes.
/// </summary>
public abstract class StagedSnapshot : IDisposable
{
    public abstract SnapshotMetadata Metadata { get; }

    /// <summary>The whole stream's bytes: header, body and trailer.</summary>
    public abstract long Length { get; }

    /// <summary>The body as a new read-only stream, checked again as it is read (see <see cref="SnapshotReader.OpenBody"/>).</summary>
    public abstract Stream OpenBody();

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>
/// A staged snapshot as a store's sink made it: its verified bytes, and whether it is still waiting, installed or
/// discarded. <see cref="ISnapshotStore.Install"/> takes only its own store's.
/// </summary>
internal abstract class StoreStagedSnapshot : StagedSnapshot
{
    private readonly object _store;
    private State _state;

    protected StoreStagedSnapshot(object store, ISnapshotBytes bytes, SnapshotHeader header)
    {
        _store = store;
        Bytes = bytes;
        Header = header;
    }

    private enum State
    {
        Waiting,
        Installed,
        Disposed,
    }

    public ISnapshotBytes Bytes { get; }

    public SnapshotHeader Header { get; }

    public override SnapshotMetadata Metadata => Header.Metadata;

    public override long Length => Bytes.Length;

    public override Stream OpenBody()
    {
        ObjectDisposedException.ThrowIf(_state == State.Disposed, this);
        return new SnapshotBodyStream(Bytes, Header);
    }

    /// <summary>The staged snapshot <paramref name="staged"/> as <paramref name="store"/>'s own, still waiting to be installed.</summary>
    public static T Claim<T>(StagedSnapshot staged, object store)
        where T : StoreStagedSnapshot
    {
        ArgumentNullException.ThrowIfNull(staged);
        if (staged is not T own || !ReferenceEquals(own._store, store))
        {
            throw new ArgumentException("the staged snapshot comes from another store's sink", nameof(staged));
        }

        ObjectDisposedException.ThrowIf(own._state == State.Disposed, staged);
        if (own._state == State.Installed)
        {
            throw new InvalidOperationException("the staged snapshot is already installed");
        }

        return own;
    }

    /// <summary>Its bytes are now the store's latest: disposing it no longer discards them.</summary>
    public void MarkInstalled() => _state = State.Installed;

    /// <summary>Lets go of the bytes; <paramref name="discard"/> when they were never installed and are to be removed.</summary>
    protected abstract void Release(bool discard);

    protected sealed override void Dispose(bool disposing)
    {
        if (_state != State.Disposed)
        {
            var discard = _state == State.Waiting;
            _state = State.Disposed;
            Release(discard);
        }

        base.Dispose(disposing);
    }
}
