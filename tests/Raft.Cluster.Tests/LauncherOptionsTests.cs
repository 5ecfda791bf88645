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
}
