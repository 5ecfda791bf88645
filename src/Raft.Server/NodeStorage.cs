using Raft.Core;
using Raft.KeyValue;
using Raft.Storage;

namespace Raft.Server;

/// <summary>
/// What one node keeps under its data directory, and how it comes back from it:
/// <c>log/</c> (segmented WAL), <c>hardstate</c> (term, vote, commit) and <c>snapshots/</c>.
/// </summary>
internal sealed class NodeStorage : IDisposable
{
    private NodeStorage(FileLogStore log, FileHardStateStore hardState, FileSnapshotStore snapshots)
    {
        Log = log;
        HardState = hardState;
        Snapshots = snapshots;
    }

    public ILogStore Log { get; }

    public IHardStateStore HardState { get; }

    public ISnapshotStore Snapshots { get; }

    public static NodeStorage Open(NodeOptions options)
    {
        var root = Path.GetFullPath(options.DataDirectory);
        Directory.CreateDirectory(root);
        // An entry carries a command: a few header bytes, the key and the value.
        var entryBytesMax = Math.Max(FileLogOptions.DefaultEntryBytesMax, KvCommandCodec.PutBytes(options.MaxKeyBytes, options.MaxValueBytes) + 1024);
        FileLogStore? log = null;
        FileHardStateStore? hardState = null;
        try
        {
            log = FileLogStore.Open(Path.Combine(root, "log"), new FileLogOptions { EntryBytesMax = entryBytesMax });
            hardState = FileHardStateStore.Open(Path.Combine(root, "hardstate"));
            var snapshots = FileSnapshotStore.Open(Path.Combine(root, "snapshots"));
            return new NodeStorage(log, hardState, snapshots);
        }
        catch
        {
            hardState?.Dispose();
            log?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Rebuilds the core and the state machine from the latest snapshot, the hard state and the entries after the
    /// snapshot; a node with nothing stored starts a new cluster whose voters are <paramref name="initialVoters"/>.
    /// </summary>
    public RaftNode Restore(RaftOptions raftOptions, SeededRandom random, Membership initialVoters, KvStore store)
    {
        var hasSnapshot = Snapshots.TryLoadLatest(out var snapshot);
        var hasHardState = HardState.TryLoad(out var hardState);
        if (!hasSnapshot && !hasHardState && Log.LastIndex == 0)
        {
            return RaftNode.Bootstrap(raftOptions, random, initialVoters);
        }

        snapshot ??= new Snapshot(new SnapshotMetadata(0, 0, initialVoters), ReadOnlyMemory<byte>.Empty);
        if (Log.FirstIndex > snapshot.Index + 1)
        {
            throw new InvalidDataException(
                $"the log starts at entry {Log.FirstIndex} but the latest snapshot covers only up to {snapshot.Index}: entries are missing; move the data directory aside and let the node catch up from the leader");
        }

        // Storage is reclaimed in whole segments, so a reopened log may still show entries the snapshot covers.
        if (snapshot.Index >= Log.FirstIndex)
        {
            Log.CompactPrefix(snapshot.Index);
        }

        store.RestoreSnapshot(snapshot.Data.Span);
        if (store.AppliedIndex != snapshot.Index)
        {
            throw new InvalidDataException($"snapshot {snapshot.Index} holds a key-value image taken at {store.AppliedIndex}");
        }

        var entries = ReadEntriesAfter(snapshot.Index);
        return new RaftNode(raftOptions, random, snapshot, hardState, entries);
    }

    // The core keeps its entries, so each payload is copied out of the pooled read buffer.
    private Entry[] ReadEntriesAfter(ulong snapshotIndex)
    {
        if (Log.LastIndex <= snapshotIndex)
        {
            return [];
        }

        var entries = new Entry[Log.LastIndex - snapshotIndex];
        var next = snapshotIndex + 1;
        var filled = 0;
        while (next <= Log.LastIndex)
        {
            using var read = Log.Read(next, Log.LastIndex, 64L << 20);
            foreach (var e in read.Span)
            {
                entries[filled++] = e with { Data = e.Data.ToArray() };
            }

            next += (ulong)read.Count;
        }

        return entries;
    }

    public void Dispose()
    {
        Snapshots.Dispose();
        HardState.Dispose();
        Log.Dispose();
    }
}
