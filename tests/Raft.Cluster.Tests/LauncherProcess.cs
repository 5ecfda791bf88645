using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Raft.Server.Launcher;

namespace Raft.Cluster.Tests;

/// <summary>
/// The <c>cluster</c> command run as run-cluster.sh runs it, on free ports, in a working directory of its own (the
/// default data directory, ./data, is under it unless <c>--data</c> is given). Disposing kills the launcher and then,
/// by pid, every node it reported that is still running.
/// </summary>
internal sealed partial class LauncherProcess : IAsyncDisposable
{
    private readonly Process _process;

    private LauncherProcess(Process process, string workingDirectory, string dataDirectory, int basePort, int peerBasePort)
    {
        _process = process;
        WorkingDirectory = workingDirectory;
        DataDirectory = dataDirectory;
        BasePort = basePort;
        PeerBasePort = peerBasePort;
    }

    public OutputLines Output { get; } = new();

    public string WorkingDirectory { get; }

    public string DataDirectory { get; }

    /// <summary>Node 1's HTTP port; node i listens on <c>BasePort + i - 1</c>.</summary>
    public int BasePort { get; }

    public int PeerBasePort { get; }

    public int Pid => _process.Id;

    /// <param name="defaultData">Leave out <c>--data</c>, so the cluster lives in ./data as run-cluster.sh's does.</param>
    /// <param name="environment">Extra environment variables for the launcher.</param>
    /// <param name="tls">Start it with <c>--tls</c>: HTTPS endpoints, mutual TLS between peers.</param>
    /// <param name="nodeArguments">Options it passes to every node (after <c>--</c>).</param>
    /// <param name="server">The server to run, a dll or a native executable (<see cref="ProcessCluster.ServerDll"/> by default).</param>
    public static LauncherProcess Start(
        bool defaultData = false, IReadOnlyDictionary<string, string>? environment = null, bool tls = false, string[]? nodeArguments = null, string? server = null)
    {
        const int Nodes = 3;

        // Room for one node added to the three: HTTP ports first, then the peer ports.
        const int PortsPerKind = Nodes + 1;
        var basePort = ProcessCluster.FreeConsecutivePorts(2 * PortsPerKind);
        var workingDirectory = Path.Combine(Path.GetTempPath(), $"raft-launcher-{Guid.NewGuid():N}");
        Directory.CreateDirectory(workingDirectory);
        var dataDirectory = Path.Combine(workingDirectory, "data");
        var info = NodeProcess.StartInfo([], server ?? ProcessCluster.ServerDll);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.WorkingDirectory = workingDirectory;
        string[] args =
        [
            "cluster", "--nodes", Nodes.ToString(CultureInfo.InvariantCulture),
            "--base-port", basePort.ToString(CultureInfo.InvariantCulture),
            "--peer-base-port", (basePort + PortsPerKind).ToString(CultureInfo.InvariantCulture),
            .. defaultData ? Array.Empty<string>() : ["--data", dataDirectory],
            .. tls ? ["--tls"] : Array.Empty<string>(),
            .. nodeArguments is null ? Array.Empty<string>() : ["--", .. nodeArguments],
        ];
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info };
        var launcher = new LauncherProcess(process, workingDirectory, dataDirectory, basePort, basePort + PortsPerKind) { Scheme = tls ? "https" : "http" };
        launcher.Output.Attach(process);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return launcher;
    }

    /// <summary>http, or https for a cluster started with <c>--tls</c>.</summary>
    public string Scheme { get; private init; } = "http";

    public Uri Endpoint(int id) => new($"{Scheme}://127.0.0.1:{BasePort + id - 1}");

    /// <summary>Waits for the listing the launcher prints once a leader is elected; returns the leader it names.</summary>
    public async Task<int> WaitForListingAsync()
    {
        var end = await Output.WaitForAsync(l => l == "Ctrl+C stops every node.");

        // The leader line comes after the nodes' lines and before the raftctl line.
        var leaderLine = Output.Snapshot()[..end].LastOrDefault(l => l.StartsWith("leader: ", StringComparison.Ordinal)) ?? string.Empty;
        var leader = LeaderPattern().Match(leaderLine);
        Assert.True(leader.Success, $"no leader line in the listing: {string.Join('\n', Output.Snapshot()[..end])}");
        return int.Parse(leader.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>The pid the listing gives node <paramref name="id"/>.</summary>
    public int ListedPid(int id)
    {
        var line = Output.Snapshot().First(l => l.StartsWith($"node {id}: {Scheme}://", StringComparison.Ordinal));
        return int.Parse(PidPattern().Match(line).Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Every pid the launcher has printed: its nodes, first and restarted.</summary>
    public int[] ReportedPids() =>
        [.. Output.Snapshot().Select(l => PidPattern().Match(l)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Distinct()];

    /// <summary>Whether <paramref name="pid"/> is a live (not zombie) node of this cluster: its command line names this cluster's data.</summary>
    public bool IsNodeRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault();
            var commandLine = File.ReadAllText($"/proc/{pid}/cmdline");
            return state != 'Z' && commandLine.Contains($"--Node:DataDirectory={DataDirectory}", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM, as Ctrl+C would; returns the launcher's exit code once it has exited.</summary>
    public async Task<int> StopAsync()
    {
        Assert.Equal(0, Kill(_process.Id, SigTerm));
        await _process.WaitForExitAsync().WaitAsync(ProcessCluster.Patience);
        return _process.ExitCode;
    }

    /// <summary>kill -9 of a process by its pid.</summary>
    public static void KillNine(int pid) => Assert.Equal(0, Kill(pid, SigKill));

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(ProcessCluster.Patience);
            }

            // A node whose launcher died before it could stop it.
            foreach (var pid in ReportedPids().Where(IsNodeRunning))
            {
                _ = Kill(pid, SigKill);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(WorkingDirectory, recursive: true);
            }
            catch (IOException)
            {
                // A node's file may still be closing; the directory is under the temp folder.
            }
        }
    }

    private const int SigKill = 9;
    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);

    [GeneratedRegex(@"\bpid (\d+)\b")]
    private static partial Regex PidPattern();

    [GeneratedRegex(@"^leader: node (\d+) at ")]
    private static partial Regex LeaderPattern();
}
