using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// The replicated log as stored on one node: a contiguous run of entries
/// <c>[FirstIndex, LastIndex]</c>, empty when <c>LastIndex == FirstIndex - 1</c>.
/// </summary>
/// <remarks>
/// <para>Threading: one thread (the node loop) calls <see cref="Append"/>, <see cref="Read"/>,
/// <see cref="TryGetTerm"/>, <see cref="TruncateSuffix"/> and <see cref="CompactPrefix"/>; one other
/// thread may call <see cref="Sync"/> at the same time (a host that fsyncs off the node's thread). Properties
/// may be read from any thread.</para>
/// <para>Durability: <see cref="Append"/> hands entries to the store but does not make them durable;
/// <see cref="Sync"/> does, and <see cref="DurableIndex"/> tells how far. <see cref="TruncateSuffix"/>
/// is durable when it returns, so a removed entry never comes back after a crash.</para>
/// <para>Misuse (a gap, a batch whose indices are not consecutive, a read outside the log) is a bug in
/// the caller and throws <see cref="ArgumentException"/>; damaged data throws <see cref="LogCorruptedException"/>.</para>
/// </remarks>
public interface ILogStore : IDisposable
{
    /// <summary>Index of the first entry held; <c>LastIndex + 1</c> when the log is empty.</summary>
    ulong FirstIndex { get; }

    /// <summary>Index of the last entry held; <c>FirstIndex - 1</c> when the log is empty.</summary>
    ulong LastIndex { get; }

    /// <summary>
    /// Every entry in the log with an index at or below this survives a crash. Never above
    /// <see cref="LastIndex"/>; may go down only through <see cref="TruncateSuffix"/>.
    /// </summary>
    ulong DurableIndex { get; }

    /// <summary>The term of the entry at <paramref name="index"/>; false when it is not in the log (compacted or beyond the end).</summary>
    bool TryGetTerm(ulong index, out ulong term);

    /// <summary>
    /// Appends a batch whose indices are consecutive. If the first index is at or below
    /// <see cref="LastIndex"/>, the conflicting suffix from there on is truncated first.
    /// The first index must lie in <c>[FirstIndex, LastIndex + 1]</c> and terms must not decrease.
    /// The store keeps no reference to <see cref="Entry.Data"/> beyond what <see cref="Entry"/> allows.
    /// </summary>
    /// <exception cref="DiskFullException">No room for the batch: nothing of it was appended (a conflicting suffix it
    /// replaces may be truncated already), and the store stays usable, so the call may be repeated.</exception>
    void Append(ReadOnlySpan<Entry> entries);

    /// <summary>
    /// Reads entries from <paramref name="firstIndex"/> up to <paramref name="lastIndex"/> inclusive, stopping
    /// before the total <see cref="Entry.SizeBytes"/> would exceed <paramref name="maxBytes"/> but always
    /// returning at least one entry. The caller owns the result and must dispose it exactly once.
    /// </summary>
    LogReadResult Read(ulong firstIndex, ulong lastIndex, long maxBytes);

    /// <summary>
    /// Removes every entry after <paramref name="lastIndexKept"/>, durably. <paramref name="lastIndexKept"/>
    /// must be at least <c>FirstIndex - 1</c>; a value at or beyond <see cref="LastIndex"/> changes nothing.
    /// </summary>
    void TruncateSuffix(ulong lastIndexKept);

    /// <summary>
    /// Declares entries up to <paramref name="throughIndex"/> covered by a snapshot: <see cref="FirstIndex"/>
    /// becomes <c>throughIndex + 1</c>. Beyond <see cref="LastIndex"/> the log becomes empty and the next
    /// append starts at <c>throughIndex + 1</c> (a follower installing a leader's snapshot).
    /// Storage is reclaimed in whole segments, so after a reopen a file log may again expose entries
    /// below the last compaction point; the host re-applies its snapshot index after opening.
    /// </summary>
    void CompactPrefix(ulong throughIndex);

    /// <summary>
    /// Makes every entry appended before the call durable and returns the new <see cref="DurableIndex"/>.
    /// Blocks for the fsync; at most one call at a time.
    /// </summary>
    /// <exception cref="FsyncFailedException">The fsync failed: the store refuses all further work, since what the
    /// kernel kept of the unsynced writes is unknown; reopen it to recover from what is on disk.</exception>
    ulong Sync();
}
