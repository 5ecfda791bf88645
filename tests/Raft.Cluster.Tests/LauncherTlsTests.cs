using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Raft.Client;
using Raft.Protocol;
using Raft.Transport;

namespace Raft.Cluster.Tests;

/// <summary>A local cluster started with the launcher's <c>--tls</c>: HTTPS only, and peers only with the cluster's certificates.</summary>
public sealed class LauncherTlsTests
{
    [Fact]
    public async Task A_tls_cluster_serves_only_https_to_clients_trusting_its_ca_forwards_over_https_and_refuses_a_peer_without_its_certificate()
    {
        await using var launcher = LauncherProcess.Start(tls: true);
        var leader = await launcher.WaitForListingAsync();
        var follower = (leader % 3) + 1;
        var other = (follower % 3) + 1;
        Assert.NotEqual(leader, other);

        var caPath = Path.Combine(launcher.DataDirectory, "tls", "ca.pem");
        Assert.Contains(launcher.Output.Snapshot(), l => l.StartsWith("TLS: ", StringComparison.Ordinal) && l.Contains($"--cacert {caPath}", StringComparison.Ordinal));
        var authorities = HttpsTrust.LoadAuthorities(caPath);

        // The .NET client, trusting the generated CA, writes and reads; it is given only a follower, so the write is
        // forwarded to the leader over HTTPS.
        using (var client = new RaftKvClient([launcher.Endpoint(follower)], new RaftKvClientOptions { TrustedAuthorities = authorities }))
        {
            var put = await client.PutAsync("tls/a", "over https");
            Assert.True(put.Index > 0);
            var read = await client.GetAsync("tls/a");
            Assert.Equal("over https", read?.ValueAsString());
        }

        // A plain HTTP client trusting the CA: a follower forwards the write to the leader, another follower reads it.
        using (var https = CreateHttpClient(authorities))
        {
            using var put = await https.PutAsync(new Uri(launcher.Endpoint(other), "/v1/kv/tls/b"), new StringContent("forwarded"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            Assert.Equal(leader.ToString(CultureInfo.InvariantCulture), put.Headers.GetValues(ApiHeaders.Leader).Single());
            using var read = await https.GetAsync(new Uri(launcher.Endpoint(follower), "/v1/kv/tls/b"));
            Assert.Equal("forwarded", await read.Content.ReadAsStringAsync());
        }

        // Not served: plain HTTP on the same port, and HTTPS to a client that does not trust the CA.
        using (var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(new Uri($"http://127.0.0.1:{launcher.BasePort + leader - 1}/v1/cluster")));
            var untrusted = await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(new Uri(launcher.Endpoint(leader), "/v1/cluster")));
            Assert.IsType<AuthenticationException>(untrusted.InnerException);
        }

        // A peer with a certificate of its own making, naming a member, dials a node's peer port and is closed.
        var peerPort = launcher.PeerBasePort + leader - 1;
        var before = await HandshakeFailuresAsync(launcher.Endpoint(leader), authorities, "certificate");
        using var strangerCa = PeerCertificates.CreateAuthority("stranger CA", TimeSpan.FromHours(1));
        using var stranger = PeerCertificates.IssueNode(strangerCa, follower, ["127.0.0.1"], TimeSpan.FromHours(1));
        Assert.True(await IsRefusedAsync(peerPort, stranger, leader), "the node's peer port kept a connection with a stranger's certificate");
        var after = await WaitForAsync(() => HandshakeFailuresAsync(launcher.Endpoint(leader), authorities, "certificate"), count => count > before);
        Assert.True(after > before, $"raft_peer_handshake_failures_total{{reason=\"certificate\"}} stayed at {before}");

        // The cluster carries on.
        using (var client = new RaftKvClient([launcher.Endpoint(leader)], new RaftKvClientOptions { TrustedAuthorities = authorities }))
        {
            Assert.True((await client.PutAsync("tls/c", "still running")).Index > 0);
        }

        Assert.Equal(0, await launcher.StopAsync());
    }

    private static HttpClient CreateHttpClient(X509Certificate2Collection authorities)
    {
        var handler = new SocketsHttpHandler();
        HttpsTrust.TrustOnly(handler, authorities);
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
    }

    // A TLS client with the given certificate on the peer port, sending a hello; true when the node closes it.
    private static async Task<bool> IsRefusedAsync(int peerPort, X509Certificate2 certificate, int nodeId)
    {
        using var timeout = new CancellationTokenSource(ProcessCluster.Patience);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, peerPort), timeout.Token);
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        try
        {
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = PeerTlsOptions.NodeName(nodeId),
                    ClientCertificates = [certificate],

                    // The stranger does not care who answers; the node is the one that must care.
                    RemoteCertificateValidationCallback = (_, served, _, _) => served is not null,
                },
                timeout.Token);

            // The start of a hello's header (magic, version 2, type 0x80), should TLS let the stranger this far.
            await ssl.WriteAsync(new byte[] { 0x52, 0x41, 0x46, 0x54, 2, 0x80, 0, 0 }, timeout.Token);
            return await ssl.ReadAsync(new byte[64], timeout.Token) == 0;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            return true;
        }
    }

    private static async Task<long> HandshakeFailuresAsync(Uri endpoint, X509Certificate2Collection authorities, string reason)
    {
        using var https = CreateHttpClient(authorities);
        var metrics = await https.GetStringAsync(new Uri(endpoint, "/metrics"));
        var match = Regex.Match(metrics, $"^raft_peer_handshake_failures_total\\{{reason=\"{reason}\"\\}} (\\d+)$", RegexOptions.Multiline);
        Assert.True(match.Success, "no raft_peer_handshake_failures_total in /metrics");
        return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    // The refusal is counted as the node closes the connection, which the client may see first.
    private static async Task<long> WaitForAsync(Func<Task<long>> read, Func<long, bool> done)
    {
        using var deadline = new CancellationTokenSource(ProcessCluster.Patience);
        var value = await read();
        while (!done(value) && !deadline.IsCancellationRequested)
        {
            await Task.Delay(50, CancellationToken.None);
            value = await read();
        }

        return value;
    }
}
