using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>
/// The stored bytes of one whole snapshot stream, read by position. Immutable once built, so any number of threads
/// may read at once.
/// </summary>
internal interface ISnapshotBytes
{
    /// <summary>The file, or <see cref="SnapshotFormat.MemorySource"/>: what errors about these bytes name.</summary>
    string Source { get; }

    long Length { get; }

    /// <summary>Copies bytes from <paramref name="offset"/>; fewer than asked only at the end, none past it.</summary>
    int ReadAt(long offset, Span<byte> destination);
}

/// <summary>A snapshot stream in a file, read with positional reads on a handle it owns.</summary>
internal sealed class FileSnapshotBytes : ISnapshotBytes, IDisposable
{
    private readonly SafeFileHandle _handle;

    public FileSnapshotBytes(string path, SafeFileHandle handle, long length)
    {
        Source = path;
        _handle = handle;
        Length = length;
    }

    /// <summary>The file's path; it changes when a staged file is renamed into place.</summary>
    public string Source { get; set; }

    public long Length { get; }

    public int ReadAt(long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var wanted = (int)Math.Min(destination.Length, Math.Max(0, Length - offset));
        var total = 0;
        while (total < wanted)
        {
            var read = RandomAccess.Read(_handle, destination[total..wanted], offset + total);
            if (read == 0)
            {
                SnapshotFormat.ThrowCorrupted(Source, offset + total, $"the file ends before byte {Length}, where it ended when it was checked");
            }

            total += read;
        }

        return total;
    }

    /// <summary>
    /// Closes the file on the <see cref="FileReleaser"/> thread: when a newer snapshot replaced it, it is already
    /// unlinked, and closing its last handle frees its blocks, which for a large snapshot takes the file system long
    /// enough to stall a caller on the node's thread (a transfer that ended).
    /// </summary>
    public void Dispose() => FileReleaser.Close(_handle);

    /// <summary>
    /// Opens a snapshot file for reading and checks its framing: the header, and that its size is the one its trailer
    /// gives (the CRC is checked as the body is read). The handle allows the file to be renamed or deleted while open.
    /// </summary>
    /// <exception cref="SnapshotCorruptedException">A damaged header, or a size that does not match.</exception>
    public static FileSnapshotBytes Open(string path, out SnapshotHeader header)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        try
        {
            var bytes = new FileSnapshotBytes(path, handle, RandomAccess.GetLength(handle));
            header = CheckFraming(bytes);
            return bytes;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Checks the header and the trailer's framing of whole stored stream.</summary>
    public static SnapshotHeader CheckFraming(ISnapshotBytes bytes)
    {
        // A header with the longest membership is some 32 KiB: too large for the stack.
        var rented = ArrayPool<byte>.Shared.Rent(SnapshotFormat.HeaderBytesMax);
        SnapshotHeader? header;
        try
        {
            var prefix = rented.AsSpan(0, SnapshotFormat.HeaderBytesMax);
            header = SnapshotFormat.TryReadHeader(prefix[..bytes.ReadAt(0, prefix)], bytes.Source);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        if (header is null)
        {
            SnapshotFormat.ThrowCorrupted(bytes.Source, bytes.Length, $"the snapshot is {bytes.Length} bytes, too short for its header");
        }

        var trailerOffset = bytes.Length - SnapshotFormat.TrailerBytes;
        if (trailerOffset < header.Bytes)
        {
            SnapshotFormat.ThrowCorrupted(bytes.Source, bytes.Length, $"the snapshot is {bytes.Length} bytes, too short for its header and trailer");
        }

        Span<byte> trailer = stackalloc byte[SnapshotFormat.TrailerBytes];
        bytes.ReadAt(trailerOffset, trailer);
        SnapshotFormat.CheckTrailer(trailer, trailerOffset, trailerOffset - header.Bytes, runningCrc: null, bytes.Source);
        return header;
    }
}

/// <summary>
/// A snapshot stream in memory, in chunks that double from 4 KiB up to 1 MiB, so a small stream costs little and a
/// large one is not limited by an array's length.
/// </summary>
internal sealed class MemorySnapshotBytes : ISnapshotBytes
{
    private const int FirstChunkBytes = 4 << 10;
    private const int ChunkBytesMax = 1 << 20;

    private readonly List<byte[]> _chunks = [];
    private readonly List<long> _chunkStarts = [];
    private bool _frozen;

    public string Source => SnapshotFormat.MemorySource;

    public long Length { get; private set; }

    /// <summary>Appends bytes; only before <see cref="Freeze"/>, by one writer.</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (_frozen)
        {
            throw new InvalidOperationException("the snapshot bytes are complete and immutable");
        }

        while (!bytes.IsEmpty)
        {
            var used = _chunks.Count == 0 ? 0 : (int)(Length - _chunkStarts[^1]);
            if (_chunks.Count == 0 || used == _chunks[^1].Length)
            {
                _chunks.Add(new byte[_chunks.Count == 0 ? FirstChunkBytes : Math.Min(2 * _chunks[^1].Length, ChunkBytesMax)]);
                _chunkStarts.Add(Length);
                used = 0;
            }

            var take = Math.Min(bytes.Length, _chunks[^1].Length - used);
            bytes[..take].CopyTo(_chunks[^1].AsSpan(used));
            bytes = bytes[take..];
            Length += take;
        }
    }

    /// <summary>Ends appending: from here on the bytes are immutable and may be read from any thread.</summary>
    public void Freeze() => _frozen = true;

    public int ReadAt(long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var chunk = _chunkStarts.BinarySearch(offset);
        if (chunk < 0)
        {
            chunk = ~chunk - 1;
        }

        var total = 0;
        while (total < destination.Length && offset + total < Length)
        {
            var inChunk = (int)(offset + total - _chunkStarts[chunk]);
            var available = (int)Math.Min(_chunks[chunk].Length - inChunk, Length - (offset + total));
            var take = Math.Min(available, destination.Length - total);
            _chunks[chunk].AsSpan(inChunk, take).CopyTo(destination[total..]);
            total += take;
            chunk++;
        }

        return total;
    }
}
