namespace Raft.Storage;

/// <summary>
/// The stores a node keeps under its data directory: <c>log/</c> (the segmented WAL), <c>hardstate</c> (term, vote,
/// commit) and <c>snapshots/</c>. The node opens them; a restore from a backup writes the last two.
/// </summary>
public static class DataDirectoryLayout
{
    public const string LogDirectory = "log";

    public const string HardStateFile = "hardstate";

    public const string SnapshotsDirectory = "snapshots";
}
