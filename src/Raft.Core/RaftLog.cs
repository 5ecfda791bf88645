namespace Raft.Core;

/// <summary>
/// The core's view of the log: entries after the last snapshot, held in memory, with the commit,
/// applied and stable (durable) marks. Owned by one <see cref="RaftNode"/>; not thread-safe.
/// </summary>
/// <remarks>
/// Invariants: SnapshotIndex &lt;= Applied &lt;= Committed &lt;= LastIndex and SnapshotIndex &lt;= Stable &lt;= LastIndex.
/// A slot of the entry buffer, once handed out in a slice, is never written again: truncation and
/// compaction copy the surviving entries to a new buffer, so slices held by messages stay valid.
/// </remarks>
internal sealed class RaftLog
{
    private const int InitialCapacity = 256;

    private Entry[] _buffer = new Entry[InitialCapacity];
    private int _start;
    private int _count;

    public ulong SnapshotIndex { get; private set; }

    public ulong SnapshotTerm { get; private set; }

    public ulong Committed { get; private set; }

    /// <summary>The last index the host has applied (or restored from a snapshot).</summary>
    public ulong Applied { get; set; }

    /// <summary>The last index known durable in the host's log.</summary>
    public ulong Stable { get; set; }

    public ulong FirstIndex => SnapshotIndex + 1;

    public ulong LastIndex => SnapshotIndex + (ulong)_count;

    public ulong LastTerm => _count == 0 ? SnapshotTerm : _buffer[_start + _count - 1].Term;

    public int Count => _count;

    public void Restore(ulong snapshotIndex, ulong snapshotTerm, ulong committed, ReadOnlySpan<Entry> entries)
    {
        SnapshotIndex = snapshotIndex;
        SnapshotTerm = snapshotTerm;
        _buffer = new Entry[Math.Max(InitialCapacity, entries.Length * 2)];
        _start = 0;
        _count = 0;
        foreach (ref readonly var e in entries)
        {
            if (e.Index != LastIndex + 1 || e.Term < LastTerm)
            {
                throw new ArgumentException($"entries are not contiguous after the snapshot at {snapshotIndex}: found index {e.Index} term {e.Term}", nameof(entries));
            }

            Push(e);
        }

        if (committed < snapshotIndex || committed > LastIndex)
        {
            throw new ArgumentException($"commit index {committed} lies outside the log [{snapshotIndex}, {LastIndex}]", nameof(committed));
        }

        Committed = committed;
        Applied = snapshotIndex;
        Stable = LastIndex;
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

        term = _buffer[_start + (int)(index - FirstIndex)].Term;
        return true;
    }

    /// <summary>The term at <paramref name="index"/>, or zero when it is compacted or beyond the log.</summary>
    public ulong TermOrZero(ulong index) => TryTerm(index, out var term) ? term : 0;

    public bool MatchTerm(ulong index, ulong term) => TryTerm(index, out var t) && t == term;

    public ref readonly Entry At(ulong index)
    {
        if (index < FirstIndex || index > LastIndex)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"log holds [{FirstIndex}, {LastIndex}]");
        }

        return ref _buffer[_start + (int)(index - FirstIndex)];
    }

    /// <summary>
    /// Entries [lo, hi], cut short once they exceed <paramref name="maxBytes"/> (at least one entry).
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

        var offset = _start + (int)(lo - FirstIndex);
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

        var keep = (int)(index - SnapshotIndex);
        Reallocate(keep, Math.Max(InitialCapacity, keep * 2));
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
        var drop = (int)(index - SnapshotIndex);
        _start += drop;
        _count -= drop;
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

        _buffer = new Entry[InitialCapacity];
        _start = 0;
        _count = 0;
        SnapshotIndex = index;
        SnapshotTerm = term;
        Committed = index;
        Stable = index;
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
    }

    private void Reallocate(int keep, int capacity)
    {
        var next = new Entry[capacity];
        Array.Copy(_buffer, _start, next, 0, keep);
        _buffer = next;
        _start = 0;
        _count = keep;
    }
}
