using System.CommandLine;
using System.Globalization;
using Raft.Backup;
using Raft.Client;
using Raft.Core;
using Raft.Storage;

namespace Raft.Cli;

/// <summary>
/// <c>snapshot save</c> (a backup from a running node) and <c>snapshot restore</c> (a data directory from a backup,
/// offline, with the same code as <c>Raft.Server restore</c>).
/// </summary>
internal static class SnapshotCommands
{
    public static Command Create(CliConsole console)
    {
        var snapshot = new Command("snapshot", "Back up the cluster's state, and restore a node's data directory from a backup");
        snapshot.Subcommands.Add(Save(console));
        snapshot.Subcommands.Add(Restore(console));
        return snapshot;
    }

    private static Command Save(CliConsole console)
    {
        var file = new Argument<string>("file") { Description = "Where to write the backup (for snapshot restore)" };
        var linearizable = new Option<bool>("--linearizable") { Description = "Catch up to the leader's commit index first (default: the answering node's applied state)" };
        var save = new Command("save", "Write a backup: the snapshot stream of one node's state") { file, linearizable };
        RaftCtl.SetAction(save, console, async run =>
        {
            var path = run.Value(file)!;
            var partial = path + ".part";
            SavedSnapshot saved;
            try
            {
                var output = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None);
                await using (output.ConfigureAwait(false))
                {
                    saved = await run.Client.SaveSnapshotAsync(output, run.Value(linearizable), run.CancellationToken).ConfigureAwait(false);
                    await output.FlushAsync(run.CancellationToken).ConfigureAwait(false);
                    output.Flush(flushToDisk: true);
                }

                // Named only once whole: a backup file that exists is complete.
                File.Move(partial, path, overwrite: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                File.Delete(partial);
                throw new UsageException($"cannot write '{path}': {ex.Message}", ex);
            }
            catch
            {
                File.Delete(partial);
                throw;
            }

            await (run.Json
                ? run.WriteJsonAsync(new SnapshotReport(path, saved.Index, saved.Term, saved.Bytes), CliJsonContext.Default.SnapshotReport)
                : run.WriteLineAsync($"saved snapshot at index {Text.Number(saved.Index)}, term {Text.Number(saved.Term)} ({Text.Number(saved.Bytes)} bytes) to {path}")).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return save;
    }

    private static Command Restore(CliConsole console)
    {
        var file = new Argument<string>("file") { Description = "The backup, from snapshot save (or GET /v1/snapshot)" };
        var dataDir = new Option<string>("--data-dir") { Description = "The node's data directory to create: missing or empty (its --Node:DataDirectory)", Required = true };
        var peers = new Option<string?>("--peers", "--initial-cluster")
        {
            Description = "Every member of the cluster to restore, ID=HOST:PORT (its peer address), comma-separated (default: the members the backup was taken with)",
        };
        var http = new Option<string?>("--http-endpoints") { Description = "The members' HTTP base addresses, ID=URL, comma-separated (with --peers)" };
        var restore = new Command("restore", "Write a backup into a new node's data directory (offline: no node runs on it); the whole file is checked as it is copied, and installed only once checked") { file, dataDir, peers, http };
        RaftCtl.SetAction(restore, console, async run =>
        {
            var path = run.Value(file)!;
            if (!File.Exists(path))
            {
                throw new UsageException($"cannot read '{path}': no such file");
            }

            var members = Members(run.Value(peers), run.Value(http));
            RestoredBackup restored;
            try
            {
                restored = BackupRestore.Restore(path, run.Value(dataDir)!, members);
            }
            catch (Exception ex) when (ex is StorageCorruptedException or InvalidDataException)
            {
                throw new RefusedException("snapshot_corrupted", $"'{path}' is not an intact backup, nothing was written: {ex.Message}", ex);
            }
            catch (RestoreRefusedException ex)
            {
                throw new RefusedException("restore_refused", $"{ex.Message}; nothing was written", ex);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new RefusedException("restore_failed", $"{ex.Message}; nothing was left in the data directory", ex);
            }

            var metadata = restored.Metadata;
            var rows = metadata.Membership.Ids.Select(id => metadata.Membership.TryGetAddresses(id, out var a)
                ? new RestoreMember(id, a.Peer, a.Http, metadata.Membership.IsVoter(id))
                : new RestoreMember(id, string.Empty, string.Empty, metadata.Membership.IsVoter(id))).ToList();
            if (run.Json)
            {
                await run.WriteJsonAsync(
                    new RestoreReport(path, restored.DataDirectory, metadata.Index, metadata.Term, rows, [.. restored.Files.Select(f => new RestoreFileReport(f.Path, f.Bytes))]),
                    CliJsonContext.Default.RestoreReport).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            await run.WriteLineAsync($"restored snapshot at index {Text.Number(metadata.Index)}, term {Text.Number(metadata.Term)} from {path} into {restored.DataDirectory}").ConfigureAwait(false);
            Table.Write(run.Console.Out, ["ID", "PEER", "HTTP", "VOTER"], rows.Select(r => (IReadOnlyList<string>)
                [Text.Number(r.Id), r.PeerAddress.Length > 0 ? r.PeerAddress : "-", r.HttpEndpoint.Length > 0 ? r.HttpEndpoint : "-", r.Voter ? "yes" : "learner"]));
            foreach (var written in restored.Files)
            {
                await run.WriteLineAsync($"wrote {written.Path} ({Text.Number(written.Bytes)} bytes)").ConfigureAwait(false);
            }

            await run.WriteLineAsync($"start the node with --Node:DataDirectory={restored.DataDirectory} and its own --Node:Id").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return restore;
    }

    /// <summary>The members <c>--peers</c> and <c>--http-endpoints</c> name, all voters; null (the backup's own) when neither is given.</summary>
    internal static Membership? Members(string? peers, string? http)
    {
        if (peers is null)
        {
            return http is null ? null : throw new UsageException("--http-endpoints needs --peers: name every member's peer address too");
        }

        var peerAddresses = Pairs("--peers", peers);
        if (peerAddresses.Count == 0)
        {
            throw new UsageException("--peers names no member");
        }

        var httpEndpoints = http is null ? [] : Pairs("--http-endpoints", http);
        foreach (var (id, url) in httpEndpoints)
        {
            if (!peerAddresses.ContainsKey(id))
            {
                throw new UsageException($"--http-endpoints names node {Text.Number(id)}, which --peers does not");
            }

            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new UsageException($"--http-endpoints: '{url}' is not an http or https URL");
            }
        }

        var addresses = peerAddresses.ToDictionary(p => p.Key, p => new MemberAddresses(p.Value, httpEndpoints.GetValueOrDefault(p.Key, string.Empty)));
        try
        {
            return Membership.Create(peerAddresses.Keys, addresses: addresses);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException($"--peers: {ex.Message}", ex);
        }
    }

    // ID=VALUE,ID=VALUE: positive ids, each once, and a value that is not empty.
    private static Dictionary<int, string> Pairs(string option, string list)
    {
        var pairs = new Dictionary<int, string>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || equals == part.Length - 1
                || !int.TryParse(part.AsSpan(0, equals), NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
            {
                throw new UsageException($"{option}: '{part}' is not ID=VALUE with a positive node id");
            }

            if (!pairs.TryAdd(id, part[(equals + 1)..]))
            {
                throw new UsageException($"{option} names node {Text.Number(id)} twice");
            }
        }

        return pairs;
    }
}
