using System.Globalization;
using Microsoft.Extensions.Configuration;
using Raft.Core;
using Raft.KeyValue;
using Raft.Storage;

namespace Raft.Server;

/// <summary>
/// The <c>restore</c> command: prepares a node's data directory from a backup (a snapshot stream from
/// <c>GET /v1/snapshot</c>), for a node of a new cluster or one that replaces a lost node. The image is checked whole
/// (header, every byte against its CRC32C, the key-value image itself) before anything is written; the directory
/// then holds the snapshot as its latest, a hard state at the snapshot's term and index, and no log.
/// </summary>
public static class RestoreCommand
{
    public const string Usage =
        "usage: Raft.Server restore --snapshot FILE [--data DIR] [--Node:Peers:1=host:port ...]\n" +
        "  writes the backup FILE (from GET /v1/snapshot) into the empty data directory DIR (default: Node:DataDirectory),\n" +
        "  with the members named by Node:Peers (default: the members the backup was taken with).";

    private const int CopyBufferBytes = 1 << 20;

    public static int Run(string[] args, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        string? file = null;
        string? data = null;
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--snapshot" when i + 1 < args.Length:
                    file = args[++i];
                    break;
                case "--data" when i + 1 < args.Length:
                    data = args[++i];
                    break;
                case "--snapshot" or "--data":
                    return UsageError(output, $"{args[i]} needs a value");
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        NodeOptions options;
        try
        {
            options = new ConfigurationBuilder().AddCommandLine([.. rest]).Build().GetSection(NodeOptions.Section).Get<NodeOptions>() ?? new NodeOptions();
        }
        catch (InvalidOperationException ex)
        {
            return UsageError(output, $"invalid configuration: {ex.Message} {ex.InnerException?.Message}");
        }

        if (file is null)
        {
            return UsageError(output, "--snapshot FILE is required");
        }

        data ??= options.DataDirectory;
        try
        {
            var restored = Restore(file, data, options.Peers.Count > 0 ? options.BootstrapMembership() : null, options);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"restored snapshot ({restored.Index}, t{restored.Term}) into {Path.GetFullPath(data)}: members {restored.Membership}; start the node with --Node:DataDirectory={data}"));
            return 0;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or RestoreRefusedException)
        {
            output.WriteLine($"restore failed: {ex.Message}");
            return 1;
        }
    }

    /// <summary>
    /// Writes the snapshot in <paramref name="file"/> into the empty data directory <paramref name="dataDirectory"/>, with
    /// <paramref name="members"/> as its membership (null: the snapshot's own). A damaged image throws
    /// <see cref="StorageCorruptedException"/> or <see cref="InvalidDataException"/>, and the directory is left empty.
    /// </summary>
    public static SnapshotMetadata Restore(string file, string dataDirectory, Membership? members, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!File.Exists(file))
        {
            throw new RestoreRefusedException($"no snapshot file '{file}'");
        }

        var root = Path.GetFullPath(dataDirectory);
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new RestoreRefusedException($"the data directory {root} is not empty: restore only into a new one (move the old one aside)");
        }

        using var source = SnapshotStream.OpenFile(file);
        var metadata = source.Metadata with { Membership = members ?? source.Metadata.Membership };
        if (metadata.Membership.Count == 0)
        {
            throw new RestoreRefusedException("the snapshot names no members; give them with --Node:Peers:ID=host:port");
        }

        Directory.CreateDirectory(root);
        try
        {
            using var snapshots = FileSnapshotStore.Open(Path.Combine(root, "snapshots"));
            using (var sink = snapshots.CreateSink())
            {
                // The body is copied under the new header; the sink checks the whole stream's CRC as it finishes, and the
                // image is loaded once so a stream that is intact but not a key-value image is refused too.
                using (var body = source.OpenBody())
                using (var stream = SnapshotStream.Open(metadata, body))
                {
                    stream.CopyTo(sink.AsStream(), CopyBufferBytes);
                }

                using var staged = sink.Finish();
                // Buffered: the store reads its image a field at a time.
                using (var check = new BufferedStream(staged.OpenBody(), CopyBufferBytes))
                {
                    var store = new KvStore(new KvStoreOptions { SessionsMax = options.SessionsMax, SessionIdleMs = options.SessionIdleMs, LeasesMax = options.LeasesMax });
                    using var image = store.LoadImage(check);
                    if (image.Index != metadata.Index || check.Read(new byte[1]) != 0)
                    {
                        throw new InvalidDataException($"the key-value image says index {image.Index} in a snapshot of index {metadata.Index}, or is followed by other bytes");
                    }
                }

                snapshots.Install(staged);
            }

            using var hardState = FileHardStateStore.Open(Path.Combine(root, "hardstate"));
            hardState.Save(new HardState(metadata.Term, 0, metadata.Index));
            return metadata;
        }
        catch
        {
            Directory.Delete(root, recursive: true);
            throw;
        }
    }

    private static int UsageError(TextWriter output, string problem)
    {
        output.WriteLine(problem);
        output.WriteLine(Usage);
        return 2;
    }
}

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
