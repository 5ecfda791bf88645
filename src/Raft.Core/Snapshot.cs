namespace Raft.Core;

/// <summary>The log position a snapshot replaces, and the membership in force there.</summary>
public sealed record SnapshotMetadata(ulong Index, ulong Term, Membership Membership);

/// <summary>
/// A state machine image covering the log up to <see cref="SnapshotMetadata.Index"/>.
/// The core treats <see cref="Data"/> as opaque and never writes to it.
/// </summary>
public sealed class Snapshot
{
    public Snapshot(SnapshotMetadata metadata, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        Metadata = metadata;
        Data = data;
    }

    public SnapshotMetadata Metadata { get; }

    public ReadOnlyMemory<byte> Data { get; }

    public ulong Index => Metadata.Index;

    public ulong Term => Metadata.Term;
}
