using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Microsoft.Win32.SafeHandles;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// <see cref="ISnapshotStore"/> in a directory: one file per snapshot, each a whole snapshot stream
/// (<see cref="SnapshotFormat"/>), read with positional reads.
/// </summary>
/// <remarks>
/// <code>
/// snapshots/
///   00000000000000051234-00000000000000000007.snap   the latest: {index:D20}-{term:D20}.snap
///   incoming-000003.snap.tmp                          a sink's stream, until it is installed or abandoned
/// </code>
/// A sink writes <c>incoming-{n}.snap.tmp</c> (n counts this store's sinks) and <see cref="SnapshotSink.Finish"/>
/// fsyncs it; <see cref="Install"/> renames it into place and fsyncs the directory, and only then are older
/// snapshots deleted, in the background. A crash before the rename leaves the previous latest; leftover
/// <c>*.tmp</c> files are deleted on open, and so are older snapshots a crash kept from being deleted.
/// The latest snapshot is the one with the highest index. Open checks its header and that its size is what its
/// trailer says; its CRC is checked whenever its body is read. If it fails, opening or reading throws rather than
/// falling back to an older one, which the log may no longer connect to.
/// </remarks>
public sealed class FileSnapshotStore : ISnapshotStore
{
    private const string Extension = ".snap";
    private const string TemporaryExtension = ".tmp";

    private readonly string _directory;

    // Serializes installs: the index check, the rename and the directory fsync, so installs cannot overtake each other.
    private readonly Lock _installLock = new();

    // Guards _latest; held only to swap it and to open a reader on it (so its file cannot be deleted first).
    private readonly Lock _latestLock = new();
    private Latest? _latest;
    private long _sinks;

    // Deletions of older snapshots after installs, one after another off the installing thread; Dispose waits for them.
    private Task _cleanup = Task.CompletedTask;

    private readonly long _pacedBytesPerSecond;

    private FileSnapshotStore(string directory, long pacedBytesPerSecond)
    {
        _directory = directory;
        _pacedBytesPerSecond = pacedBytesPerSecond;
    }

    public SnapshotMetadata? LatestMetadata
    {
        get
        {
            lock (_latestLock)
            {
                return _latest?.Header.Metadata;
            }
        }
    }

    /// <summary>
    /// Opens (creating it if missing) the snapshot directory, removes leftovers of unfinished sinks and installs, and
    /// checks the latest snapshot's header and size.
    /// </summary>
    /// <exception cref="SnapshotCorruptedException">The latest snapshot's header is damaged, or its size is wrong.</exception>
    /// <param name="directory">Where the snapshots live; created if missing.</param>
    /// <param name="pacedBytesPerSecond">
    /// The most bytes per second a paced sink writes (a snapshot being taken), 0 for no limit beyond the disk's pace:
    /// a snapshot written slower leaves the disk more room for the log's fsyncs, so writes wait less while it is taken.
    /// </param>
    public static FileSnapshotStore Open(string directory, long pacedBytesPerSecond = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentOutOfRangeException.ThrowIfNegative(pacedBytesPerSecond);
        var store = new FileSnapshotStore(Path.GetFullPath(directory), pacedBytesPerSecond);
        store.Recover();
        return store;
    }

    public bool TryOpenLatest([NotNullWhen(true)] out SnapshotReader? reader)
    {
        lock (_latestLock)
        {
            if (_latest is null)
            {
                reader = null;
                return false;
            }

            var handle = File.OpenHandle(_latest.Path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
            reader = new StoredSnapshotReader(new FileSnapshotBytes(_latest.Path, handle, _latest.Length), _latest.Header);
            return true;
        }
    }

    public SnapshotSink CreateSink(bool paced = false)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"incoming-{Interlocked.Increment(ref _sinks):D6}{Extension}{TemporaryExtension}");
        return new Sink(this, Path.Combine(_directory, name), paced ? new Pace(_pacedBytesPerSecond) : null);
    }

    public bool Install(StagedSnapshot staged)
    {
        var own = StoreStagedSnapshot.Claim<Staged>(staged, this);
        var metadata = own.Metadata;
        lock (_installLock)
        {
            if (LatestMetadata is { } latest && latest.Index >= metadata.Index)
            {
                own.Dispose();
                return false;
            }

            var path = SnapshotPath(metadata.Index, metadata.Term);
            File.Move(own.Bytes.Source, path, overwrite: true);
            own.Renamed(path);
            DirectorySync.Flush(_directory);
            lock (_latestLock)
            {
                _latest = new Latest(path, own.Header, own.Length);
            }

            _cleanup = FileReleaser.Run(() => DeleteOlderThan(metadata.Index));
            return true;
        }
    }

    /// <summary>Waits for the deletion of older snapshots to finish; readers and sinks stay usable.</summary>
    public void Dispose()
    {
        Task cleanup;
        lock (_installLock)
        {
            cleanup = _cleanup;
        }

        cleanup.Wait();
    }

    private void Recover()
    {
        Directory.CreateDirectory(_directory);
        foreach (var leftover in Directory.EnumerateFiles(_directory, "*" + TemporaryExtension))
        {
            File.Delete(leftover);
        }

        var snapshots = ListSnapshots();
        if (snapshots.Count == 0)
        {
            return;
        }

        var (path, index, term) = snapshots[^1];
        using (var bytes = FileSnapshotBytes.Open(path, out var header))
        {
            if (header.Metadata.Index != index || header.Metadata.Term != term)
            {
                SnapshotFormat.ThrowCorrupted(path, 8, $"snapshot says index {header.Metadata.Index}, term {header.Metadata.Term}, which does not match its file name");
            }

            _latest = new Latest(path, header, bytes.Length);
        }

        DeleteOlderThan(index);
    }

    /// <summary>Deletes snapshots older than <paramref name="index"/>; one that cannot be deleted now is left for the next install or open.</summary>
    private void DeleteOlderThan(ulong index)
    {
        try
        {
            foreach (var (path, olderIndex, _) in ListSnapshots())
            {
                if (olderIndex < index)
                {
                    File.Delete(path);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Garbage only: the latest is chosen by index, and it is never older than index.
        }
    }

    /// <summary>Snapshot files sorted by index; a <c>*.snap</c> whose name does not parse is corruption.</summary>
    private List<(string Path, ulong Index, ulong Term)> ListSnapshots()
    {
        var result = new List<(string Path, ulong Index, ulong Term)>();
        foreach (var path in Directory.EnumerateFiles(_directory, "*" + Extension))
        {
            var stem = Path.GetFileNameWithoutExtension(path);
            if (stem.Length == 41 && stem[20] == '-'
                && ulong.TryParse(stem.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                && ulong.TryParse(stem.AsSpan(21), NumberStyles.None, CultureInfo.InvariantCulture, out var term))
            {
                result.Add((path, index, term));
                continue;
            }

            SnapshotFormat.ThrowCorrupted(path, 0, "unexpected snapshot file name (expected {index:D20}-{term:D20}.snap)");
        }

        result.Sort((a, b) => a.Index.CompareTo(b.Index));
        return result;
    }

    private string SnapshotPath(ulong index, ulong term) =>
        Path.Combine(_directory, string.Create(CultureInfo.InvariantCulture, $"{index:D20}-{term:D20}{Extension}"));

    private sealed record Latest(string Path, SnapshotHeader Header, long Length);

    /// <summary>Writes the stream to its temporary file as it comes; Finish fsyncs it and hands the file over.</summary>
    private sealed class Sink : ValidatingSnapshotSink
    {
        private readonly FileSnapshotStore _store;
        private readonly string _path;
        private readonly SafeFileHandle _handle;
        private readonly Pace? _pace;
        private long _written;

        // Where the bytes whose writeback has not been started begin, and the range started before them.
        private long _writebackFrom;
        private long _previousFrom;

        public Sink(FileSnapshotStore store, string path, Pace? pace)
            : base(path)
        {
            _store = store;
            _path = path;
            _pace = pace;
            _handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        }

        protected override void Keep(ReadOnlySpan<byte> bytes)
        {
            RandomAccess.Write(_handle, bytes, _written);
            _written += bytes.Length;
            if (_written - _writebackFrom >= Writeback.EveryBytes)
            {
                Writeback.Start(_handle, _writebackFrom, _written - _writebackFrom);
                if (_pace is not null)
                {
                    // At most two ranges in flight: the writer goes at the disk's pace and leaves it room for the log.
                    Writeback.Wait(_handle, _previousFrom, _writebackFrom - _previousFrom);
                    _pace.Wait(_written);
                }

                _previousFrom = _writebackFrom;
                _writebackFrom = _written;
            }
        }

        protected override StagedSnapshot Stage(SnapshotHeader header, long length)
        {
            RandomAccess.FlushToDisk(_handle);
            return new Staged(_store, new FileSnapshotBytes(_path, _handle, length), header);
        }

        // Unlinked first, so that closing the last handle (on the releasing thread) is what frees the blocks.
        protected override void Abandon()
        {
            File.Delete(_path);
            FileReleaser.Close(_handle);
        }
    }

    /// <summary>Holds a writer to a number of bytes per second, by sleeping when it is ahead: only off the node's thread.</summary>
    private sealed class Pace(long bytesPerSecond)
    {
        private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();

        public void Wait(long written)
        {
            if (bytesPerSecond == 0)
            {
                return;
            }

            var due = TimeSpan.FromSeconds((double)written / bytesPerSecond) - System.Diagnostics.Stopwatch.GetElapsedTime(_started);
            if (due > TimeSpan.Zero)
            {
                Thread.Sleep(due);
            }
        }
    }

    /// <summary>A verified, fsynced temporary file, kept open so its body can be read before and after it is installed.</summary>
    private sealed class Staged(FileSnapshotStore store, FileSnapshotBytes bytes, SnapshotHeader header)
        : StoreStagedSnapshot(store, bytes, header)
    {
        /// <summary>Installed: the file now has its snapshot name, and is no longer this one's to delete.</summary>
        public void Renamed(string path)
        {
            FileBytes.Source = path;
            MarkInstalled();
        }

        private FileSnapshotBytes FileBytes => (FileSnapshotBytes)Bytes;

        // Unlinked before its handle is closed on the releasing thread, which then frees the blocks.
        protected override void Release(bool discard)
        {
            if (discard)
            {
                File.Delete(FileBytes.Source);
            }

            FileBytes.Dispose();
        }
    }
}
