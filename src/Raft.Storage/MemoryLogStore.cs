using System.Buffers;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// An <see cref="ILogStore"/> in memory: what the seeded simulator runs on, and the reference the file log
/// is tested against. Deterministic and synchronous; <see cref="Sync"/> only moves <see cref="DurableIndex"/>,
/// and <see cref="DiscardUnsynced"/> plays a crash.
/// </summary>
/// <remarks>
/// Entries are kept by reference: <see cref="Entry.Data"/> is immutable by contract, so nothing is copied.
/// Reads copy entries into a pooled array and share the payloads. All members take one lock, so a
/// thread may call <see cref="Sync"/> while the owner appends, as <see cref="ILogStore"/> allows.
/// </remarks>
public sealed class MemoryLogStore : ILogStore
{
    /// <summary>The default payload limit, the same as <see cref="FileLogOptions.EntryBytesMax"/>.</summary>
    public const int DefaultEntryBytesMax = FileLogOptions.DefaultEntryBytesMax;

    private readonly Lock _gate = new();
    private readonly RingBuffer<Entry> _entries = new(1024);
    private readonly int _entryBytesMax;

    // Invariant: _entries[i].Index == _firstIndex + i; _durableIndex <= LastIndex.
    private ulong _firstIndex = 1;
    private ulong _durableIndex;
    private long _syncCount;

    public MemoryLogStore(int entryBytesMax = DefaultEntryBytesMax)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(entryBytesMax);
        _entryBytesMax = entryBytesMax;
    }

    /// <summary>
    /// A full disk, for the simulator and tests: while set, <see cref="Append"/> throws <see cref="DiskFullException"/>
    /// and appends nothing, as <see cref="FileLogStore"/> does when the file system has no room.
    /// </summary>
    public bool DiskFull { get; set; }

    public ulong FirstIndex
    {
        get
        {
            lock (_gate)
            {
                return _firstIndex;
            }
        }
    }

    public ulong LastIndex
    {
        get
        {
            lock (_gate)
            {
                return LastIndexLocked;
            }
        }
    }

    public ulong DurableIndex
    {
        get
        {
            lock (_gate)
            {
                return _durableIndex;
            }
        }
    }

    /// <summary>How many times <see cref="Sync"/> ran: a simulator can charge time for each.</summary>
    public long SyncCount => Interlocked.Read(ref _syncCount);

    private ulong LastIndexLocked => _firstIndex + (ulong)_entries.Count - 1;

    public bool TryGetTerm(ulong index, out ulong term)
    {
        lock (_gate)
        {
            if (index < _firstIndex || index > LastIndexLocked)
            {
                term = 0;
                return false;
            }

            term = _entries[(int)(index - _firstIndex)].Term;
            return true;
        }
    }

    public void Append(ReadOnlySpan<Entry> entries)
    {
        if (entries.IsEmpty)
        {
            return;
        }

        lock (_gate)
        {
            var first = entries[0].Index;
            var termBefore = first > _firstIndex && first - 1 <= LastIndexLocked ? _entries[(int)(first - 1 - _firstIndex)].Term : 0;
            LogContract.CheckAppend(entries, _firstIndex, LastIndexLocked, termBefore, _entryBytesMax);
            if (first <= LastIndexLocked)
            {
                TruncateSuffixLocked(first - 1);
            }

            if (DiskFull)
            {
                throw new DiskFullException($"no space left for entries {first} to {entries[^1].Index} (simulated)");
            }

            foreach (ref readonly var e in entries)
            {
                _entries.Add(e);
            }
        }
    }

    public LogReadResult Read(ulong firstIndex, ulong lastIndex, long maxBytes)
    {
        lock (_gate)
        {
            LogContract.CheckRead(firstIndex, lastIndex, maxBytes, _firstIndex, LastIndexLocked);
            var start = (int)(firstIndex - _firstIndex);
            var available = (int)(lastIndex - firstIndex + 1);
            var count = 0;
            long size = 0;
            while (count < available)
            {
                var next = _entries[start + count].SizeBytes;
                if (count > 0 && size + next > maxBytes)
                {
                    break;
                }

                size += next;
                count++;
            }

            var result = ArrayPool<Entry>.Shared.Rent(count);
            for (var i = 0; i < count; i++)
            {
                result[i] = _entries[start + i];
            }

            return new LogReadResult(result, count, payloads: null, size);
        }
    }

    public void TruncateSuffix(ulong lastIndexKept)
    {
        lock (_gate)
        {
            LogContract.CheckTruncate(lastIndexKept, _firstIndex);
            TruncateSuffixLocked(lastIndexKept);
        }
    }

    public void CompactPrefix(ulong throughIndex)
    {
        lock (_gate)
        {
            if (throughIndex < _firstIndex)
            {
                return;
            }

            if (throughIndex >= LastIndexLocked)
            {
                _entries.Clear();
                _firstIndex = throughIndex + 1;
                _durableIndex = throughIndex;
                return;
            }

            _entries.DropFront((int)(throughIndex + 1 - _firstIndex));
            _firstIndex = throughIndex + 1;
            _durableIndex = Math.Max(_durableIndex, throughIndex);
        }
    }

    public ulong Sync()
    {
        lock (_gate)
        {
            _syncCount++;
            _durableIndex = LastIndexLocked;
            return _durableIndex;
        }
    }

    /// <summary>
    /// Plays a crash: drops every entry above <see cref="DurableIndex"/>, as a restart of the file log would
    /// in the worst case. (The file log may keep more: whatever reached the disk before the crash.)
    /// </summary>
    public void DiscardUnsynced()
    {
        lock (_gate)
        {
            TruncateSuffixLocked(_durableIndex);
        }
    }

    public void Dispose()
    {
    }

    private void TruncateSuffixLocked(ulong lastIndexKept)
    {
        if (lastIndexKept >= LastIndexLocked)
        {
            return;
        }

        _entries.TruncateTo((int)(lastIndexKept + 1 - _firstIndex));
        _durableIndex = Math.Min(_durableIndex, lastIndexKept);
    }
}
