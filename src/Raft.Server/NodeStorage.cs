using Raft.KeyValue;
using Raft.Node;
using Raft.Storage;

namespace Raft.Server;

/// <summary>
/// What one node keeps under its data directory (<see cref="DataDirectoryLayout"/>): <c>log/</c> (segmented WAL),
/// <c>hardstate</c> (term, vote, commit) and <c>snapshots/</c>. The node driver recovers from them; this only opens and closes the files.
/// </summary>
internal sealed class NodeStorage : IDisposable
{
    private NodeStorage(FileLogStore log, FileHardStateStore hardState, FileSnapshotStore snapshots)
    {
        Log = log;
        Stores = new NodeStores(log, hardState, snapshots);
    }

    public FileLogStore Log { get; }

    public NodeStores Stores { get; }

    /// <summary>Opens the stores; the log and the hard state change the disk through <paramref name="diskIo"/>.</summary>
    public static NodeStorage Open(NodeOptions options, IDiskIo diskIo)
    {
        var root = Path.GetFullPath(options.DataDirectory);
        Directory.CreateDirectory(root);
        // An entry carries a command: a few header bytes, the key and the value.
        var entryBytesMax = Math.Max(FileLogOptions.DefaultEntryBytesMax, KvCommandCodec.PutBytes(options.MaxKeyBytes, options.MaxValueBytes) + 1024);
        FileLogStore? log = null;
        FileHardStateStore? hardState = null;
        try
        {
            log = FileLogStore.Open(Path.Combine(root, DataDirectoryLayout.LogDirectory), new FileLogOptions { EntryBytesMax = entryBytesMax, DiskIo = diskIo });
            hardState = FileHardStateStore.Open(Path.Combine(root, DataDirectoryLayout.HardStateFile), diskIo);
            var snapshots = FileSnapshotStore.Open(Path.Combine(root, DataDirectoryLayout.SnapshotsDirectory), options.SnapshotWriteBytesPerSecond);
            return new NodeStorage(log, hardState, snapshots);
        }
        catch
        {
            hardState?.Dispose();
            log?.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Stores.Snapshots.Dispose();
        Stores.HardState.Dispose();
        Stores.Log.Dispose();
    }
}
