using System.Diagnostics.CodeAnalysis;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// An <see cref="ISnapshotStore"/> in memory, for the simulator and tests: the same stream format and checks as
/// <see cref="FileSnapshotStore"/>, the bytes kept in chunks. Readers share the latest's immutable bytes.
/// </summary>
public sealed class MemorySnapshotStore : ISnapshotStore
{
    private readonly Lock _lock = new();
    private Latest? _latest;

    public SnapshotMetadata? LatestMetadata
    {
        get
        {
            lock (_lock)
            {
                return _latest?.Header.Metadata;
            }
        }
    }

    public bool TryOpenLatest([NotNullWhen(true)] out SnapshotReader? reader)
    {
        lock (_lock)
        {
            reader = _latest is null ? null : new StoredSnapshotReader(_latest.Bytes, _latest.Header);
            return reader is not null;
        }
    }

    public SnapshotSink CreateSink(bool paced = false) => new Sink(this);

    public bool Install(StagedSnapshot staged)
    {
        var own = StoreStagedSnapshot.Claim<Staged>(staged, this);
        lock (_lock)
        {
            if (_latest is not null && _latest.Header.Metadata.Index >= own.Metadata.Index)
            {
                own.Dispose();
                return false;
            }

            own.MarkInstalled();
            _latest = new Latest(own.Bytes, own.Header);
            return true;
        }
    }

    public void Dispose()
    {
    }

    private sealed record Latest(ISnapshotBytes Bytes, SnapshotHeader Header);

    private sealed class Sink(MemorySnapshotStore store) : ValidatingSnapshotSink(SnapshotFormat.MemorySource)
    {
        private readonly MemorySnapshotBytes _bytes = new();

        protected override void Keep(ReadOnlySpan<byte> bytes) => _bytes.Append(bytes);

        protected override StagedSnapshot Stage(SnapshotHeader header, long length)
        {
            _bytes.Freeze();
            return new Staged(store, _bytes, header);
        }

        protected override void Abandon()
        {
        }
    }

    private sealed class Staged(MemorySnapshotStore store, MemorySnapshotBytes bytes, SnapshotHeader header)
        : StoreStagedSnapshot(store, bytes, header)
    {
        protected override void Release(bool discard)
        {
        }
    }
}
