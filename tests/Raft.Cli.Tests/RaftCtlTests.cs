using System.Text.Json;
using Raft.Cluster.Tests;

namespace Raft.Cli.Tests;

/// <summary>raftctl run as a process against a real three-node cluster.</summary>
public sealed partial class RaftCtlTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private Task<RaftCtlResult> RunAsync(params string[] args) => RaftCtlProcess.RunAsync(fixture.Endpoints, null, args);

    [Fact]
    public async Task Put_get_ls_and_del_round_trip_a_key_in_table_and_json()
    {
        var put = await RunAsync("put", "cli/kv/greeting", "hello world");
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.StartsWith("OK index ", put.Out, StringComparison.Ordinal);

        // A value from standard input, its bytes kept as they are.
        var piped = await RaftCtlProcess.RunAsync(fixture.Endpoints, "line one\nline two\n", "put", "cli/kv/piped");
        Assert.True(piped.ExitCode == 0, piped.ToString());

        var get = await RunAsync("get", "cli/kv/greeting");
        Assert.Equal((0, "hello world"), (get.ExitCode, get.Out));
        Assert.Equal("line one\nline two\n", (await RunAsync("get", "cli/kv/piped")).Out);

        var json = await RunAsync("--output", "json", "get", "cli/kv/greeting");
        using (var doc = JsonDocument.Parse(json.Out))
        {
            Assert.Equal("cli/kv/greeting", doc.RootElement.GetProperty("key").GetString());
            Assert.Equal("hello world", System.Text.Encoding.UTF8.GetString(doc.RootElement.GetProperty("value").GetBytesFromBase64()));
            Assert.True(doc.RootElement.GetProperty("version").GetUInt64() > 0);
        }

        var table = await RunAsync("ls", "cli/kv/");
        Assert.Equal(["KEY", "VERSION", "VALUE"], table.Lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["cli/kv/greeting", "cli/kv/piped"], table.Lines.Skip(1).Select(l => l.Split(' ')[0]));

        // One page of one key, and where the next page starts.
        var page = await RunAsync("-o", "json", "ls", "cli/kv/", "--limit", "1");
        using (var doc = JsonDocument.Parse(page.Out))
        {
            Assert.Equal("cli/kv/greeting", doc.RootElement.GetProperty("items")[0].GetProperty("key").GetString());
            Assert.True(doc.RootElement.GetProperty("more").GetBoolean());
            Assert.Equal("cli/kv/greeting", doc.RootElement.GetProperty("next").GetString());
        }

        var next = await RunAsync("-o", "json", "ls", "cli/kv/", "--limit", "1", "--after", "cli/kv/greeting");
        using (var doc = JsonDocument.Parse(next.Out))
        {
            Assert.Equal("cli/kv/piped", doc.RootElement.GetProperty("items")[0].GetProperty("key").GetString());
            Assert.False(doc.RootElement.GetProperty("more").GetBoolean());
        }

        var del = await RunAsync("-o", "json", "del", "cli/kv/greeting");
        using (var doc = JsonDocument.Parse(del.Out))
        {
            Assert.True(doc.RootElement.GetProperty("deleted").GetBoolean());
        }

        Assert.Equal(1, (await RunAsync("get", "cli/kv/greeting")).ExitCode);
    }

    [Fact]
    public async Task Exit_codes_are_1_for_not_found_or_refused_2_for_usage_and_3_when_no_endpoint_answers()
    {
        var missing = await RunAsync("get", "cli/exit/none");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("not_found", missing.Error, StringComparison.Ordinal);
        Assert.Equal(1, (await RunAsync("del", "cli/exit/none")).ExitCode);

        // A failed compare-and-set is a refusal, and writes nothing.
        Assert.Equal(0, (await RunAsync("put", "cli/exit/cas", "1", "--if-version", "0")).ExitCode);
        Assert.Equal(1, (await RunAsync("put", "cli/exit/cas", "2", "--if-version", "0")).ExitCode);
        Assert.Equal("1", (await RunAsync("get", "cli/exit/cas")).Out);

        Assert.Equal(2, (await RunAsync("frobnicate")).ExitCode);
        Assert.Equal(2, (await RunAsync("get")).ExitCode);
        Assert.Equal(2, (await RunAsync("ls", "--limit", "not-a-number")).ExitCode);
        Assert.Equal(2, (await RunAsync("--output", "yaml", "get", "cli/exit/cas")).ExitCode);
        var noCa = await RunAsync("--cacert", Path.Combine(Path.GetTempPath(), $"no-such-ca-{Guid.NewGuid():N}.pem"), "get", "cli/exit/cas");
        Assert.Equal(2, noCa.ExitCode);
        Assert.Contains("--cacert", noCa.Error, StringComparison.Ordinal);

        // A port nothing listens on (taken from the free ones, so no node of a parallel run is there).
        var nowhere = $"http://127.0.0.1:{ProcessCluster.FreePorts(1)[0]}";
        var unavailable = await RaftCtlProcess.RunAsync(nowhere, null, "--timeout", "2", "get", "cli/exit/cas");
        Assert.True(unavailable.ExitCode == 3, unavailable.ToString());
        Assert.Contains("no_leader", unavailable.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_prints_each_change_under_the_prefix_as_it_comes()
    {
        // Start the watch after a known index, so changes made before it connects are still printed, and nothing earlier.
        var start = await RunAsync("-o", "json", "put", "cli/watch-start", "x");
        ulong from;
        using (var doc = JsonDocument.Parse(start.Out))
        {
            from = doc.RootElement.GetProperty("index").GetUInt64();
        }

        using var watch = RaftCtlProcess.Start(fixture.Endpoints, ["watch", "cli/watch/", "--from-index", from.ToString(System.Globalization.CultureInfo.InvariantCulture), "--count", "3"]);
        var lines = new OutputLines();
        lines.Attach(watch);
        watch.BeginOutputReadLine();
        watch.BeginErrorReadLine();
        try
        {
            Assert.Equal(0, (await RunAsync("put", "cli/watch/a", "one")).ExitCode);
            Assert.Equal(0, (await RunAsync("put", "cli/other", "not watched")).ExitCode);
            Assert.Equal(0, (await RunAsync("put", "cli/watch/b", "two")).ExitCode);
            Assert.Equal(0, (await RunAsync("del", "cli/watch/a")).ExitCode);

            await lines.WaitForAsync(l => l.EndsWith(" DELETE cli/watch/a", StringComparison.Ordinal), timeout: RaftCtlProcess.Patience);
            await watch.WaitForExitAsync().WaitAsync(RaftCtlProcess.Patience);
            Assert.Equal(0, watch.ExitCode);
            var printed = lines.Snapshot().Select(l => l[(l.IndexOf(' ', StringComparison.Ordinal) + 1)..]).ToArray();
            Assert.Equal(["PUT cli/watch/a one", "PUT cli/watch/b two", "DELETE cli/watch/a"], printed);
        }
        finally
        {
            if (!watch.HasExited)
            {
                watch.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Lock_runs_the_command_with_the_fencing_token_in_its_environment_and_releases_the_lock()
    {
        var held = await RunAsync("lock", "cli/lock/job", "--", "sh", "-c", "echo token=$RAFT_LOCK_TOKEN name=$RAFT_LOCK_NAME; exit 7");
        Assert.True(held.ExitCode == 7, held.ToString());
        var line = Assert.Single(held.Lines);
        Assert.Matches("^token=[1-9][0-9]* name=cli/lock/job$", line);

        using var client = fixture.NewClient();
        Assert.Null(await client.GetLockAsync("cli/lock/job"));

        // Taken again, the lock's token has grown: the fence a guarded resource checks.
        var again = await RunAsync("-o", "json", "lock", "cli/lock/job", "--", "sh", "-c", "true");
        using var doc = JsonDocument.Parse(again.Out);
        Assert.True(doc.RootElement.GetProperty("fencingToken").GetUInt64() > ulong.Parse(line.Split(' ')[0]["token=".Length..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, doc.RootElement.GetProperty("exitCode").GetInt32());
    }

    [Fact]
    public async Task A_held_lock_is_refused_with_exit_1_without_running_the_command()
    {
        using var client = fixture.NewClient();
        await client.AcquireLockAsync("cli/lock/busy", "someone-else", TimeSpan.FromMinutes(1));
        var refused = await RunAsync("lock", "cli/lock/busy", "--wait", "0", "--", "sh", "-c", "echo ran");
        Assert.Equal(1, refused.ExitCode);
        Assert.DoesNotContain("ran", refused.Out, StringComparison.Ordinal);
        Assert.Contains("someone-else", refused.Error, StringComparison.Ordinal);
        await client.ReleaseLockAsync("cli/lock/busy", "someone-else");
    }

    [Fact]
    public async Task Txn_applies_the_line_form_and_the_json_body()
    {
        var created = await RaftCtlProcess.RunAsync(fixture.Endpoints, "if missing cli/txn/stock\nthen put cli/txn/stock 10\n", "txn");
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.StartsWith("SUCCEEDED", created.Out, StringComparison.Ordinal);

        var body = """{"compare":[{"key":"cli/txn/stock","exists":false}],"success":[{"op":"put","key":"cli/txn/stock","value":"MQ=="}],"failure":[{"op":"get","key":"cli/txn/stock"}]}""";
        var second = await RaftCtlProcess.RunAsync(fixture.Endpoints, body, "-o", "json", "txn");
        using var doc = JsonDocument.Parse(second.Out);
        Assert.False(doc.RootElement.GetProperty("succeeded").GetBoolean());
        Assert.Equal("10", System.Text.Encoding.UTF8.GetString(doc.RootElement.GetProperty("results")[0].GetProperty("value").GetBytesFromBase64()));

        var malformed = await RaftCtlProcess.RunAsync(fixture.Endpoints, "if sideways cli/txn/stock\n", "txn");
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("line 1", malformed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_check_and_transfer_leader_see_and_move_the_leader()
    {
        var status = await RunAsync("-o", "json", "status");
        Assert.True(status.ExitCode == 0, status.ToString());
        int leader;
        using (var doc = JsonDocument.Parse(status.Out))
        {
            var members = doc.RootElement.GetProperty("members").EnumerateArray().ToList();
            Assert.Equal(3, members.Count);
            leader = doc.RootElement.GetProperty("leaderId").GetInt32();
            Assert.Single(members, m => m.GetProperty("role").GetString() == "leader" && m.GetProperty("id").GetInt32() == leader);
            Assert.All(members, m => Assert.Equal(leader, m.GetProperty("leaderId").GetInt32()));
        }

        var table = await RunAsync("status");
        Assert.Equal(["ID", "ENDPOINT", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAG", "VERSION"], table.Lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Single(table.Lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var id, _, "leader", ..] && id == leader.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var check = await RunAsync("check");
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Equal("healthy", check.Lines[^1]);

        var target = leader % 3 + 1;
        var moved = await RunAsync("-o", "json", "transfer-leader", "--to", target.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(moved.ExitCode == 0, moved.ToString());
        using (var doc = JsonDocument.Parse(moved.Out))
        {
            Assert.Equal(leader, doc.RootElement.GetProperty("from").GetInt32());
            Assert.Equal(target, doc.RootElement.GetProperty("leaderId").GetInt32());
        }

        Assert.Equal(target, await fixture.Cluster.WaitForLeaderAsync());
        var named = await RunAsync("-o", "json", "leader");
        using (var doc = JsonDocument.Parse(named.Out))
        {
            Assert.Equal(target, doc.RootElement.GetProperty("leaderId").GetInt32());
        }
    }

    [Fact]
    public async Task Put_takes_its_value_from_a_file_and_the_settings_from_a_config_file()
    {
        var value = Path.Combine(Path.GetTempPath(), $"raftctl-value-{Guid.NewGuid():N}");
        var config = Path.Combine(Path.GetTempPath(), $"raftctl-config-{Guid.NewGuid():N}.json");
        try
        {
            byte[] bytes = [0, 1, 2, 255, (byte)'\n'];
            await File.WriteAllBytesAsync(value, bytes);
            var put = await RunAsync("put", "cli/file/blob", "--file", value);
            Assert.True(put.ExitCode == 0, put.ToString());
            Assert.Equal(2, (await RunAsync("put", "cli/file/blob", "--file", value + ".missing")).ExitCode);
            Assert.Equal(2, (await RunAsync("put", "cli/file/blob", "both", "--file", value)).ExitCode);

            // Endpoints and the output format from the config file alone (RAFTCTL_ENDPOINTS is not set).
            var endpoints = string.Join(',', fixture.Endpoints.Split(',').Select(e => $"\"{e}\""));
            await File.WriteAllTextAsync(config, $$"""{"endpoints":[{{endpoints}}],"output":"json","timeoutSeconds":20}""");
            var nowhere = $"http://127.0.0.1:{ProcessCluster.FreePorts(1)[0]}";
            var configured = await RaftCtlProcess.RunAsync(string.Empty, null, "--config", config, "get", "cli/file/blob");
            Assert.True(configured.ExitCode == 0, configured.ToString());
            using (var doc = JsonDocument.Parse(configured.Out))
            {
                Assert.Equal(bytes, doc.RootElement.GetProperty("value").GetBytesFromBase64());
            }

            // --endpoints wins over the config file.
            var overridden = await RaftCtlProcess.RunAsync(string.Empty, null, "--config", config, "--endpoints", nowhere, "--timeout", "2", "get", "cli/file/blob");
            Assert.True(overridden.ExitCode == 3, overridden.ToString());

            await File.WriteAllTextAsync(config, "{not json");
            Assert.Equal(2, (await RunAsync("--config", config, "get", "cli/file/blob")).ExitCode);
            Assert.Equal(2, (await RunAsync("--config", config + ".missing", "get", "cli/file/blob")).ExitCode);
        }
        finally
        {
            File.Delete(value);
            File.Delete(config);
        }
    }

    [Fact]
    public async Task Lease_grant_keepalive_and_revoke_and_a_key_bound_to_the_lease_goes_with_it()
    {
        var granted = await RunAsync("-o", "json", "lease", "grant", "60");
        Assert.True(granted.ExitCode == 0, granted.ToString());
        ulong id;
        using (var doc = JsonDocument.Parse(granted.Out))
        {
            id = doc.RootElement.GetProperty("id").GetUInt64();
            Assert.Equal(60_000, doc.RootElement.GetProperty("ttlMs").GetInt64());
        }

        var lease = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(0, (await RunAsync("put", "cli/lease/k", "v", "--lease", lease)).ExitCode);
        var kept = await RunAsync("lease", "keepalive", lease, "--once");
        Assert.True(kept.ExitCode == 0, kept.ToString());
        Assert.StartsWith($"lease {lease} kept alive: ttl 60 s, expires ", kept.Out, StringComparison.Ordinal);

        var revoked = await RunAsync("lease", "revoke", lease);
        Assert.Equal((0, $"lease {lease} revoked\n"), (revoked.ExitCode, revoked.Out));
        Assert.Equal(1, (await RunAsync("get", "cli/lease/k")).ExitCode);
        Assert.Equal(1, (await RunAsync("lease", "revoke", lease)).ExitCode);
        Assert.Equal(1, (await RunAsync("lease", "keepalive", lease, "--once")).ExitCode);
        Assert.Equal(2, (await RunAsync("lease", "grant", "0")).ExitCode);
    }

    [Fact]
    public async Task Member_list_names_every_member_and_the_leader_and_changes_to_unknown_members_are_refused()
    {
        var table = await RunAsync("member", "list");
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Equal(["ID", "PEER", "HTTP", "VOTER", "LEADER"], table.Lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["1", "2", "3"], table.Lines.Skip(1).Select(l => l.Split(' ')[0]));
        Assert.Single(table.Lines, l => l.TrimEnd().EndsWith('*'));

        var json = await RunAsync("-o", "json", "member", "list");
        using (var doc = JsonDocument.Parse(json.Out))
        {
            var leader = doc.RootElement.GetProperty("leaderId").GetInt32();
            var members = doc.RootElement.GetProperty("members").EnumerateArray().ToList();
            Assert.Equal(3, members.Count);
            Assert.All(members, m => Assert.True(m.GetProperty("voter").GetBoolean()));
            Assert.Equal(leader, Assert.Single(members, m => m.GetProperty("leader").GetBoolean()).GetProperty("id").GetInt32());
        }

        var promote = await RunAsync("member", "promote", "42");
        Assert.True(promote.ExitCode == 1, promote.ToString());
        Assert.Contains("member_not_found", promote.Error, StringComparison.Ordinal);
        Assert.Equal(1, (await RunAsync("member", "remove", "42")).ExitCode);
        Assert.Equal(2, (await RunAsync("member", "add", "4", "127.0.0.1:1", "not-a-url")).ExitCode);
        Assert.Equal(2, (await RunAsync("member", "promote", "four")).ExitCode);
        var after = await RunAsync("member", "list");
        Assert.Equal(4, after.Lines.Length);
    }

    [Fact]
    public async Task Snapshot_save_writes_a_whole_backup_file()
    {
        var file = Path.Combine(Path.GetTempPath(), $"raftctl-{Guid.NewGuid():N}.snap");
        try
        {
            var saved = await RunAsync("-o", "json", "snapshot", "save", file, "--linearizable");
            Assert.True(saved.ExitCode == 0, saved.ToString());
            using var doc = JsonDocument.Parse(saved.Out);
            Assert.True(doc.RootElement.GetProperty("index").GetUInt64() > 0);
            Assert.Equal(new FileInfo(file).Length, doc.RootElement.GetProperty("bytes").GetInt64());
            Assert.False(File.Exists(file + ".part"));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
