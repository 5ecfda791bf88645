using System.Buffers;
using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>
/// Recovery: rebuilds the in-memory index from the segment files and decides, for any damage found,
/// whether it is a torn final write (cut off, reported) or corruption (thrown).
/// </summary>
/// <remarks>
/// Rules, in the order they are checked:
/// <list type="number">
/// <item>Segment files are <c>{first index:D20}.wal</c>; any other <c>*.wal</c> name is corruption.</item>
/// <item>Each header must be valid and name the same first index as the file; the first index of each
/// segment must follow on from the previous segment's last record (no gap, no overlap).</item>
/// <item>Every record must be complete, pass its CRC, carry the next index, and not lower the term.</item>
/// <item>A record that fails in the last segment is a torn write if no valid record of this log can be
/// found anywhere after it: the segment is cut at that record. If one can, the damage sits before data
/// that was written later, so it is corruption, not an interrupted append.</item>
/// <item>A valid record with the wrong index or a lower term is always corruption, even at the end.</item>
/// <item>A last segment too short to hold its header, or all zeros, was being created: its header is rewritten.</item>
/// </list>
/// </remarks>
public sealed partial class FileLogStore
{
    private void Recover()
    {
        Directory.CreateDirectory(_directory);
        var files = ListSegmentFiles();
        if (files.Count == 0)
        {
            _firstIndex = 1;
            _segments.Add(CreateSegment(1));
            return;
        }

        for (var i = 0; i < files.Count; i++)
        {
            var (path, firstIndex) = files[i];
            var isLast = i == files.Count - 1;
            if (i > 0)
            {
                var previous = _segments[^1];
                var expected = previous.FirstIndex + (ulong)previous.Count;
                if (firstIndex != expected)
                {
                    ThrowCorrupted(path, 0, firstIndex > expected
                        ? $"gap in the log: this segment starts at index {firstIndex} but '{previous.Path}' ends at index {expected - 1} (a segment file is missing)"
                        : $"overlap in the log: this segment starts at index {firstIndex} but '{previous.Path}' already holds up to index {expected - 1}");
                }
            }

            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
            try
            {
                _segments.Add(RecoverSegment(path, firstIndex, handle, isLast));
            }
            catch
            {
                handle.Dispose();
                throw;
            }

            if (i == 0)
            {
                _firstIndex = firstIndex;
            }
        }

        // What a killed process wrote may still be only in the page cache: make it durable before calling it so.
        _io.Flush(Active.Handle);
        DirectorySync.Flush(_directory);
        _durableIndex = LastIndexLocked;
    }

    private List<(string Path, ulong FirstIndex)> ListSegmentFiles()
    {
        var files = new List<(string Path, ulong FirstIndex)>();
        foreach (var path in Directory.EnumerateFiles(_directory, "*" + SegmentExtension))
        {
            var stem = Path.GetFileNameWithoutExtension(path);
            if (stem.Length == 20 && ulong.TryParse(stem, NumberStyles.None, CultureInfo.InvariantCulture, out var firstIndex) && firstIndex > 0)
            {
                files.Add((path, firstIndex));
                continue;
            }

            ThrowCorrupted(path, 0, "unexpected segment file name (expected 20 digits: the segment's first index, at least 1)");
        }

        files.Sort((a, b) => a.FirstIndex.CompareTo(b.FirstIndex));
        return files;
    }

    private Segment RecoverSegment(string path, ulong firstIndex, SafeFileHandle handle, bool isLast)
    {
        var fileLength = RandomAccess.GetLength(handle);
        if (fileLength > FileLogOptions.SegmentBytesMax + LogRecordCodec.RecordBytes(_options.EntryBytesMax))
        {
            ThrowCorrupted(path, 0, $"segment is {fileLength} bytes, larger than any segment this log writes");
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(fileLength, LogRecordCodec.SegmentHeaderBytes));
        try
        {
            var bytes = buffer.AsSpan(0, (int)fileLength);
            var read = 0;
            while (read < bytes.Length)
            {
                var n = RandomAccess.Read(handle, bytes[read..], read);
                if (n == 0)
                {
                    ThrowCorrupted(path, read, "segment shrank while it was being read");
                }

                read += n;
            }

            var headerError = LogRecordCodec.TryReadSegmentHeader(bytes, out var headerIndex);
            if (headerError is not null)
            {
                if (isLast && (fileLength < LogRecordCodec.SegmentHeaderBytes || !bytes.ContainsAnyExcept((byte)0)))
                {
                    return RewriteTornHeader(path, firstIndex, handle, fileLength, headerError);
                }

                ThrowCorrupted(path, 0, headerError);
            }

            if (headerIndex != firstIndex)
            {
                ThrowCorrupted(path, 0, $"segment header says it starts at index {headerIndex}, its file name says {firstIndex}");
            }

            return ScanRecords(path, firstIndex, handle, bytes, isLast);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private Segment ScanRecords(string path, ulong firstIndex, SafeFileHandle handle, ReadOnlySpan<byte> bytes, bool isLast)
    {
        var offset = LogRecordCodec.SegmentHeaderBytes;
        var count = 0;
        var previousTerm = _segments.Count > 0 ? LastTermLocked() : 0;
        while (offset < bytes.Length)
        {
            var expectedIndex = firstIndex + (ulong)count;
            var status = LogRecordCodec.TryReadRecord(bytes[offset..], _options.EntryBytesMax, out var size, out var term, out var index, out _);
            if (status == LogRecordCodec.ReadStatus.TooLong
                && LogRecordCodec.TryReadRecord(bytes[offset..], int.MaxValue - LogRecordCodec.RecordHeaderBytes, out _, out _, out _, out _) == LogRecordCodec.ReadStatus.Valid)
            {
                // Intact, just bigger than this configuration allows: the options shrank, nothing is damaged.
                var length = LogRecordCodec.PeekLength(bytes[offset..]);
                ThrowCorrupted(path, offset,
                    $"record {expectedIndex} carries {length} bytes, more than EntryBytesMax ({_options.EntryBytesMax}); open the log with EntryBytesMax of at least {length}");
            }

            if (status != LogRecordCodec.ReadStatus.Valid)
            {
                var problem = status switch
                {
                    LogRecordCodec.ReadStatus.Incomplete => "record is incomplete",
                    LogRecordCodec.ReadStatus.TooLong => $"record claims a payload larger than EntryBytesMax ({_options.EntryBytesMax})",
                    _ => "record fails its CRC",
                };
                if (!isLast || HasValidRecordAfter(bytes, offset, expectedIndex))
                {
                    ThrowCorrupted(path, offset, $"{problem} at index {expectedIndex}" + (isLast ? ", and valid records follow it" : " in a closed segment"));
                }

                return CutTornTail(path, firstIndex, handle, offset, count, bytes.Length, problem);
            }

            if (index != expectedIndex)
            {
                ThrowCorrupted(path, offset, $"record holds index {index} where index {expectedIndex} was expected");
            }

            if (term < previousTerm || term == 0)
            {
                ThrowCorrupted(path, offset, $"record {index} has term {term} after term {previousTerm} (terms never decrease)");
            }

            _slots.Add(new Slot(term, offset, size));
            previousTerm = term;
            offset += size;
            count++;
        }

        return new Segment(path, firstIndex, handle, offset, count);
    }

    /// <summary>
    /// Looks at every byte position after a damaged record for a record of this log (an index that could follow,
    /// a length that fits, a matching CRC). Finding one means the damage is not the end of the last write.
    /// </summary>
    private bool HasValidRecordAfter(ReadOnlySpan<byte> bytes, int damagedOffset, ulong expectedIndex)
    {
        var recordsThatFit = (ulong)((bytes.Length - damagedOffset) / LogRecordCodec.RecordHeaderBytes) + 1;
        for (var position = damagedOffset + 1; position + LogRecordCodec.RecordHeaderBytes <= bytes.Length; position++)
        {
            var candidate = bytes[position..];
            var index = LogRecordCodec.PeekIndex(candidate);
            if (index < expectedIndex || index - expectedIndex > recordsThatFit)
            {
                continue;
            }

            if (LogRecordCodec.TryReadRecord(candidate, _options.EntryBytesMax, out _, out _, out _, out _) == LogRecordCodec.ReadStatus.Valid)
            {
                return true;
            }
        }

        return false;
    }

    private Segment CutTornTail(string path, ulong firstIndex, SafeFileHandle handle, int offset, int count, long fileLength, string reason)
    {
        _io.SetLength(handle, offset);
        _io.Flush(handle);
        var lastIndex = firstIndex + (ulong)count - 1;
        ReportTornTail(new TornTail(path, offset, fileLength - offset, lastIndex, reason));
        return new Segment(path, firstIndex, handle, offset, count);
    }

    private Segment RewriteTornHeader(string path, ulong firstIndex, SafeFileHandle handle, long fileLength, string reason)
    {
        Span<byte> header = stackalloc byte[LogRecordCodec.SegmentHeaderBytes];
        LogRecordCodec.WriteSegmentHeader(header, firstIndex);
        _io.SetLength(handle, 0);
        _io.Write(handle, header, 0);
        _io.Flush(handle);
        ReportTornTail(new TornTail(path, 0, fileLength, firstIndex - 1, $"segment was being created: {reason}"));
        return new Segment(path, firstIndex, handle, LogRecordCodec.SegmentHeaderBytes, count: 0);
    }

    private void ReportTornTail(TornTail tornTail)
    {
        RecoveredTornTail = tornTail;
        _options.OnTornTail?.Invoke(tornTail);
    }

    private ulong LastTermLocked() => _slots.Count == 0 ? 0 : _slots[_slots.Count - 1].Term;
}
