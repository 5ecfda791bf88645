using Raft.Cluster.Tests;

namespace Raft.Cli.Tests;

/// <summary>raftctl against a cluster the launcher started with <c>--tls</c>: the line it prints works as printed.</summary>
public sealed class RaftCtlTlsTests
{
    [Fact]
    public async Task The_launchers_raftctl_line_reaches_a_tls_cluster_and_without_its_ca_nothing_is_trusted()
    {
        await using var launcher = LauncherProcess.Start(tls: true);
        await launcher.WaitForListingAsync();
        var printed = Assert.Single(launcher.Output.Snapshot(), l => l.StartsWith("raftctl --endpoints ", StringComparison.Ordinal));

        // The printed line, run as it is: every endpoint https, the cluster's CA trusted through --cacert.
        var words = printed.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..];
        var caPath = Path.Combine(launcher.DataDirectory, "tls", "ca.pem");
        Assert.Equal(["--endpoints", string.Join(',', Enumerable.Range(1, 3).Select(id => launcher.Endpoint(id).ToString().TrimEnd('/'))), "--cacert", caPath, "status"], words);
        var status = await RaftCtlProcess.RunAsync(string.Empty, null, words);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Equal(4, status.Lines.Length);
        Assert.Single(status.Lines, l => l.Contains(" leader ", StringComparison.Ordinal));

        // The CA from RAFTCTL_CACERT; the endpoints from RAFTCTL_ENDPOINTS.
        var endpoints = words[1];
        var trusting = new Dictionary<string, string> { ["RAFTCTL_CACERT"] = caPath };
        Assert.Equal(0, (await RaftCtlProcess.RunAsync(endpoints, null, trusting, "put", "cli/tls/k", "over https")).ExitCode);
        Assert.Equal("over https", (await RaftCtlProcess.RunAsync(endpoints, null, trusting, "get", "cli/tls/k")).Out);

        // Without the CA no node is trusted: unavailable within --timeout.
        var untrusted = await RaftCtlProcess.RunAsync(endpoints, null, "--timeout", "3", "get", "cli/tls/k");
        Assert.True(untrusted.ExitCode == 3, untrusted.ToString());
    }
}
