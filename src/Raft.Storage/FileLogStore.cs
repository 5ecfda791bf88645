using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Microsoft.Win32.SafeHandles;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// The write-ahead log on disk: a directory of segment files named after the first index they hold
/// (<c>00000000000000000001.wal</c>), each a header followed by records (layout in <see cref="LogRecordCodec"/>).
/// </summary>
/// <remarks>
/// <para>Invariants, held under <see cref="_gate"/>:</para>
/// <list type="bullet">
/// <item>Segments are contiguous: each one's first index is the previous one's first index plus its record count.</item>
/// <item>Only the last (active) segment is written to, and only it can hold data that is not yet fsynced:
/// a segment is fsynced when it is closed.</item>
/// <item><see cref="_slots"/> holds one slot per entry in <c>[FirstIndex, LastIndex]</c>, giving its term and
/// where its record lies, so a term lookup never touches the disk and a read is one positional read per segment.</item>
/// <item>After <see cref="Append"/> returns, its records are in the file (the page cache), not in a buffer.</item>
/// </list>
/// <para>Faults: an append that finds the disk full is undone (the records it wrote are cut off, a segment it started is
/// removed) and throws <see cref="DiskFullException"/>; the log holds what it held before and stays usable. Any other
/// I/O error, and every failed fsync (<see cref="FsyncFailedException"/>), leaves the log refusing all further work
/// until it is reopened: what the kernel did with the unsynced pages is then unknown.</para>
/// <para>The append path encodes into one reused buffer and writes it with one <see cref="IDiskIo.Write"/> (a positional
/// write) per buffer filled: it allocates nothing except when a segment is rolled over or the slot ring grows.</para>
/// </remarks>
public sealed partial class FileLogStore : ILogStore
{
    private const string SegmentExtension = ".wal";

    private readonly Lock _gate = new();
    private readonly string _directory;
    private readonly FileLogOptions _options;
    private readonly IDiskIo _io;
    private readonly byte[] _writeBuffer;
    private readonly List<Segment> _segments = [];
    private readonly RingBuffer<Slot> _slots = new(4096);

    // Handles of segments removed while a Sync was flushing them; closed when that Sync ends.
    private readonly List<Segment> _retired = [];

    private ulong _firstIndex;
    private ulong _durableIndex;
    private long _syncCount;
    private bool _syncing;

    // While a Sync is in flight: the lowest index a truncation kept since it started. Entries above it
    // may have been rewritten after the fsync began, so that Sync cannot vouch for them.
    private ulong _truncatedDuringSync;
    private Exception? _failure;
    private bool _disposed;

    private FileLogStore(string directory, FileLogOptions options)
    {
        _directory = directory;
        _options = options;
        _io = options.DiskIo;
        _writeBuffer = new byte[options.EffectiveWriteBufferBytes];
    }

    /// <summary>Where a record lies and which term it has.</summary>
    private readonly record struct Slot(ulong Term, int Offset, int RecordBytes);

    /// <summary>The torn write that recovery cut off when the log was opened, if any.</summary>
    public TornTail? RecoveredTornTail { get; private set; }

    /// <summary>The directory holding the segments.</summary>
    public string DirectoryPath => _directory;

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

    public ulong DurableIndex => Volatile.Read(ref _durableIndex);

    /// <summary>How many fsyncs <see cref="Sync"/> has issued.</summary>
    public long SyncCount => Interlocked.Read(ref _syncCount);

    /// <summary>Number of segment files.</summary>
    public int SegmentCount
    {
        get
        {
            lock (_gate)
            {
                return _segments.Count;
            }
        }
    }

    private ulong LastIndexLocked => _firstIndex + (ulong)_slots.Count - 1;

    private Segment Active => _segments[^1];

    /// <summary>
    /// Opens the log in <paramref name="directory"/> (created if missing), recovering it: a torn write at the
    /// very end is cut off and reported through <see cref="FileLogOptions.OnTornTail"/>; any other damage throws
    /// <see cref="LogCorruptedException"/>. Everything recovered is fsynced before this returns, so
    /// <see cref="DurableIndex"/> starts at <see cref="LastIndex"/>.
    /// </summary>
    public static FileLogStore Open(string directory, FileLogOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new FileLogOptions();
        options.Validate();
        var log = new FileLogStore(Path.GetFullPath(directory), options);
        try
        {
            log.Recover();
        }
        catch
        {
            log.Dispose();
            throw;
        }

        return log;
    }

    public bool TryGetTerm(ulong index, out ulong term)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            if (index < _firstIndex || index > LastIndexLocked)
            {
                term = 0;
                return false;
            }

            term = _slots[(int)(index - _firstIndex)].Term;
            return true;
        }
    }

    /// <inheritdoc/>
    /// <exception cref="DiskFullException">No room for the batch: nothing of it was appended (a conflicting suffix the
    /// batch replaces may already be truncated); the log is usable and the call may be repeated.</exception>
    public void Append(ReadOnlySpan<Entry> entries)
    {
        if (entries.IsEmpty)
        {
            return;
        }

        lock (_gate)
        {
            ThrowIfUnusable();
            var first = entries[0].Index;
            var termBefore = first > _firstIndex && first - 1 <= LastIndexLocked ? _slots[(int)(first - 1 - _firstIndex)].Term : 0;
            LogContract.CheckAppend(entries, _firstIndex, LastIndexLocked, termBefore, _options.EntryBytesMax);
            try
            {
                if (first <= LastIndexLocked)
                {
                    TruncateSuffixLocked(first - 1);
                }

                var mark = new AppendMark(_segments.Count, Active.Length, Active.Count, _slots.Count);
                try
                {
                    AppendLocked(entries);
                }
                catch (IOException ex) when (DiskErrors.IsDiskFull(ex))
                {
                    UndoAppendLocked(mark);
                    throw new DiskFullException($"no space left on the device for entries {first} to {entries[^1].Index} of the log in '{_directory}'; nothing of them was kept", ex)
                    {
                        FilePath = _directory,
                    };
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && ex is not DiskFullException)
            {
                Fail(ex);
                throw;
            }
        }
    }

    public LogReadResult Read(ulong firstIndex, ulong lastIndex, long maxBytes)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            LogContract.CheckRead(firstIndex, lastIndex, maxBytes, _firstIndex, LastIndexLocked);
            return ReadLocked(firstIndex, lastIndex, maxBytes);
        }
    }

    public void TruncateSuffix(ulong lastIndexKept)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            LogContract.CheckTruncate(lastIndexKept, _firstIndex);
            try
            {
                TruncateSuffixLocked(lastIndexKept);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Fail(ex);
                throw;
            }
        }
    }

    public void CompactPrefix(ulong throughIndex)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            if (throughIndex < _firstIndex)
            {
                return;
            }

            try
            {
                if (throughIndex >= LastIndexLocked)
                {
                    ResetLocked(throughIndex + 1);
                    return;
                }

                _slots.DropFront((int)(throughIndex + 1 - _firstIndex));
                _firstIndex = throughIndex + 1;
                if (_durableIndex < throughIndex)
                {
                    // Compacted entries are covered by the snapshot: nothing at or below here is waiting for an fsync.
                    Volatile.Write(ref _durableIndex, throughIndex);
                }

                // A closed segment whose successor starts at or below the new first index holds only compacted
                // entries. Oldest first, so that a crash part way leaves a contiguous log.
                while (_segments.Count > 1 && _segments[1].FirstIndex <= _firstIndex)
                {
                    RemoveSegmentLocked(_segments[0]);
                    _segments.RemoveAt(0);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Fail(ex);
                throw;
            }
        }
    }

    public ulong Sync()
    {
        Segment active;
        ulong target;
        lock (_gate)
        {
            ThrowIfUnusable();
            if (_syncing)
            {
                throw new InvalidOperationException("Sync is already running on another thread; FileLogStore allows one at a time.");
            }

            _syncing = true;
            _truncatedDuringSync = ulong.MaxValue;
            active = Active;
            target = LastIndexLocked;
        }

        // Outside the lock, so appends continue while the disk works; they are covered by the next Sync.
        // Only the active segment can hold unsynced data (closed segments were fsynced when closed).
        Exception? failure = null;
        try
        {
            _io.Flush(active.Handle);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            failure = ex;
        }

        lock (_gate)
        {
            _syncing = false;
            foreach (var segment in _retired)
            {
                FileReleaser.Close(segment.Handle);
            }

            _retired.Clear();
            if (failure is not null)
            {
                // After a failed fsync the kernel may have dropped the dirty pages: nothing written since the
                // last good fsync can be trusted, so the log refuses all further work until it is reopened.
                throw FsyncFailed(active, failure);
            }

            _syncCount++;
            var durable = Math.Min(Math.Min(target, _truncatedDuringSync), LastIndexLocked);
            if (durable > _durableIndex)
            {
                Volatile.Write(ref _durableIndex, durable);
            }

            return _durableIndex;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var segment in _segments)
            {
                segment.Handle.Dispose();
            }

            foreach (var segment in _retired)
            {
                segment.Handle.Dispose();
            }

            _segments.Clear();
            _retired.Clear();
        }
    }

    private void AppendLocked(ReadOnlySpan<Entry> entries)
    {
        var buffered = 0;
        var segment = Active;
        foreach (ref readonly var entry in entries)
        {
            var recordBytes = LogRecordCodec.RecordBytes(entry.Data.Length);
            if (segment.Count > 0 && segment.Length + buffered + recordBytes > _options.SegmentBytes)
            {
                WriteBuffered(segment, ref buffered);
                segment = RollOverLocked(entry.Index);
            }

            if (buffered + recordBytes > _writeBuffer.Length)
            {
                WriteBuffered(segment, ref buffered);
            }

            var offset = segment.Length + buffered;
            buffered += LogRecordCodec.WriteRecord(_writeBuffer.AsSpan(buffered), entry);
            _slots.Add(new Slot(entry.Term, (int)offset, recordBytes));
            segment.Count++;
        }

        WriteBuffered(segment, ref buffered);
    }

    private void WriteBuffered(Segment segment, ref int buffered)
    {
        if (buffered == 0)
        {
            return;
        }

        _io.Write(segment.Handle, _writeBuffer.AsSpan(0, buffered), segment.Length);
        segment.Length += buffered;
        buffered = 0;
    }

    /// <summary>
    /// Puts the log back as it was before an append that found no room: segments the append started are removed, the
    /// active segment is cut back to its length before (a partial record included), and the slots follow.
    /// </summary>
    /// <remarks>
    /// The cut is not fsynced: bytes of the undone records that reach the disk anyway lie past every acknowledged
    /// entry, where a crash could have left them too, and recovery cuts a partial record as a torn tail.
    /// </remarks>
    private void UndoAppendLocked(AppendMark mark)
    {
        while (_segments.Count > mark.Segments)
        {
            RemoveSegmentLocked(Active);
            _segments.RemoveAt(_segments.Count - 1);
        }

        var segment = Active;
        _io.SetLength(segment.Handle, mark.Length);
        segment.Length = mark.Length;
        segment.Count = mark.Count;
        _slots.TruncateTo(mark.Slots);
    }

    /// <summary>fsync of a segment; a failure leaves the log refusing further work (see <see cref="FsyncFailedException"/>).</summary>
    private void FlushLocked(Segment segment)
    {
        try
        {
            _io.Flush(segment.Handle);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FsyncFailed(segment, ex);
        }
    }

    /// <summary>Stops the log after a failed fsync of <paramref name="segment"/> and returns the exception to throw.</summary>
    private FsyncFailedException FsyncFailed(Segment segment, Exception failure)
    {
        var error = new FsyncFailedException($"fsync of '{segment.Path}' failed; nothing written since the last good fsync can be trusted: the log refuses further work until it is reopened", failure)
        {
            FilePath = segment.Path,
        };
        Fail(error);
        return error;
    }

    /// <summary>Closes the active segment (fsynced, so only the new one can hold unsynced data) and starts the next.</summary>
    private Segment RollOverLocked(ulong firstIndex)
    {
        FlushLocked(Active);
        var segment = CreateSegment(firstIndex);
        _segments.Add(segment);
        return segment;
    }

    /// <summary>Creates a segment holding only its header, and makes its directory entry durable.</summary>
    private Segment CreateSegment(ulong firstIndex)
    {
        var path = SegmentPath(firstIndex);
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        try
        {
            Span<byte> header = stackalloc byte[LogRecordCodec.SegmentHeaderBytes];
            LogRecordCodec.WriteSegmentHeader(header, firstIndex);
            _io.Write(handle, header, 0);
            DirectorySync.Flush(_directory);
        }
        catch
        {
            handle.Dispose();

            // A file without a complete header must not stay behind an append that is undone (a full disk): the next
            // attempt creates it anew.
            File.Delete(path);
            throw;
        }

        return new Segment(path, firstIndex, handle, LogRecordCodec.SegmentHeaderBytes, count: 0);
    }

    private void TruncateSuffixLocked(ulong lastIndexKept)
    {
        if (lastIndexKept >= LastIndexLocked)
        {
            return;
        }

        // Newest first, so that a crash part way leaves a prefix of the log. The first segment stays even when
        // it empties: it is where the next append goes.
        while (_segments.Count > 1 && Active.FirstIndex > lastIndexKept)
        {
            RemoveSegmentLocked(Active);
            _segments.RemoveAt(_segments.Count - 1);
        }

        var segment = Active;
        var keptInSegment = lastIndexKept + 1 - segment.FirstIndex;
        if (keptInSegment < (ulong)segment.Count)
        {
            var cut = _slots[(int)(lastIndexKept + 1 - _firstIndex)].Offset;
            _io.SetLength(segment.Handle, cut);
            segment.Length = cut;
            segment.Count = (int)keptInSegment;
        }

        // Durable before returning: a removed entry must not come back after a crash, and a deleted segment
        // (already durably gone) must not reappear next to entries that replace it.
        FlushLocked(segment);

        _slots.TruncateTo((int)(lastIndexKept + 1 - _firstIndex));
        if (_durableIndex > lastIndexKept)
        {
            Volatile.Write(ref _durableIndex, lastIndexKept);
        }

        if (_syncing)
        {
            _truncatedDuringSync = Math.Min(_truncatedDuringSync, lastIndexKept);
        }
    }

    /// <summary>Empties the log so that its next entry is <paramref name="nextIndex"/>: every segment goes, one new segment starts there.</summary>
    private void ResetLocked(ulong nextIndex)
    {
        // Oldest first, so that a crash part way leaves a contiguous (shorter) log; the host then compacts again.
        foreach (var segment in _segments)
        {
            RemoveSegmentLocked(segment);
        }

        _segments.Clear();
        _slots.Clear();
        _firstIndex = nextIndex;
        _segments.Add(CreateSegment(nextIndex));
        Volatile.Write(ref _durableIndex, nextIndex - 1);
        if (_syncing)
        {
            _truncatedDuringSync = Math.Min(_truncatedDuringSync, nextIndex - 1);
        }
    }

    /// <summary>
    /// Deletes a segment file and makes the deletion durable before the next one, so that a crash part way
    /// through a truncation or compaction leaves the order the caller chose: never a hole in the middle.
    /// </summary>
    private void RemoveSegmentLocked(Segment segment)
    {
        File.Delete(segment.Path);
        DirectorySync.Flush(_directory);
        if (_syncing)
        {
            _retired.Add(segment);
        }
        else
        {
            // The last handle to a deleted segment frees its pages and blocks when it closes, tens of milliseconds for
            // a segment of 64 MiB: long enough to delay heartbeats if the thread appending and compacting did it.
            FileReleaser.Close(segment.Handle);
        }
    }

    private LogReadResult ReadLocked(ulong firstIndex, ulong lastIndex, long maxBytes)
    {
        var start = (int)(firstIndex - _firstIndex);
        var available = (int)(lastIndex - firstIndex + 1);
        var count = 0;
        long sizeBytes = 0;
        long recordBytes = 0;
        while (count < available)
        {
            var slot = _slots[start + count];
            long entryBytes = slot.RecordBytes - LogRecordCodec.RecordHeaderBytes + Entry.OverheadBytes;
            if (count > 0 && sizeBytes + entryBytes > maxBytes)
            {
                break;
            }

            sizeBytes += entryBytes;
            recordBytes += slot.RecordBytes;
            count++;
        }

        if (recordBytes > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "a read must fit in one array; lower maxBytes");
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)recordBytes);
        var entries = ArrayPool<Entry>.Shared.Rent(count);
        try
        {
            // One positional read per segment: the records of a range are contiguous within a segment.
            var filled = 0;
            var index = firstIndex;
            var segmentNumber = FindSegment(firstIndex);
            while (index < firstIndex + (ulong)count)
            {
                var segment = _segments[segmentNumber++];
                var segmentEnd = Math.Min(segment.FirstIndex + (ulong)segment.Count, firstIndex + (ulong)count);
                var from = _slots[(int)(index - _firstIndex)].Offset;
                var last = _slots[(int)(segmentEnd - 1 - _firstIndex)];
                var length = last.Offset + last.RecordBytes - from;
                ReadExactly(segment, buffer.AsSpan(filled, length), from);
                filled += length;
                index = segmentEnd;
            }

            DecodeRecords(buffer, firstIndex, entries.AsSpan(0, count));
            return new LogReadResult(entries, count, buffer, sizeBytes);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<Entry>.Shared.Return(entries, clearArray: true);
            throw;
        }
    }

    /// <summary>Re-verifies what was read: the disk may have changed since recovery checked it.</summary>
    private void DecodeRecords(byte[] buffer, ulong firstIndex, Span<Entry> entries)
    {
        var offset = 0;
        for (var i = 0; i < entries.Length; i++)
        {
            var expected = firstIndex + (ulong)i;
            var slot = _slots[(int)(expected - _firstIndex)];
            var status = LogRecordCodec.TryReadRecord(
                buffer.AsSpan(offset, slot.RecordBytes), _options.EntryBytesMax, out var size, out var term, out var index, out var type);
            if (status != LogRecordCodec.ReadStatus.Valid || size != slot.RecordBytes || index != expected || term != slot.Term)
            {
                var segment = _segments[FindSegment(expected)];
                ThrowCorrupted(segment.Path, slot.Offset,
                    $"record for index {expected} changed on disk since the log was opened ({DescribeMismatch(status, index, expected, term, slot.Term)})");
            }

            var payload = new ReadOnlyMemory<byte>(buffer, offset + LogRecordCodec.RecordHeaderBytes, size - LogRecordCodec.RecordHeaderBytes);
            entries[i] = new Entry(term, index, type, payload);
            offset += size;
        }
    }

    private static string DescribeMismatch(LogRecordCodec.ReadStatus status, ulong index, ulong expectedIndex, ulong term, ulong expectedTerm) =>
        status != LogRecordCodec.ReadStatus.Valid ? $"record is {status}"
        : index != expectedIndex ? $"holds index {index}"
        : term != expectedTerm ? $"holds term {term}, recovery saw {expectedTerm}"
        : "record has a different length";

    private static void ReadExactly(Segment segment, Span<byte> destination, long offset)
    {
        while (!destination.IsEmpty)
        {
            var read = RandomAccess.Read(segment.Handle, destination, offset);
            if (read == 0)
            {
                ThrowCorrupted(segment.Path, offset, "segment is shorter than the records recovery found in it");
            }

            destination = destination[read..];
            offset += read;
        }
    }

    /// <summary>The position in <see cref="_segments"/> of the segment holding <paramref name="index"/>.</summary>
    private int FindSegment(ulong index)
    {
        var low = 0;
        var high = _segments.Count - 1;
        while (low < high)
        {
            var mid = (low + high + 1) / 2;
            if (_segments[mid].FirstIndex <= index)
            {
                low = mid;
            }
            else
            {
                high = mid - 1;
            }
        }

        return low;
    }

    private string SegmentPath(ulong firstIndex) =>
        Path.Combine(_directory, firstIndex.ToString("D20", CultureInfo.InvariantCulture) + SegmentExtension);

    private void Fail(Exception ex) => _failure ??= ex;

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_failure is not null)
        {
            ThrowFailed(_failure);
        }
    }

    [DoesNotReturn]
    private static void ThrowFailed(Exception failure) =>
        throw new InvalidOperationException("The log hit an I/O error and refuses further work; reopen it to recover from what is on disk.", failure);

    [DoesNotReturn]
    private static void ThrowCorrupted(string path, long offset, string problem) =>
        throw new LogCorruptedException(path, offset, problem);

    /// <summary>Where the log stood before an append, so that one that found the disk full can be undone.</summary>
    private readonly record struct AppendMark(int Segments, long Length, int Count, int Slots);

    /// <summary>One segment file. Mutable state is guarded by the log's lock.</summary>
    private sealed class Segment(string path, ulong firstIndex, SafeFileHandle handle, long length, int count)
    {
        public string Path { get; } = path;

        /// <summary>Index of the segment's first record (its name and header say so even while it is empty).</summary>
        public ulong FirstIndex { get; } = firstIndex;

        public SafeFileHandle Handle { get; } = handle;

        /// <summary>Bytes written, header included: where the next record goes.</summary>
        public long Length { get; set; } = length;

        /// <summary>Records held, including any below the log's (logical) first index.</summary>
        public int Count { get; set; } = count;
    }
}
