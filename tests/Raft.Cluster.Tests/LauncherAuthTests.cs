using System.Net;
using System.Net.Http.Headers;
using Raft.Protocol;

namespace Raft.Cluster.Tests;

/// <summary>A local cluster whose nodes have API tokens: the launcher's own calls carry the token of RAFT_TOKEN.</summary>
public sealed class LauncherAuthTests
{
    private const string AdminToken = "ops-launcher-4c1d9e7a2b";

    [Fact]
    public async Task With_tokens_passed_to_the_nodes_the_launcher_finds_the_leader_with_the_token_of_RAFT_TOKEN()
    {
        await using var launcher = LauncherProcess.Start(
            environment: new Dictionary<string, string> { [ApiHeaders.TokenVariable] = AdminToken },
            nodeArguments: ["--Node:Auth:Tokens:0:Name=ops", $"--Node:Auth:Tokens:0:Token={AdminToken}", "--Node:Auth:Tokens:0:Roles:0=admin"]);

        // The listing ends with the leader, which the launcher learns from the nodes' /v1/cluster: with tokens on, only
        // a request carrying one is answered.
        var leader = await launcher.WaitForListingAsync();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using (var anonymous = await http.GetAsync(new Uri(launcher.Endpoint(leader), "/v1/cluster")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(launcher.Endpoint(leader), "/v1/cluster"));
        request.Headers.Authorization = new AuthenticationHeaderValue(ApiHeaders.BearerScheme, AdminToken);
        using var status = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);

        Assert.Equal(0, await launcher.StopAsync());
    }
}
