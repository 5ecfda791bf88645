using Raft.Server.Launcher;

namespace Raft.Cluster.Tests;

public sealed class LauncherOptionsTests
{
    [Fact]
    public void Defaults_ThreeNodesOn5001And7001_UnderData()
    {
        Assert.True(ClusterLaunchOptions.TryParse([], out var options, out _));

        Assert.Equal(3, options.Nodes);
        Assert.Equal("http://127.0.0.1:5002", options.HttpEndpoint(2));
        Assert.Equal(7003, options.PeerPort(3));
        Assert.Equal(Path.GetFullPath("data"), options.DataDirectory);
    }

    [Fact]
    public void ArgumentsFor_NameTheWholeMembershipAndPassTheRestThrough()
    {
        Assert.True(ClusterLaunchOptions.TryParse(["--nodes", "3", "--base-port", "6001", "--peer-base-port", "8001", "--data", "/tmp/x", "--", "--Node:FollowerMode=Reject"], out var options, out _));

        var args = options.ArgumentsFor(2);

        Assert.Equal("--Node:Id=2", args[0]);
        Assert.Contains($"--Node:DataDirectory={Path.Combine("/tmp/x", "node-2")}", args);
        Assert.Contains("--Node:Peers:1=127.0.0.1:8001", args);
        Assert.Contains("--Node:Peers:3=127.0.0.1:8003", args);
        Assert.Contains("--Node:HttpEndpoints:3=http://127.0.0.1:6003", args);
        Assert.Equal("--Node:FollowerMode=Reject", args[^1]);
    }

    [Theory]
    [InlineData("--nodes", "0")]
    [InlineData("--nodes", "x")]
    [InlineData("--base-port", "70000")]
    [InlineData("--bogus", "1")]
    [InlineData("--nodes")]
    public void BadArguments_AreRefusedWithAReason(params string[] args)
    {
        Assert.False(ClusterLaunchOptions.TryParse(args, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void OverlappingPortRanges_AreRefused()
    {
        Assert.False(ClusterLaunchOptions.TryParse(["--base-port", "7000", "--peer-base-port", "7001"], out _, out var error));
        Assert.Contains("overlap", error, StringComparison.Ordinal);
    }

    [Fact]
    public void RestartCommand_ThroughAScript_NamesTheDataDirectoryOnlyWhenItIsNotTheDefault()
    {
        Assert.True(ClusterLaunchOptions.TryParse([], out var defaults, out _));
        Assert.True(ClusterLaunchOptions.TryParse(["--data", "/tmp/my data"], out var elsewhere, out _));

        Assert.Equal("./run-cluster.sh restart 2", defaults.RestartCommand(2, "./run-cluster.sh"));
        Assert.Equal("./run-cluster.sh restart 2 --data '/tmp/my data'", elsewhere.RestartCommand(2, "./run-cluster.sh"));
    }

    [Fact]
    public void RestartCommand_WithoutAScript_RunsThisExecutable_AndAlwaysNamesTheDataDirectory()
    {
        Assert.True(ClusterLaunchOptions.TryParse([], out var options, out _));

        Assert.EndsWith($" cluster restart 3 --data {options.DataDirectory}", options.RestartCommand(3, frontEnd: null), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/tmp/data", "/tmp/data")]
    [InlineData("/tmp/my data", "'/tmp/my data'")]
    [InlineData("/tmp/it's", "\"/tmp/it's\"")]
    [InlineData("$HOME", "'$HOME'")]
    public void QuoteForShell_LeavesPlainWordsAlone_AndQuotesTheRest(string word, string quoted)
    {
        Assert.Equal(quoted, ClusterLaunchOptions.QuoteForShell(word));
    }

    [Fact]
    public void Restart_TakesANodeIdAndAnOptionalDataDirectory()
    {
        Assert.True(ClusterCommand.TryParseRestart(["2"], out var id, out var data, out _));
        Assert.Equal(2, id);
        Assert.Equal(ClusterLaunchOptions.DefaultDataDirectory, data);

        Assert.True(ClusterCommand.TryParseRestart(["3", "--data", "/tmp/x"], out id, out data, out _));
        Assert.Equal(3, id);
        Assert.Equal(Path.GetFullPath("/tmp/x"), data);
    }

    [Theory]
    [InlineData]
    [InlineData("0")]
    [InlineData("two")]
    [InlineData("2", "3")]
    [InlineData("2", "--data")]
    [InlineData("2", "--nodes", "3")]
    public void Restart_BadArguments_AreRefusedWithAReason(params string[] args)
    {
        Assert.False(ClusterCommand.TryParseRestart(args, out _, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
