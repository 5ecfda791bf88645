using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Raft.FailoverBench.Tests;

/// <summary>The tool as a real process against three real nodes: one trial of every scenario.</summary>
public sealed class SmokeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task OneTrialOfEachScenario_AgainstOurCluster_WritesResultsAndChart()
    {
        var (basePort, peerBasePort) = Ports.HttpAndPeerBases();
        var outDir = Path.Combine(Path.GetTempPath(), $"failover-smoke-{Guid.NewGuid():N}");
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            ToolDll, "--trials", "1", "--out", outDir,
            "--base-port", basePort.ToString(CultureInfo.InvariantCulture), "--peer-base-port", peerBasePort.ToString(CultureInfo.InvariantCulture),
        })
        {
            info.ArgumentList.Add(arg);
        }

        var output = new StringBuilder();
        using var tool = Process.Start(info)!;
        tool.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        tool.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        tool.BeginOutputReadLine();
        tool.BeginErrorReadLine();
        try
        {
            try
            {
                await tool.WaitForExitAsync().WaitAsync(Limit);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"the tool ran longer than {Limit.TotalSeconds} s:\n{Text(output)}");
            }

            Assert.True(tool.ExitCode == 0, $"exit code {tool.ExitCode}:\n{Text(output)}");
            using var results = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "results.json")));
            var trials = results.RootElement.GetProperty("trials").EnumerateArray().ToArray();
            Assert.Equal("crash,hang,switchover", string.Join(",", trials.Select(t => t.GetProperty("scenario").GetString()).Order(StringComparer.Ordinal)));
            foreach (var trial in trials)
            {
                Assert.Equal("ours", trial.GetProperty("target").GetString());
                Assert.Equal(1, trial.GetProperty("trial").GetInt32());
                Assert.Equal(JsonValueKind.Number, trial.GetProperty("writeGapMs").ValueKind);
                Assert.Equal(JsonValueKind.Number, trial.GetProperty("readGapMs").ValueKind);
                Assert.True(trial.GetProperty("acknowledgedWrites").GetInt32() > 0);
                Assert.Empty(trial.GetProperty("violations").EnumerateArray());
            }

            Assert.Empty(results.RootElement.GetProperty("violations").EnumerateArray());
            Assert.True(File.Exists(Path.Combine(outDir, "failover.svg")));
            Assert.Contains("| write gap p50 (ms) |", Text(output), StringComparison.Ordinal);
        }
        finally
        {
            if (!tool.HasExited)
            {
                tool.Kill(entireProcessTree: true);
                await tool.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            }

            try
            {
                Directory.Delete(outDir, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    private static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    /// <summary>The tool as built next to this test project (same configuration).</summary>
    private static string ToolDll
    {
        get
        {
            var here = AppContext.BaseDirectory;
            var configuration = here.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
            var dir = new DirectoryInfo(here);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Raft.sln")))
            {
                dir = dir.Parent;
            }

            var path = Path.Combine(dir?.FullName ?? throw new InvalidOperationException("Raft.sln not found above the test directory"), "bench", "Raft.FailoverBench", "bin", configuration, "net10.0", "Raft.FailoverBench.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("build bench/Raft.FailoverBench first", path);
        }
    }
}

/// <summary>
/// Listening ports for the smoke test, below the kernel's ephemeral range (32768 and up) so no outgoing connection takes
/// one in the meantime, and below the 20000-32000 the cluster tests use, so parallel test runs do not collide. Where the
/// search starts depends on this process's id.
/// </summary>
internal static class Ports
{
    private const int First = 10_000;
    private const int Last = 14_900;

    public static (int Http, int Peer) HttpAndPeerBases()
    {
        var start = First + ((Environment.ProcessId % 100) * 40);
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var http = First + ((start - First + (attempt * 40)) % (Last - First - 40));
            var peer = http + 30;
            if (AllFree(http, 3) && AllFree(peer, 3))
            {
                return (http, peer);
            }
        }

        throw new InvalidOperationException($"no free ports between {First} and {Last}");
    }

    private static bool AllFree(int first, int count)
    {
        for (var port = first; port < first + count; port++)
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            try
            {
                listener.Start();
            }
            catch (SocketException)
            {
                return false;
            }
            finally
            {
                listener.Stop();
            }
        }

        return true;
    }
}
