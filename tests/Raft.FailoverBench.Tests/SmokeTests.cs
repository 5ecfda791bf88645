using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Raft.FailoverBench.Tests;

/// <summary>The tool as a real process against three real nodes: one trial of every scenario, and the scale mode at a tiny size.</summary>
public sealed class SmokeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task OneTrialOfEachScenario_AgainstOurCluster_WritesResultsAndChart()
    {
        var (basePort, peerBasePort) = Ports.HttpAndPeerBases();
        var outDir = Path.Combine(Path.GetTempPath(), $"failover-smoke-{Guid.NewGuid():N}");
        try
        {
            var (exitCode, output) = await RunToolAsync(
                "--trials", "1", "--out", outDir, "--scenarios", "crash,hang,switchover,replace",
                "--base-port", basePort.ToString(CultureInfo.InvariantCulture), "--peer-base-port", peerBasePort.ToString(CultureInfo.InvariantCulture));
            Assert.True(exitCode == 0, $"exit code {exitCode}:\n{output}");
            using var results = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "results.json")));
            var trials = results.RootElement.GetProperty("trials").EnumerateArray().ToArray();
            Assert.Equal("crash,hang,replace,switchover", string.Join(",", trials.Select(t => t.GetProperty("scenario").GetString()).Order(StringComparer.Ordinal)));
            Assert.Equal(JsonValueKind.Number, trials.Single(t => t.GetProperty("scenario").GetString() == "replace").GetProperty("replacedAfterMs").ValueKind);
            Assert.Contains("replaced after p50 (ms)", output, StringComparison.Ordinal);
            foreach (var trial in trials)
            {
                Assert.Equal("ours", trial.GetProperty("target").GetString());
                Assert.Equal(1, trial.GetProperty("trial").GetInt32());
                Assert.Equal(JsonValueKind.Number, trial.GetProperty("writeGapMs").ValueKind);
                Assert.Equal(JsonValueKind.Number, trial.GetProperty("readGapMs").ValueKind);
                Assert.Equal(JsonValueKind.Number, trial.GetProperty("watchGapMs").ValueKind);
                Assert.True(trial.GetProperty("watchChanges").GetInt32() >= trial.GetProperty("acknowledgedWrites").GetInt32());
                Assert.Equal(trial.GetProperty("watchChanges").GetInt32(), trial.GetProperty("watchDeliveries").GetArrayLength());
                Assert.True(trial.GetProperty("acknowledgedWrites").GetInt32() > 0);
                Assert.Empty(trial.GetProperty("violations").EnumerateArray());
            }

            Assert.Empty(results.RootElement.GetProperty("violations").EnumerateArray());
            Assert.True(File.Exists(Path.Combine(outDir, "failover.svg")));
            Assert.Contains("| write gap p50 (ms) |", output, StringComparison.Ordinal);
            Assert.Contains("| watch gap p50 (ms) |", output, StringComparison.Ordinal);
        }
        finally
        {
            DeleteIfThere(outDir);
        }
    }

    /// <summary>
    /// The dotnext target (three nodes of bench/Raft.DotNextNode): two crash trials, each checked for every acknowledged
    /// write present once at its index and no stale read, as for the other targets.
    /// </summary>
    [Fact]
    public async Task TwoCrashTrials_AgainstDotNext_PassTheirChecks()
    {
        var (basePort, peerBasePort) = Ports.HttpAndPeerBases();
        var outDir = Path.Combine(Path.GetTempPath(), $"dotnext-smoke-{Guid.NewGuid():N}");
        try
        {
            var (exitCode, output) = await RunToolAsync(
                "--target", "dotnext", "--scenarios", "crash", "--trials", "2", "--out", outDir,
                "--base-port", basePort.ToString(CultureInfo.InvariantCulture), "--peer-base-port", peerBasePort.ToString(CultureInfo.InvariantCulture));
            Assert.True(exitCode == 0, $"exit code {exitCode}:\n{output}");
            Assert.Contains("dotnext: DotNext.Net.Cluster 6.12.2, TCP transport, heartbeat 50 ms, election timeout [300, 400) ms", output, StringComparison.Ordinal);
            using var results = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "results.json")));
            var trials = results.RootElement.GetProperty("trials").EnumerateArray().ToArray();
            Assert.Equal(2, trials.Length);
            foreach (var trial in trials)
            {
                Assert.Equal(("dotnext", "crash"), (trial.GetProperty("target").GetString(), trial.GetProperty("scenario").GetString()));
                Assert.True(trial.GetProperty("acknowledgedWrites").GetInt32() > 0);
                Assert.Equal(JsonValueKind.Number, trial.GetProperty("writeGapMs").ValueKind);
                Assert.Empty(trial.GetProperty("violations").EnumerateArray());
            }

            Assert.Empty(results.RootElement.GetProperty("violations").EnumerateArray());
        }
        finally
        {
            DeleteIfThere(outDir);
        }
    }

    /// <summary>
    /// Scale mode at 2 MiB of 1 KiB values, with snapshots every 500 entries so that the fill compacts the log past the
    /// stopped node and the snapshot phase sees several: every phase runs and every check passes.
    /// </summary>
    [Fact]
    public async Task ScaleMode_AtATinySize_RunsEveryPhaseAgainstOurCluster()
    {
        var (basePort, peerBasePort) = Ports.HttpAndPeerBases();
        var outDir = Path.Combine(Path.GetTempPath(), $"scale-smoke-{Guid.NewGuid():N}");
        try
        {
            var (exitCode, output) = await RunToolAsync(
                "scale", "--data-mib", "2", "--value-bytes", "1024", "--snapshot-phase-s", "3", "--baseline-s", "1", "--out", outDir,
                "--base-port", basePort.ToString(CultureInfo.InvariantCulture), "--peer-base-port", peerBasePort.ToString(CultureInfo.InvariantCulture),
                "--", "--Node:SnapshotEveryEntries=500", "--Node:SnapshotTrailingEntries=100");
            Assert.True(exitCode == 0, $"exit code {exitCode}:\n{output}");
            using var results = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "results.json")));
            var scale = Assert.Single(results.RootElement.GetProperty("scale").EnumerateArray());
            Assert.Equal("ours", scale.GetProperty("target").GetString());
            Assert.Equal(2048, scale.GetProperty("fill").GetProperty("acknowledgedKeys").GetInt64());
            var catchUp = scale.GetProperty("catchUp");
            Assert.True(catchUp.GetProperty("seconds").GetDouble() > 0);
            Assert.True(catchUp.GetProperty("snapshotsInstalled").GetInt64() >= 1);
            Assert.Equal(catchUp.GetProperty("termBefore").GetUInt64(), catchUp.GetProperty("termAfter").GetUInt64());
            Assert.True(scale.GetProperty("snapshots").GetProperty("leaderSnapshots").GetInt32() >= 1);
            Assert.Null(scale.GetProperty("backup").GetProperty("error").GetString());
            Assert.Equal(0, scale.GetProperty("restore").GetProperty("exitCode").GetInt32());
            Assert.True(scale.GetProperty("restart").GetProperty("seconds").GetDouble() > 0);
            Assert.Equal(3, scale.GetProperty("memoryAfterCatchUp").GetArrayLength());
            Assert.True(scale.GetProperty("verified").GetProperty("fillKeysChecked").GetInt32() > 1000);
            Assert.Empty(scale.GetProperty("violations").EnumerateArray());
            Assert.Contains("| catch-up by snapshot: seconds |", output, StringComparison.Ordinal);
        }
        finally
        {
            DeleteIfThere(outDir);
        }
    }

    /// <summary>Runs the tool with <paramref name="args"/> and returns its exit code and output; killed if it runs longer than <see cref="Limit"/>.</summary>
    private static async Task<(int ExitCode, string Output)> RunToolAsync(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(ToolDll);
        foreach (var arg in args)
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
            await tool.WaitForExitAsync().WaitAsync(Limit);
        }
        catch (TimeoutException)
        {
            tool.Kill(entireProcessTree: true);
            await tool.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Fail($"the tool ran longer than {Limit.TotalSeconds} s:\n{Text(output)}");
        }

        // WaitForExitAsync has also waited for the redirected output to reach its end.
        return (tool.ExitCode, Text(output));
    }

    private static void DeleteIfThere(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
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
            // Three nodes and the one a replacement adds; the dotnext target's three at +5.
            if (AllFree(http, 4) && AllFree(peer, 4) && AllFree(http + 5, 3) && AllFree(peer + 5, 3))
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
