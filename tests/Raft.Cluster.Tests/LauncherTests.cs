using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Raft.Cluster.Tests;

/// <summary>The <c>cluster</c> command, run as <c>run-cluster.sh</c> runs it.</summary>
public sealed partial class LauncherTests
{
    [Fact]
    public async Task Cluster_StartsThreeNodes_ReportsTheLeader_AndStopsThemAllOnSigterm()
    {
        var basePort = ProcessCluster.FreeConsecutivePorts(6);
        var data = Path.Combine(Path.GetTempPath(), $"raft-launcher-{Guid.NewGuid():N}");
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(ProcessCluster.ServerDll);
        foreach (var arg in new[] { "cluster", "--nodes", "3", "--data", data, "--clean" })
        {
            info.ArgumentList.Add(arg);
        }

        info.ArgumentList.Add("--base-port");
        info.ArgumentList.Add(basePort.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--peer-base-port");
        info.ArgumentList.Add((basePort + 3).ToString(CultureInfo.InvariantCulture));

        using var launcher = Process.Start(info)!;
        var lines = new List<string>();
        var leaderSeen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        launcher.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (lines)
            {
                lines.Add(e.Data);
            }

            if (e.Data.StartsWith("leader: node ", StringComparison.Ordinal))
            {
                leaderSeen.TrySetResult(e.Data);
            }
        };
        launcher.BeginOutputReadLine();
        launcher.BeginErrorReadLine();
        try
        {
            await leaderSeen.Task.WaitAsync(ProcessCluster.Patience);

            string[] output;
            lock (lines)
            {
                output = [.. lines];
            }

            var pids = output.Select(l => PidPattern().Match(l)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(3, pids.Length);
            Assert.Equal(3, output.Count(l => l.StartsWith("node ", StringComparison.Ordinal) && l.Contains("http://127.0.0.1:", StringComparison.Ordinal)));

            // Ctrl+C or SIGTERM: every node it started is gone when it exits.
            Assert.Equal(0, Kill(launcher.Id, 15));
            await launcher.WaitForExitAsync().WaitAsync(ProcessCluster.Patience);
            Assert.Equal(0, launcher.ExitCode);
            foreach (var pid in pids)
            {
                Assert.False(IsAlive(pid), $"node process {pid} is still running");
            }
        }
        finally
        {
            if (!launcher.HasExited)
            {
                launcher.Kill(entireProcessTree: true);
            }

            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [System.Runtime.InteropServices.DefaultDllImportSearchPaths(System.Runtime.InteropServices.DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);

    [GeneratedRegex(@"\bpid (\d+)\b")]
    private static partial Regex PidPattern();
}
