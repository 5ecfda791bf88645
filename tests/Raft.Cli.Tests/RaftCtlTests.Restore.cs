using System.Globalization;
using System.Text.Json;
using Raft.Cluster.Tests;

namespace Raft.Cli.Tests;

/// <summary><c>snapshot restore</c>: a backup saved by raftctl from the running cluster, restored into a new node.</summary>
public sealed partial class RaftCtlTests
{
    [Fact]
    public async Task A_backup_saved_by_raftctl_restores_into_a_new_node_that_serves_its_keys()
    {
        var file = Path.Combine(Path.GetTempPath(), $"raftctl-restore-{Guid.NewGuid():N}.snap");
        await using var restored = new ProcessCluster(1);
        try
        {
            Assert.Equal(0, (await RunAsync("put", "cli/restore/a", "alpha")).ExitCode);
            var put = await RunAsync("-o", "json", "put", "cli/restore/b", "beta");
            ulong version;
            using (var doc = JsonDocument.Parse(put.Out))
            {
                version = doc.RootElement.GetProperty("version").GetUInt64();
            }

            var saved = await RunAsync("-o", "json", "snapshot", "save", file, "--linearizable");
            Assert.True(saved.ExitCode == 0, saved.ToString());
            ulong backupIndex;
            using (var doc = JsonDocument.Parse(saved.Out))
            {
                backupIndex = doc.RootElement.GetProperty("index").GetUInt64();
            }

            Assert.True(backupIndex >= version);

            // A new one-node cluster on other ports: the backup's members are replaced by the ones named here.
            var dataDir = Path.Combine(restored.DataDirectory, "node-1");
            var endpoint = restored.Endpoint(1).ToString().TrimEnd('/');
            var peer = $"127.0.0.1:{restored.PeerPorts[1].ToString(CultureInfo.InvariantCulture)}";
            var restore = await RunAsync("snapshot", "restore", file, "--data-dir", dataDir, "--peers", $"1={peer}", "--http-endpoints", $"1={endpoint}");
            Assert.True(restore.ExitCode == 0, restore.ToString());
            Assert.StartsWith($"restored snapshot at index {backupIndex.ToString(CultureInfo.InvariantCulture)}, term ", restore.Out, StringComparison.Ordinal);
            Assert.Contains(restore.Lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["1", var p, var h, "yes"] && p == peer && h == endpoint);
            Assert.Contains($"wrote {Path.Combine(dataDir, "hardstate")} (", restore.Out, StringComparison.Ordinal);
            Assert.Contains(restore.Lines, l => l.StartsWith($"wrote {Path.Combine(dataDir, "snapshots")}{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

            restored.StartAll();
            await restored.WaitForLeaderAsync();
            var read = await RaftCtlProcess.RunAsync(endpoint, null, "-o", "json", "get", "cli/restore/b");
            Assert.True(read.ExitCode == 0, read.ToString() + restored.Logs());
            using (var doc = JsonDocument.Parse(read.Out))
            {
                Assert.Equal("beta", System.Text.Encoding.UTF8.GetString(doc.RootElement.GetProperty("value").GetBytesFromBase64()));
                Assert.Equal(version, doc.RootElement.GetProperty("version").GetUInt64());
            }

            Assert.Equal("alpha", (await RaftCtlProcess.RunAsync(endpoint, null, "get", "cli/restore/a")).Out);

            // The new cluster's log goes on after the backup's index.
            var next = await RaftCtlProcess.RunAsync(endpoint, null, "-o", "json", "put", "cli/restore/after", "restore");
            using (var doc = JsonDocument.Parse(next.Out))
            {
                Assert.True(doc.RootElement.GetProperty("index").GetUInt64() > backupIndex);
            }
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_damaged_backup_or_a_used_directory_exits_1_and_usage_errors_exit_2_each_writing_nothing()
    {
        var file = Path.Combine(Path.GetTempPath(), $"raftctl-restore-{Guid.NewGuid():N}.snap");
        var damaged = file + ".damaged";
        var root = Path.Combine(Path.GetTempPath(), $"raftctl-restore-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(0, (await RunAsync("put", "cli/restore-bad/k", "v")).ExitCode);
            var saved = await RunAsync("snapshot", "save", file);
            Assert.True(saved.ExitCode == 0, saved.ToString());
            var bytes = await File.ReadAllBytesAsync(file);
            bytes[bytes.Length / 2] ^= 0x01;
            await File.WriteAllBytesAsync(damaged, bytes);

            var target = Path.Combine(root, "new");
            var corrupt = await RunAsync("snapshot", "restore", damaged, "--data-dir", target);
            Assert.True(corrupt.ExitCode == 1, corrupt.ToString());
            Assert.StartsWith("raftctl: snapshot_corrupted: ", corrupt.Error, StringComparison.Ordinal);
            Assert.Contains("nothing was written", corrupt.Error, StringComparison.Ordinal);
            Assert.Equal(string.Empty, corrupt.Out);
            Assert.False(Directory.Exists(target));

            // An empty directory given stays, empty; the JSON form of the error is the API's.
            var empty = Path.Combine(root, "empty");
            Directory.CreateDirectory(empty);
            var corruptJson = await RunAsync("-o", "json", "snapshot", "restore", damaged, "--data-dir", empty);
            Assert.Equal(1, corruptJson.ExitCode);
            using (var doc = JsonDocument.Parse(corruptJson.Error))
            {
                Assert.Equal("snapshot_corrupted", doc.RootElement.GetProperty("error").GetString());
            }

            Assert.Empty(Directory.EnumerateFileSystemEntries(empty));

            // An intact backup, into a directory that holds something.
            var used = Path.Combine(root, "used");
            Directory.CreateDirectory(used);
            await File.WriteAllTextAsync(Path.Combine(used, "keep.txt"), "mine");
            var refused = await RunAsync("snapshot", "restore", file, "--data-dir", used);
            Assert.True(refused.ExitCode == 1, refused.ToString());
            Assert.Contains("restore_refused", refused.Error, StringComparison.Ordinal);
            Assert.Contains("is not empty", refused.Error, StringComparison.Ordinal);
            Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(used).Select(Path.GetFileName));

            string[][] usage =
            [
                ["snapshot", "restore", file],
                ["snapshot", "restore", "--data-dir", target],
                ["snapshot", "restore", file + ".missing", "--data-dir", target],
                ["snapshot", "restore", file, "--data-dir", target, "--peers", "one=127.0.0.1:7001"],
                ["snapshot", "restore", file, "--data-dir", target, "--peers", "1=127.0.0.1:7001,1=127.0.0.1:7002"],
                ["snapshot", "restore", file, "--data-dir", target, "--http-endpoints", "1=http://127.0.0.1:5001"],
                ["snapshot", "restore", file, "--data-dir", target, "--peers", "1=127.0.0.1:7001", "--http-endpoints", "2=http://127.0.0.1:5002"],
                ["snapshot", "restore", file, "--data-dir", target, "--peers", "1=127.0.0.1:7001", "--http-endpoints", "1=ftp://127.0.0.1"],
            ];
            foreach (var args in usage)
            {
                var result = await RunAsync(args);
                Assert.True(result.ExitCode == 2, $"{string.Join(' ', args)}: {result}");
                Assert.False(Directory.Exists(target), string.Join(' ', args));
            }
        }
        finally
        {
            File.Delete(file);
            File.Delete(damaged);
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }
}
