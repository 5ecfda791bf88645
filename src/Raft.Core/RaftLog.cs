namespace Raft.Core;

/// <summary>
/// The core's view of the log: the entries after the compaction point (<see cref="SnapshotIndex"/>), with the commit,
/// applied and stable (durable) marks. The most recent entries are held in memory; older ones, once durable and
/// applied, are dropped from memory when it holds more than its budget and read back from <see cref="IEntryStorage"/>
/// when needed. Owned by one <see cref="RaftNode"/>; not thread-safe.
/// </summary>
/// <remarks>
/// <para>Invariants: SnapshotIndex &lt;= Applied &lt;= Committed &lt;= LastIndex and SnapshotIndex &lt;= Stable &lt;= LastIndex.
/// Memory holds [MemoryFirstIndex, LastIndex], a suffix; every entry in (SnapshotIndex, MemoryFirstIndex) is durable in
/// the storage (MemoryFirstIndex - 1 &lt;= Stable), so nothing the storage does not hold is ever dropped from memory.</para>
/// <para>A slot of the entry buffer, once handed out in a slice, is never written again: truncation, compaction and
/// eviction either only move the start or copy the surviving entries to a new buffer, so slices held by queued messages
/// stay valid. Entries read back from the storage are new arrays the caller may keep.</para>
/// </remarks>
internal sealed class RaftLog
{
    private const int InitialCapacity = 256;

    private readonly IEntryStorage? _storage;
    private readonly long _memoryBytesMax;
    private readonly List<Entry> _read = [];
    private Entry[] _buffer = new Entry[InitialCapacity];
    private int _start;
    private int _count;
    private ulong _memoryFirst = 1;

    // The term of the entry at _memoryFirst - 1, so LastTerm needs no storage read while memory is empty.
    private ulong _memoryPrevTerm;
    private long _memoryBytes;

    /// <param name="storage">Where entries dropped from memory are read back from; null keeps every entry in memory.</param>
    /// <param name="memoryBytesMax">The memory budget for entries that could be read back (durable and applied).</param>
    public RaftLog(IEntryStorage? storage, long memoryBytesMax)
    {
        _storage = storage;
        _memoryBytesMax = memoryBytesMax;
    }

    /// <summary>The index the log is compacted through: a snapshot covers it, and the log starts after it.</summary>
    public ulong SnapshotIndex { get; private set; }

    public ulong SnapshotTerm { get; private set; }

    public ulong Committed { get; private set; }

    /// <summary>The last index the host has applied (or restored from a snapshot).</summary>
    public ulong Applied { get; set; }

    /// <summary>The last index known durable in the host's log.</summary>
    public ulong Stable { get; set; }

    public ulong FirstIndex => SnapshotIndex + 1;

    public ulong LastIndex => _memoryFirst + (ulong)_count - 1;

    public ulong LastTerm => _count == 0 ? _memoryPrevTerm : _buffer[_start + _count - 1].Term;

    /// <summary>The first index held in memory; LastIndex + 1 when memory holds none.</summary>
    public ulong MemoryFirstIndex => _memoryFirst;

    /// <summary>The <see cref="Entry.SizeBytes"/> of the entries held in memory.</summary>
    public long MemoryBytes => _memoryBytes;

    /// <summary>
    /// Starts from what a node made durable: a log compacted through (<paramref name="snapshotIndex"/>,
    /// <paramref name="snapshotTerm"/>) whose entries up to <paramref name="lastIndex"/> are in the storage, none in memory.
    /// </summary>
    public void Restore(ulong snapshotIndex, ulong snapshotTerm, ulong committed, ulong lastIndex)
    {
        if (lastIndex < snapshotIndex || (lastIndex > snapshotIndex && _storage is null))
        {
            throw new ArgumentException($"a log ending at {lastIndex} after a snapshot at {snapshotIndex} needs storage to hold it", nameof(lastIndex));
        }

        if (committed < snapshotIndex || committed > lastIndex)
        {
            throw new ArgumentException($"commit index {committed} lies outside the log [{snapshotIndex}, {lastIndex}]", nameof(committed));
        }

        SnapshotIndex = snapshotIndex;
        SnapshotTerm = snapshotTerm;
        ClearMemory(lastIndex + 1, lastIndex == snapshotIndex ? snapshotTerm : StorageTerm(lastIndex));
        Committed = committed;
        Applied = snapshotIndex;
        Stable = lastIndex;
    }

    public bool TryTerm(ulong index, out ulong term)
    {
        if (index == SnapshotIndex)
        {
            term = SnapshotTerm;
            return true;
        }

        if (index < SnapshotIndex || index > LastIndex)
        {
            term = 0;
            return false;
        }

        if (index >= _memoryFirst)
        {
            term = _buffer[_start + (int)(index - _memoryFirst)].Term;
        }
        else
        {
            term = index == _memoryFirst - 1 ? _memoryPrevTerm : StorageTerm(index);
        }

        return true;
    }

    /// <summary>The term at <paramref name="index"/>, or zero when it is compacted or beyond the log.</summary>
    public ulong TermOrZero(ulong index) => TryTerm(index, out var term) ? term : 0;

    public bool MatchTerm(ulong index, ulong term) => TryTerm(index, out var t) && t == term;

    /// <summary>The entry at <paramref name="index"/>, from memory or read back from the storage.</summary>
    public Entry At(ulong index)
    {
        if (index < FirstIndex || index > LastIndex)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"log holds [{FirstIndex}, {LastIndex}]");
        }

        return index >= _memoryFirst ? _buffer[_start + (int)(index - _memoryFirst)] : Slice(index, index, 0).Span[0];
    }

    /// <summary>
    /// Entries [lo, hi], cut short once they exceed <paramref name="maxBytes"/> (at least one entry). Entries no longer in
    /// memory come from the storage, up to the first one in memory: the caller asks again for the rest.
    /// </summary>
    public ReadOnlyMemory<Entry> Slice(ulong lo, ulong hi, long maxBytes)
    {
        if (lo > hi)
        {
            return ReadOnlyMemory<Entry>.Empty;
        }

        if (lo < FirstIndex || hi > LastIndex)
        {
            throw new ArgumentOutOfRangeException(nameof(lo), $"[{lo}, {hi}] is outside the log [{FirstIndex}, {LastIndex}]");
        }

        if (lo < _memoryFirst)
        {
            return ReadBack(lo, Math.Min(hi, _memoryFirst - 1), maxBytes);
        }

        var offset = _start + (int)(lo - _memoryFirst);
        var max = (int)(hi - lo + 1);
        var n = 0;
        long bytes = 0;
        while (n < max)
        {
            bytes += _buffer[offset + n].SizeBytes;
            if (n > 0 && bytes > maxBytes)
            {
                break;
            }

            n++;
        }

        return new ReadOnlyMemory<Entry>(_buffer, offset, n);
    }

    public void Append(in Entry entry)
    {
        if (entry.Index != LastIndex + 1 || entry.Term < LastTerm)
        {
            throw new InvalidOperationException($"append of ({entry.Index}, t{entry.Term}) after ({LastIndex}, t{LastTerm})");
        }

        Push(entry);
    }

    /// <summary>
    /// The index of the first entry of <paramref name="entries"/> that is not already in the log with
    /// the same term, or zero when every one is.
    /// </summary>
    public ulong FindConflict(ReadOnlySpan<Entry> entries)
    {
        foreach (ref readonly var e in entries)
        {
            if (!MatchTerm(e.Index, e.Term))
            {
                return e.Index;
            }
        }

        return 0;
    }

    /// <summary>
    /// The largest index at or below <paramref name="index"/> whose term is at most <paramref name="term"/>;
    /// used to skip a whole term of conflicting entries per round trip.
    /// </summary>
    public ulong FindConflictByTerm(ulong index, ulong term)
    {
        if (index > LastIndex)
        {
            index = LastIndex;
        }

        while (index > SnapshotIndex)
        {
            if (TermOrZero(index) <= term)
            {
                return index;
            }

            index--;
        }

        return index;
    }

    public bool IsUpToDate(ulong lastIndex, ulong lastTerm) =>
        lastTerm > LastTerm || (lastTerm == LastTerm && lastIndex >= LastIndex);

    /// <summary>Drops every entry after <paramref name="index"/>. Committed entries are never dropped.</summary>
    public void TruncateAfter(ulong index)
    {
        if (index < Committed)
        {
            throw new InvalidOperationException($"truncating after {index} would drop committed entries up to {Committed}");
        }

        if (index >= LastIndex)
        {
            return;
        }

        if (index + 1 >= _memoryFirst)
        {
            var keep = (int)(index + 1 - _memoryFirst);
            Reallocate(keep, Math.Max(InitialCapacity, keep * 2));
        }
        else
        {
            // The cut lies among entries only the storage holds: memory keeps none of what follows it.
            ClearMemory(index + 1, TermOrZero(index));
        }

        Stable = Math.Min(Stable, index);
    }

    public void CommitTo(ulong index)
    {
        if (index <= Committed)
        {
            return;
        }

        if (index > LastIndex)
        {
            throw new InvalidOperationException($"commit index {index} is beyond the last index {LastIndex}");
        }

        Committed = index;
    }

    /// <summary>Discards entries up to <paramref name="index"/>, which a snapshot now covers.</summary>
    public void CompactTo(ulong index)
    {
        if (index <= SnapshotIndex)
        {
            return;
        }

        if (index > Applied)
        {
            throw new InvalidOperationException($"cannot compact to {index}: only {Applied} is applied");
        }

        var term = TermOrZero(index);
        if (index >= _memoryFirst)
        {
            DropFromMemory((int)(index - _memoryFirst + 1));
        }

        SnapshotIndex = index;
        SnapshotTerm = term;
    }

    /// <summary>Replaces the whole log with a snapshot's position, as a follower that received one.</summary>
    public void ResetToSnapshot(ulong index, ulong term)
    {
        if (index < Committed)
        {
            throw new InvalidOperationException($"snapshot at {index} is behind the commit index {Committed}");
        }

        SnapshotIndex = index;
        SnapshotTerm = term;
        ClearMemory(index + 1, term);
        Committed = index;
        Stable = index;
    }

    /// <summary>
    /// Drops the oldest entries from memory while it holds more than its budget, as far as they are durable and applied
    /// (entries the storage holds and the state machine no longer needs).
    /// </summary>
    public void Evict()
    {
        if (_storage is null || _memoryBytes <= _memoryBytesMax)
        {
            return;
        }

        var limit = Math.Min(Stable, Applied);
        var drop = 0;
        var bytes = _memoryBytes;
        while (drop < _count && bytes > _memoryBytesMax && _memoryFirst + (ulong)drop <= limit)
        {
            bytes -= _buffer[_start + drop].SizeBytes;
            drop++;
        }

        DropFromMemory(drop);
    }

    private void DropFromMemory(int drop)
    {
        if (drop == 0)
        {
            return;
        }

        for (var i = 0; i < drop; i++)
        {
            _memoryBytes -= _buffer[_start + i].SizeBytes;
        }

        _memoryPrevTerm = _buffer[_start + drop - 1].Term;
        _memoryFirst += (ulong)drop;
        _start += drop;
        _count -= drop;

        // Dropped slots are never written (slices may still show them), but they pin their payloads: once they are half
        // the buffer, move the survivors to a new one so the old one can go when no message holds it.
        if (_start >= _buffer.Length / 2)
        {
            Reallocate(_count, Math.Max(InitialCapacity, _count * 2));
        }
    }

    private void ClearMemory(ulong first, ulong prevTerm)
    {
        _buffer = new Entry[InitialCapacity];
        _start = 0;
        _count = 0;
        _memoryBytes = 0;
        _memoryFirst = first;
        _memoryPrevTerm = prevTerm;
    }

    private ReadOnlyMemory<Entry> ReadBack(ulong lo, ulong hi, long maxBytes)
    {
        _read.Clear();
        _storage!.ReadEntries(lo, hi, maxBytes, _read);
        if (_read.Count == 0 || _read.Count > (int)(hi - lo + 1))
        {
            throw new InvalidOperationException($"the log storage returned {_read.Count} entries for [{lo}, {hi}]");
        }

        var entries = _read.ToArray();
        for (var i = 0; i < entries.Length; i++)
        {
            if (entries[i].Index != lo + (ulong)i)
            {
                throw new InvalidOperationException($"the log storage returned entry {entries[i].Index} where {lo + (ulong)i} was asked for");
            }
        }

        _read.Clear();
        return entries;
    }

    private ulong StorageTerm(ulong index)
    {
        if (_storage is null || !_storage.TryGetTerm(index, out var term))
        {
            throw new InvalidOperationException($"entry {index} is neither in memory [{_memoryFirst}, {LastIndex}] nor in the log storage");
        }

        return term;
    }

    private void Push(in Entry entry)
    {
        if (_start + _count == _buffer.Length)
        {
            // Compacted slots at the front are reclaimed here, by moving to a new buffer.
            Reallocate(_count, Math.Max(InitialCapacity, _count * 2));
        }

        _buffer[_start + _count] = entry;
        _count++;
        _memoryBytes += entry.SizeBytes;
    }

    private void Reallocate(int keep, int capacity)
    {
        var next = new Entry[capacity];
        Array.Copy(_buffer, _start, next, 0, keep);
        for (var i = keep; i < _count; i++)
        {
            _memoryBytes -= _buffer[_start + i].SizeBytes;
        }

        _buffer = next;
        _start = 0;
        _count = keep;
    }
}
