using Raft.Core;
using Raft.KeyValue;
using Raft.Storage;

namespace Raft.Backup;

/// <summary>
/// Turns a backup (a snapshot stream from <c>GET /v1/snapshot</c>, as <c>raftctl snapshot save</c> writes it) into a
/// node's data directory, for a node of a new cluster or one that replaces a lost node: the one implementation behind
/// <c>Raft.Server restore</c> and <c>raftctl snapshot restore</c>. It is offline: no node may run on the directory.
/// </summary>
/// <remarks>
/// The file is read once: its header and size against its trailer when opened, then its body, which is loaded as the
/// key-value image (ending exactly where the body ends) and checked against the stream's CRC32C while it is copied,
/// under a header naming the chosen members, into the new snapshot store's staging file. Only a whole, checked copy is
/// installed as the latest snapshot (the store checks it again as it finishes), then a hard state at the snapshot's
/// term and index with no vote is written; no log. On any failure the staged copy is removed with the directory. A
/// node started on it begins at the backup's index. Which node it is (<c>Node:Id</c>) and the cluster's name
/// (<c>Node:ClusterId</c>) are not kept in a data directory: the node is told them when it starts.
/// </remarks>
public static class BackupRestore
{
    private const int CopyBufferBytes = 1 << 20;

    /// <summary>
    /// Writes the backup in <paramref name="file"/> into <paramref name="dataDirectory"/>, which must be missing or
    /// empty, with <paramref name="members"/> as its membership (null: the members the backup was taken with).
    /// </summary>
    /// <exception cref="RestoreRefusedException">No such file, a directory that holds something, or no members.</exception>
    /// <exception cref="SnapshotCorruptedException">A damaged stream (header, size, CRC, trailer).</exception>
    /// <exception cref="InvalidDataException">An intact stream whose body is not a key-value image.</exception>
    /// <remarks>On any exception nothing is left behind: a directory this created is deleted, an empty one stays empty.</remarks>
    public static RestoredBackup Restore(string file, string dataDirectory, Membership? members)
    {
        ArgumentException.ThrowIfNullOrEmpty(file);
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        if (!File.Exists(file))
        {
            throw new RestoreRefusedException($"no snapshot file '{file}'");
        }

        var root = Path.GetFullPath(dataDirectory);
        if (File.Exists(root))
        {
            throw new RestoreRefusedException($"the data directory {root} is a file: restore only into a new or empty directory");
        }

        var existed = Directory.Exists(root);
        if (existed && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new RestoreRefusedException($"the data directory {root} is not empty: restore only into a new one (move the old one aside)");
        }

        using var source = SnapshotStream.OpenFile(file);
        var metadata = source.Metadata with { Membership = members ?? source.Metadata.Membership };
        if (metadata.Membership.Count == 0)
        {
            throw new RestoreRefusedException("the snapshot names no members: name them (Node:Peers for Raft.Server restore, --peers for raftctl snapshot restore)");
        }

        Directory.CreateDirectory(root);
        try
        {
            using (var snapshots = FileSnapshotStore.Open(Path.Combine(root, DataDirectoryLayout.SnapshotsDirectory)))
            using (var sink = snapshots.CreateSink())
            {
                LoadAndCopy(source, metadata, sink);
                using var staged = sink.Finish();
                if (!snapshots.Install(staged))
                {
                    throw new InvalidOperationException($"the new snapshot store in {root} already held a snapshot");
                }
            }

            using (var hardState = FileHardStateStore.Open(Path.Combine(root, DataDirectoryLayout.HardStateFile)))
            {
                hardState.Save(new HardState(metadata.Term, 0, metadata.Index));
            }

            var written = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Order(StringComparer.Ordinal)
                .Select(path => new RestoredFile(path, new FileInfo(path).Length))
                .ToList();
            return new RestoredBackup(metadata, root, written);
        }
        catch
        {
            RemoveWritten(root, existed);
            throw;
        }
    }

    // Loads the body as a node would, copying each byte read into the sink under the new header. Buffered: the store
    // reads its image a field at a time. Reading the body to its end checks it against the CRC and the trailer, and
    // gives the sink its trailer.
    private static void LoadAndCopy(SnapshotReader source, SnapshotMetadata metadata, SnapshotSink sink)
    {
        using var body = new BufferedStream(SnapshotStream.OpenCopying(metadata, source.OpenBody(), sink), CopyBufferBytes);
        using var image = new KvStore().LoadImage(body);
        if (image.Index != metadata.Index || body.Read(new byte[1]) != 0)
        {
            throw new InvalidDataException($"the key-value image says index {image.Index} in a snapshot of index {metadata.Index}, or is followed by other bytes");
        }
    }

    private static void RemoveWritten(string root, bool existed)
    {
        if (!Directory.Exists(root))
        {
            return;
        }

        if (!existed)
        {
            Directory.Delete(root, recursive: true);
            return;
        }

        // It was empty before: empty it again, keeping the directory (and its owner and mode) as it was.
        foreach (var entry in Directory.EnumerateFileSystemEntries(root).ToList())
        {
            if (Directory.Exists(entry))
            {
                Directory.Delete(entry, recursive: true);
            }
            else
            {
                File.Delete(entry);
            }
        }
    }
}

/// <summary>What a restore wrote: the snapshot's metadata as installed (with the members chosen), where, and each file.</summary>
public sealed record RestoredBackup(SnapshotMetadata Metadata, string DataDirectory, IReadOnlyList<RestoredFile> Files);

/// <summary>One file a restore wrote, by full path, and its size.</summary>
public sealed record RestoredFile(string Path, long Bytes);

/// <summary>The restore was refused before anything was written; the message says why.</summary>
public sealed class RestoreRefusedException : Exception
{
    public RestoreRefusedException()
    {
    }

    public RestoreRefusedException(string message)
        : base(message)
    {
    }

    public RestoreRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
