namespace Raft.Core;

/// <summary>
/// The durable log the core reads back entries from once it no longer holds them in memory: for a follower that fell
/// behind, for a restarted node's replay, for the term of an old index (etcd-raft's <c>Storage</c>). The core keeps
/// recent entries in memory up to <see cref="RaftOptions.MaxLogMemoryBytes"/>; everything it drops from memory is
/// durable here.
/// </summary>
/// <remarks>Called on the core's thread, synchronously; implementations read from their own files or memory.</remarks>
public interface IEntryStorage
{
    /// <summary>The term of the entry at <paramref name="index"/>; false when it is not held (compacted, or beyond the end).</summary>
    bool TryGetTerm(ulong index, out ulong term);

    /// <summary>
    /// Adds to <paramref name="into"/> the entries from <paramref name="firstIndex"/> up to <paramref name="lastIndex"/>,
    /// stopping before their <see cref="Entry.SizeBytes"/> would exceed <paramref name="maxBytes"/> but always at least
    /// one. The entries' payloads are the core's to keep: nothing in them may be reused by the storage afterwards.
    /// </summary>
    void ReadEntries(ulong firstIndex, ulong lastIndex, long maxBytes, List<Entry> into);
}
