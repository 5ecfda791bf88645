using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Raft.Cluster.Tests;

/// <summary>The <c>cluster</c> command, run as <c>run-cluster.sh</c> runs it.</summary>
public sealed partial class LauncherTests
{
    [Fact]
    public async Task Cluster_StartsThreeNodes_ReportsTheLeader_AndStopsThemAllOnSigterm()
    {
        await using var launcher = LauncherProcess.Start();
        await launcher.WaitForListingAsync();

        var pids = launcher.ReportedPids();
        Assert.Equal(3, pids.Length);
        Assert.Equal(3, launcher.Output.Snapshot().Count(l => l.StartsWith("node ", StringComparison.Ordinal) && l.Contains("http://127.0.0.1:", StringComparison.Ordinal)));

        // The raftctl line names every node's endpoint, as listed above.
        var endpoints = launcher.Output.Snapshot().Where(l => l.StartsWith("node ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]);
        Assert.Contains($"raftctl --endpoints {string.Join(',', endpoints)} status", launcher.Output.Snapshot());

        // Ctrl+C or SIGTERM: every node it started is gone when it exits.
        Assert.Equal(0, await launcher.StopAsync());
        foreach (var pid in pids)
        {
            Assert.False(launcher.IsNodeRunning(pid), $"node process {pid} is still running");
        }
    }

    [Fact]
    public async Task KilledNode_StartsAgainWithTheCommandTheLauncherPrints_Rejoins_AndStopsWithTheRest()
    {
        await using var launcher = LauncherProcess.Start();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var leader = await launcher.WaitForListingAsync();
        var survivor = (leader % 3) + 1;

        // The leader, so that the others must elect a successor and the node must catch up from a new leader.
        LauncherProcess.KillNine(launcher.ListedPid(leader));
        var exited = launcher.Output[await launcher.Output.WaitForAsync(l => l.StartsWith($"node {leader} exited", StringComparison.Ordinal))];
        var hint = RestartHintPattern().Match(exited);
        Assert.True(hint.Success, $"the exit line names no command that starts node {leader} again: {exited}");
        Assert.Equal($"node {leader} exited with code 137", hint.Groups["exit"].Value);
        var restart = hint.Groups["command"].Value;

        using (var write = await PutUntilAnsweredAsync(http, new Uri(launcher.Endpoint(survivor), "/v1/kv/while-down"), "written while it was down"))
        {
            Assert.Equal(HttpStatusCode.OK, write.StatusCode);
        }

        var (code, output) = await RunAsync(restart, launcher.WorkingDirectory);
        Assert.Equal(0, code);
        var started = RestartedPattern().Match(output);
        Assert.True(started.Success, $"unexpected answer to {restart}: {output}");
        Assert.Equal(leader.ToString(CultureInfo.InvariantCulture), started.Groups["id"].Value);
        var newPid = int.Parse(started.Groups["pid"].Value, CultureInfo.InvariantCulture);
        Assert.True(launcher.IsNodeRunning(newPid), $"the restarted node (pid {newPid}) is not running");

        // Rejoined: a linearizable read through it sees the write it missed.
        using (var read = await http.GetAsync(new Uri(launcher.Endpoint(leader), "/v1/kv/while-down")))
        {
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            Assert.Equal("written while it was down", await read.Content.ReadAsStringAsync());
        }

        // A running node is not started twice.
        var (again, refusal) = await RunAsync(restart, launcher.WorkingDirectory);
        Assert.Equal(1, again);
        Assert.Contains($"pid {newPid}", refusal, StringComparison.Ordinal);

        // The launcher supervises the restarted node like the others: Ctrl+C (SIGTERM) stops it too.
        var pids = launcher.ReportedPids();
        Assert.Contains(newPid, pids);
        Assert.Equal(0, await launcher.StopAsync());
        foreach (var pid in pids)
        {
            Assert.False(launcher.IsNodeRunning(pid), $"node process {pid} is still running");
        }
    }

    [Fact]
    public async Task A_killed_node_is_replaced_by_one_added_on_an_empty_data_directory_and_removed_AndCtrlCStopsTheAddedNodeToo()
    {
        await using var launcher = LauncherProcess.Start();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var leader = await launcher.WaitForListingAsync();
        var cluster = $"{ProcessCluster.ServerCommand} cluster";
        var data = $"--data {launcher.DataDirectory}";

        // A follower dies for good: its replacement joins, and then the dead member is removed.
        var follower = leader % 3 + 1;
        LauncherProcess.KillNine(launcher.ListedPid(follower));
        await launcher.Output.WaitForAsync(l => l.StartsWith($"node {follower} exited", StringComparison.Ordinal));

        var (added, addOutput) = await RunAsync($"{cluster} add {data}", launcher.WorkingDirectory);
        Assert.True(added == 0, addOutput);
        var joined = JoinedPattern().Match(addOutput);
        Assert.True(joined.Success, $"unexpected answer to add: {addOutput}");
        Assert.Equal("4", joined.Groups["id"].Value);
        var addedPid = int.Parse(joined.Groups["pid"].Value, CultureInfo.InvariantCulture);

        var (removed, removeOutput) = await RunAsync($"{cluster} remove {follower} {data}", launcher.WorkingDirectory);
        Assert.True(removed == 0, removeOutput);
        Assert.Equal($"node {follower} is no longer a member", removeOutput);

        // Three voters again, node 4 among them; a write commits and node 4 serves it.
        using (var members = await http.GetAsync(new Uri(launcher.Endpoint(leader), "/v1/cluster/members")))
        {
            var body = await members.Content.ReadAsStringAsync();
            Assert.Contains("\"id\":4,", body, StringComparison.Ordinal);
            Assert.DoesNotContain($"\"id\":{follower},", body, StringComparison.Ordinal);
        }

        using (var write = await PutUntilAnsweredAsync(http, new Uri(launcher.Endpoint(leader), "/v1/kv/after-replace"), "three voters"))
        {
            Assert.Equal(HttpStatusCode.OK, write.StatusCode);
        }

        using (var read = await http.GetAsync(new Uri(launcher.Endpoint(4), "/v1/kv/after-replace")))
        {
            Assert.Equal("three voters", await read.Content.ReadAsStringAsync());
        }

        // What cannot be done is refused with the reason, and changes nothing.
        var (unknown, unknownOutput) = await RunAsync($"{cluster} remove 7 {data}", launcher.WorkingDirectory);
        Assert.Equal(1, unknown);
        Assert.Contains("there is no node 7", unknownOutput, StringComparison.Ordinal);
        var (noId, noIdOutput) = await RunAsync($"{cluster} remove {data}", launcher.WorkingDirectory);
        Assert.Equal(2, noId);
        Assert.Contains("remove needs a node id", noIdOutput, StringComparison.Ordinal);

        Assert.Equal(0, await launcher.StopAsync());
        Assert.False(launcher.IsNodeRunning(addedPid), $"the added node (pid {addedPid}) still runs after Ctrl+C");
    }

    /// <summary>Runs a command line as a user would paste it, from <paramref name="workingDirectory"/>; returns its exit code and output.</summary>
    internal static Task<(int ExitCode, string Output)> RunAsync(string commandLine, string workingDirectory)
    {
        var words = ShellWords.Split(commandLine);
        return RunAsync(words[0], words.Skip(1), workingDirectory, ProcessCluster.Patience);
    }

    /// <summary>
    /// Runs <paramref name="program"/> from <paramref name="workingDirectory"/> and returns its exit code and output; one
    /// still running after <paramref name="limit"/> is killed, with its children, and the wait throws.
    /// </summary>
    internal static async Task<(int ExitCode, string Output)> RunAsync(string program, IEnumerable<string> arguments, string workingDirectory, TimeSpan limit)
    {
        var info = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = info };
        var output = new OutputLines();
        output.Attach(process);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync().WaitAsync(limit);
            return (process.ExitCode, string.Join('\n', output.Snapshot()));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>A PUT, sent again after a refused connection or a 503 (an election under way), within the test's patience.</summary>
    private static async Task<HttpResponseMessage> PutUntilAnsweredAsync(HttpClient http, Uri uri, string value)
    {
        using var deadline = new CancellationTokenSource(ProcessCluster.Patience);
        while (true)
        {
            try
            {
                var response = await http.PutAsync(uri, new StringContent(value), deadline.Token);
                if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
                {
                    return response;
                }

                response.Dispose();
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(20, deadline.Token);
        }
    }

    [GeneratedRegex(@"^(?<exit>node \d+ exited with code -?\d+); start it again with: (?<command>.+)$")]
    private static partial Regex RestartHintPattern();

    [GeneratedRegex(@"^node (?<id>\d+) started again \(pid (?<pid>\d+)\) and is ready$")]
    private static partial Regex RestartedPattern();

    [GeneratedRegex(@"^node (?<id>\d+) joined as a learner, caught up and votes: http://127\.0\.0\.1:\d+  peers 127\.0\.0\.1:\d+  pid (?<pid>\d+)  log .+$")]
    private static partial Regex JoinedPattern();
}
