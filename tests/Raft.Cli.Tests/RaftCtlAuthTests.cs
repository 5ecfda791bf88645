using System.Text.Json;
using Raft.Cluster.Tests;

namespace Raft.Cli.Tests;

/// <summary>raftctl against a node that asks for API tokens: from --token or RAFT_TOKEN, refusals exiting 1.</summary>
public sealed class RaftCtlAuthTests
{
    private const string WriterToken = "writer-token-0123456789";
    private const string ReaderToken = "reader-token-0123456789";
    private const string NodeToken = "node-token-0123456789";

    [Fact]
    public async Task A_token_from_the_option_or_the_environment_is_sent_and_a_missing_or_weak_one_exits_1()
    {
        await using var cluster = new ProcessCluster(1,
            "--Node:Auth:Tokens:0:Name=writer", $"--Node:Auth:Tokens:0:Token={WriterToken}", "--Node:Auth:Tokens:0:Roles:0=write",
            "--Node:Auth:Tokens:1:Name=reader", $"--Node:Auth:Tokens:1:Token={ReaderToken}", "--Node:Auth:Tokens:1:Roles:0=read",
            "--Node:Auth:Tokens:2:Name=node", $"--Node:Auth:Tokens:2:Token={NodeToken}", "--Node:Auth:Tokens:2:Roles:0=admin", $"--Node:Auth:NodeToken={NodeToken}");
        cluster.StartAll();
        var endpoint = cluster.Endpoint(1).ToString().TrimEnd('/');

        // Written once the node has a leader (itself): raftctl retries through the election within --timeout.
        var put = await RaftCtlProcess.RunAsync(endpoint, null, "--token", WriterToken, "--timeout", "30", "put", "cli/auth/k", "v");
        Assert.True(put.ExitCode == 0, put.ToString() + cluster.Logs());

        var anonymous = await RaftCtlProcess.RunAsync(endpoint, null, "get", "cli/auth/k");
        Assert.True(anonymous.ExitCode == 1, anonymous.ToString());
        Assert.StartsWith("raftctl: unauthenticated: ", anonymous.Error, StringComparison.Ordinal);

        var reader = new Dictionary<string, string> { ["RAFT_TOKEN"] = ReaderToken };
        var read = await RaftCtlProcess.RunAsync(endpoint, null, reader, "get", "cli/auth/k");
        Assert.Equal((0, "v"), (read.ExitCode, read.Out));

        var forbidden = await RaftCtlProcess.RunAsync(endpoint, null, reader, "-o", "json", "put", "cli/auth/k", "w");
        Assert.True(forbidden.ExitCode == 1, forbidden.ToString());
        using (var doc = JsonDocument.Parse(forbidden.Error))
        {
            Assert.Equal("forbidden", doc.RootElement.GetProperty("error").GetString());
        }

        // --token wins over RAFT_TOKEN; a token the node does not know is refused.
        Assert.Equal(0, (await RaftCtlProcess.RunAsync(endpoint, null, reader, "--token", WriterToken, "put", "cli/auth/k", "w")).ExitCode);
        Assert.Equal(1, (await RaftCtlProcess.RunAsync(endpoint, null, "--token", "not-a-token-of-this-node", "get", "cli/auth/k")).ExitCode);
        Assert.Equal("w", (await RaftCtlProcess.RunAsync(endpoint, null, reader, "get", "cli/auth/k")).Out);
    }
}
