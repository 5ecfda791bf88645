using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Raft.Cluster.Tests;

namespace Raft.Cli.Tests;

/// <summary>
/// README's failover drill, with raftctl as a process against a three-node cluster of its own (it kills a node):
/// transfer-leader, kill the new leader by its pid, status and check, start it again, see it catch up; a watch
/// open through all of it prints every change once.
/// </summary>
public sealed class FailoverDrillTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Transfer_leader_kill_the_leader_status_shows_a_new_one_and_the_restarted_node_catches_up()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        var first = await cluster.WaitForLeaderAsync();
        var endpoints = string.Join(',', Enumerable.Range(1, 3).Select(id => cluster.Endpoint(id).ToString().TrimEnd('/')));
        Task<RaftCtlResult> RunAsync(params string[] args) => RaftCtlProcess.RunAsync(endpoints, null, args);

        var target = first % 3 + 1;
        var targetText = target.ToString(CultureInfo.InvariantCulture);
        var targetEndpoint = cluster.Endpoint(target).ToString().TrimEnd('/');

        // The watch asks the node about to lead first, so the kill below breaks its stream and it resumes elsewhere.
        var start = await RunAsync("-o", "json", "put", "drill/start", "x");
        Assert.True(start.ExitCode == 0, start.ToString());
        string from;
        using (var doc = JsonDocument.Parse(start.Out))
        {
            from = doc.RootElement.GetProperty("index").GetUInt64().ToString(CultureInfo.InvariantCulture);
        }

        var watchEndpoints = string.Join(',', new[] { targetEndpoint }.Concat(endpoints.Split(',').Where(e => e != targetEndpoint)));
        using var watch = RaftCtlProcess.Start(watchEndpoints, ["watch", "drill/keys/", "--from-index", from, "--count", "3"]);
        var lines = new OutputLines();
        lines.Attach(watch);
        watch.BeginOutputReadLine();
        watch.BeginErrorReadLine();
        try
        {
            Assert.Equal(0, (await RunAsync("put", "drill/keys/a", "one")).ExitCode);
            await lines.WaitForAsync(l => l.EndsWith(" PUT drill/keys/a one", StringComparison.Ordinal), timeout: Patience);

            var moved = await RunAsync("transfer-leader", "--to", targetText);
            Assert.True(moved.ExitCode == 0, moved.ToString());
            Assert.Equal($"leadership moved from node {first.ToString(CultureInfo.InvariantCulture)} to node {targetText}", moved.Out.TrimEnd());
            var leader = await RunAsync("leader");
            Assert.Equal($"node {targetText} at {targetEndpoint}", leader.Out.TrimEnd());

            Assert.Equal(0, (await RunAsync("put", "drill/keys/b", "two")).ExitCode);
            await cluster.KillAsync(target);

            // The survivors elect another leader; status names it, and the killed node as unreachable.
            var status = await UntilAsync(RunAsync, ["-o", "json", "status"], r => r.ExitCode == 0 && LeaderOf(r) is > 0 and var l && l != target);
            int second;
            using (var doc = JsonDocument.Parse(status.Out))
            {
                second = doc.RootElement.GetProperty("leaderId").GetInt32();
                var killed = doc.RootElement.GetProperty("members").EnumerateArray().Single(m => m.GetProperty("id").GetInt32() == target);
                Assert.Equal("unreachable", killed.GetProperty("role").GetString());
            }

            var table = await RunAsync("status");
            Assert.Single(table.Lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var id, _, "unreachable", ..] && id == targetText);
            Assert.Contains($"node {targetText}: ", table.Error, StringComparison.Ordinal);

            var check = await RunAsync("check");
            Assert.True(check.ExitCode == 1, check.ToString());
            Assert.Equal("unhealthy", check.Lines[^1]);

            // Writes go on with two of three; the watch resumed on a survivor and prints this one too.
            var put = await RunAsync("-o", "json", "put", "drill/keys/c", "three");
            Assert.True(put.ExitCode == 0, put.ToString());
            ulong written;
            using (var doc = JsonDocument.Parse(put.Out))
            {
                written = doc.RootElement.GetProperty("index").GetUInt64();
            }

            await watch.WaitForExitAsync().WaitAsync(Patience);
            Assert.Equal(0, watch.ExitCode);
            Assert.Equal(["PUT drill/keys/a one", "PUT drill/keys/b two", "PUT drill/keys/c three"], lines.Snapshot().Where(IsEvent).Select(l => l[(l.IndexOf(' ', StringComparison.Ordinal) + 1)..]));

            // Started again on its data directory, the killed node catches up: check is healthy, status shows it applied the write.
            cluster.Start(target);
            var healthy = await UntilAsync(RunAsync, ["check"], r => r.ExitCode == 0);
            Assert.Equal("healthy", healthy.Lines[^1]);
            var caughtUp = await UntilAsync(RunAsync, ["-o", "json", "status"], r => r.ExitCode == 0 && AppliedOf(r, target) >= written);
            Assert.Equal(second, LeaderOf(caughtUp));
            var read = await RaftCtlProcess.RunAsync(targetEndpoint, null, "get", "drill/keys/c");
            Assert.Equal((0, "three"), (read.ExitCode, read.Out));
        }
        finally
        {
            if (!watch.HasExited)
            {
                watch.Kill(entireProcessTree: true);
            }
        }
    }

    // Runs raftctl again until its result satisfies done, within Patience; the last result otherwise fails the test.
    private static async Task<RaftCtlResult> UntilAsync(Func<string[], Task<RaftCtlResult>> run, string[] args, Func<RaftCtlResult, bool> done)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var result = await run(args);
            if (done(result))
            {
                return result;
            }

            Assert.True(DateTime.UtcNow < deadline, $"raftctl {string.Join(' ', args)} did not get there within {Patience.TotalSeconds} s; last: {result}");
            await Task.Delay(200);
        }
    }

    // What the watch printed, leaving aside anything it said on stderr: "INDEX PUT|DELETE KEY [VALUE]".
    private static bool IsEvent(string line) => Regex.IsMatch(line, "^[0-9]+ (PUT|DELETE) ");

    private static int LeaderOf(RaftCtlResult status)
    {
        using var doc = JsonDocument.Parse(status.Out);
        return doc.RootElement.GetProperty("leaderId").GetInt32();
    }

    private static ulong AppliedOf(RaftCtlResult status, int id)
    {
        using var doc = JsonDocument.Parse(status.Out);
        return doc.RootElement.GetProperty("members").EnumerateArray().Single(m => m.GetProperty("id").GetInt32() == id).GetProperty("appliedIndex").GetUInt64();
    }
}
