namespace Raft.Storage;

/// <summary>
/// Data on disk failed validation somewhere it cannot be explained by an interrupted write.
/// Nothing past the damage is served; the message names the file, the offset, what is wrong
/// and what an operator can do. Thrown from <c>Open</c>/<c>Load</c> (recovery) and from reads
/// that re-verify what they return.
/// </summary>
public class StorageCorruptedException : IOException
{
    public StorageCorruptedException()
    {
    }

    public StorageCorruptedException(string message)
        : base(message)
    {
    }

    public StorageCorruptedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public StorageCorruptedException(string path, long offset, string problem, string advice)
        : base($"{problem} in '{path}' at offset {offset}. {advice}")
    {
        FilePath = path;
        Offset = offset;
        Problem = problem;
    }

    /// <summary>The damaged file.</summary>
    public string? FilePath { get; }

    /// <summary>Byte offset of the damage within <see cref="FilePath"/>.</summary>
    public long Offset { get; }

    /// <summary>What is wrong, without the file and offset.</summary>
    public string? Problem { get; }
}

/// <summary>The write-ahead log is damaged before its tail (bad CRC, missing segment, index gap, ...).</summary>
public sealed class LogCorruptedException : StorageCorruptedException
{
    internal const string Advice =
        "The log is not served past this point. If a majority of the cluster is healthy, stop this node, " +
        "move its log directory aside (keep it for analysis) and restart the node empty so that it catches up " +
        "from the leader; otherwise restore the directory from a backup.";

    public LogCorruptedException()
    {
    }

    public LogCorruptedException(string message)
        : base(message)
    {
    }

    public LogCorruptedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public LogCorruptedException(string path, long offset, string problem)
        : base(path, offset, problem, Advice)
    {
    }
}

/// <summary>Neither slot of the hard state file holds a valid record.</summary>
public sealed class HardStateCorruptedException : StorageCorruptedException
{
    public HardStateCorruptedException()
    {
    }

    public HardStateCorruptedException(string message)
        : base(message)
    {
    }

    public HardStateCorruptedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public HardStateCorruptedException(string path, long offset, string problem)
        : base(path, offset, problem,
            "Term and vote cannot be trusted, so this node must not vote or accept entries. Stop it, move its data " +
            "directory aside and rejoin it to the cluster as a new, empty member; or restore the directory from a backup.")
    {
    }
}

/// <summary>
/// A snapshot stream failed validation: the latest snapshot in a store, a stream a sink was taking in (from a leader
/// or a backup), or a backup file. <see cref="StorageCorruptedException.FilePath"/> names the file, or "(memory)".
/// </summary>
public sealed class SnapshotCorruptedException : StorageCorruptedException
{
    public SnapshotCorruptedException()
    {
    }

    public SnapshotCorruptedException(string message)
        : base(message)
    {
    }

    public SnapshotCorruptedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public SnapshotCorruptedException(string path, long offset, string problem)
        : base(path, offset, problem,
            "Nothing of this snapshot is used. A stream being received or restored is discarded: have it sent again, or " +
            "take the backup again. If it is a node's stored snapshot, stop the node, move its snapshot directory aside " +
            "and restart it so that it receives a fresh snapshot from the leader; or restore the directory from a backup.")
    {
    }
}
