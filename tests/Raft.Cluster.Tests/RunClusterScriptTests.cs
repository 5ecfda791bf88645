using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;

namespace Raft.Cluster.Tests;

/// <summary>
/// run-cluster.sh with a stand-in for dotnet first on PATH: what the user sees while it builds, what a failed build
/// leaves on screen, and what reaches the launcher. The stand-in's build holds until the test has seen its first line,
/// which the test only can if the script shows the build's output as it comes rather than after the build.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class RunClusterScriptTests : IDisposable
{
    private const string FakeDotnet = """
        #!/usr/bin/env bash
        printf '%s\n' "$*" >> "$FAKE_DOTNET_CALLS"
        if [ "$1" = build ]; then
            echo 'fake build: restoring'
            read -r _
            echo 'fake build: compiling'
            exit "$FAKE_BUILD_EXIT"
        fi
        echo "fake launcher: $*"
        echo "front end: $RAFT_CLUSTER_COMMAND"
        """;

    private readonly string _bin = Path.Combine(Path.GetTempPath(), $"raft-fake-dotnet-{Guid.NewGuid():N}");

    public RunClusterScriptTests()
    {
        Directory.CreateDirectory(_bin);
        var dotnet = Path.Combine(_bin, "dotnet");
        File.WriteAllText(dotnet, FakeDotnet.ReplaceLineEndings("\n") + "\n");
        File.SetUnixFileMode(dotnet, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private string Calls => Path.Combine(_bin, "calls");

    [Fact]
    public async Task Build_IsShownWhileItRuns_ThenTheLauncherGetsEveryArgument()
    {
        var (exitCode, output) = await RunAsync(buildExitCode: 0, "--nodes", "5", "--clean");

        Assert.Equal(0, exitCode);
        var building = Array.FindIndex(output, l => l.StartsWith("building ", StringComparison.Ordinal));
        Assert.True(building >= 0, "no line says the server is being built");
        Assert.True(building < Array.IndexOf(output, "fake build: restoring"), "the building line comes after the build's own output");
        Assert.Contains("fake build: compiling", output);
        Assert.Contains("fake launcher: src/Raft.Server/bin/Release/net10.0/Raft.Server.dll cluster --nodes 5 --clean", output);
        var calls = File.ReadAllLines(Calls);
        Assert.Equal(2, calls.Length);
        Assert.StartsWith("build src/Raft.Server/Raft.Server.csproj -c Release", calls[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailedBuild_LeavesItsOutputOnScreen_AndExitsWithItsCode()
    {
        var (exitCode, output) = await RunAsync(buildExitCode: 3);

        Assert.Equal(3, exitCode);
        Assert.Contains("fake build: restoring", output);
        Assert.Contains("fake build: compiling", output);
        Assert.DoesNotContain(output, l => l.StartsWith("fake launcher", StringComparison.Ordinal));
        Assert.Single(File.ReadAllLines(Calls));
    }

    [Fact]
    public async Task Restart_GoesToTheRunningLauncherWithoutBuilding_AndTheLauncherKnowsTheScriptsName()
    {
        var (exitCode, output) = await RunAsync(buildExitCode: null, "restart", "2");

        Assert.Equal(0, exitCode);
        Assert.Equal("src/Raft.Server/bin/Release/net10.0/Raft.Server.dll cluster restart 2", Assert.Single(File.ReadAllLines(Calls)));
        Assert.Contains($"front end: {Script}", output);
    }

    [Fact]
    public async Task RelativeData_NamesADirectoryWhereTheCallerStands_NotInTheCheckout()
    {
        var (exitCode, _) = await RunInAsync(_bin, buildExitCode: 0, "--data", "restored", "--clean", "--", "--data", "kept");

        Assert.Equal(0, exitCode);
        var launch = File.ReadAllLines(Calls)[1];
        Assert.Equal($"src/Raft.Server/bin/Release/net10.0/Raft.Server.dll cluster --data {Path.Combine(_bin, "restored")} --clean -- --data kept", launch);
    }

    [Fact]
    public async Task RelativeData_ReachesRestartAsTheSameDirectory()
    {
        var (exitCode, _) = await RunInAsync(_bin, buildExitCode: null, "restart", "2", "--data", "restored");

        Assert.Equal(0, exitCode);
        Assert.Equal($"src/Raft.Server/bin/Release/net10.0/Raft.Server.dll cluster restart 2 --data {Path.Combine(_bin, "restored")}", Assert.Single(File.ReadAllLines(Calls)));
    }

    public void Dispose() => Directory.Delete(_bin, recursive: true);

    private static string Script => Path.Combine(ProcessCluster.RepositoryRoot, "run-cluster.sh");

    /// <summary>Runs the script; once the stand-in's build has printed its first line, lets it go on (null: no build expected).</summary>
    private Task<(int ExitCode, string[] Output)> RunAsync(int? buildExitCode, params string[] args) =>
        RunInAsync(workingDirectory: null, buildExitCode, args);

    /// <summary>Runs the script from <paramref name="workingDirectory"/> (null: the test's own).</summary>
    private async Task<(int ExitCode, string[] Output)> RunInAsync(string? workingDirectory, int? buildExitCode, params string[] args)
    {
        var info = new ProcessStartInfo("bash")
        {
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(Script);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["PATH"] = $"{_bin}{Path.PathSeparator}{Environment.GetEnvironmentVariable("PATH")}";
        info.Environment["FAKE_DOTNET_CALLS"] = Calls;
        info.Environment["FAKE_BUILD_EXIT"] = (buildExitCode ?? 99).ToString(CultureInfo.InvariantCulture);
        using var script = new Process { StartInfo = info };
        var output = new OutputLines();
        output.Attach(script);
        script.Start();
        script.BeginOutputReadLine();
        script.BeginErrorReadLine();
        try
        {
            if (buildExitCode is not null)
            {
                await output.WaitForAsync(l => l == "fake build: restoring");
            }

            await script.StandardInput.WriteLineAsync();
            script.StandardInput.Close();
            await script.WaitForExitAsync().WaitAsync(ProcessCluster.Patience);
            return (script.ExitCode, output.Snapshot());
        }
        finally
        {
            if (!script.HasExited)
            {
                script.Kill(entireProcessTree: true);
            }
        }
    }
}
