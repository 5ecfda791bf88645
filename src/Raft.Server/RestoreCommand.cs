using System.Globalization;
using Microsoft.Extensions.Configuration;
using Raft.Backup;

namespace Raft.Server;

/// <summary>
/// The <c>restore</c> command: prepares a node's data directory from a backup (a snapshot stream from
/// <c>GET /v1/snapshot</c>), for a node of a new cluster or one that replaces a lost node, with
/// <see cref="BackupRestore"/> (which <c>raftctl snapshot restore</c> runs too). The members come from
/// <c>Node:Peers</c> and <c>Node:HttpEndpoints</c>, or else from the backup.
/// </summary>
public static class RestoreCommand
{
    public const string Usage =
        "usage: Raft.Server restore --snapshot FILE [--data DIR] [--Node:Peers:1=host:port ...]\n" +
        "  writes the backup FILE (from GET /v1/snapshot) into the empty data directory DIR (default: Node:DataDirectory),\n" +
        "  with the members named by Node:Peers (default: the members the backup was taken with).";

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
            var restored = BackupRestore.Restore(file, data, options.Peers.Count > 0 ? options.BootstrapMembership() : null).Metadata;
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

    private static int UsageError(TextWriter output, string problem)
    {
        output.WriteLine(problem);
        output.WriteLine(Usage);
        return 2;
    }
}
