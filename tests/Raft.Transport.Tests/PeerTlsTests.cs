using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Raft.Core;

namespace Raft.Transport.Tests;

/// <summary>Mutual TLS between peers: who gets in, who is refused before any frame is read, and that the node carries on.</summary>
public sealed class PeerTlsTests
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(1);
    private static readonly X509Certificate2 Authority = PeerCertificates.CreateAuthority("cluster test CA", Lifetime);
    private static readonly X509Certificate2 ForeignAuthority = PeerCertificates.CreateAuthority("another CA", Lifetime);

    [Fact]
    public async Task Peers_with_certificates_from_the_configured_authority_exchange_messages_both_ways()
    {
        await using var a = await StartTlsAsync(1);
        await using var b = await StartTlsAsync(2);
        TestNode.Introduce(a, b);

        await a.DeliverAsync(b, context: 1);
        await b.DeliverAsync(a, context: 2);
        var entries = new[] { new Entry(1, 5, EntryType.Command, new byte[] { 9, 8, 7 }) };
        Assert.True(a.Transport.Send(new Message { Type = MessageType.Append, From = 1, To = 2, Term = 1, Index = 4, LogTerm = 1, Commit = 3, Entries = entries }));
        await b.Sink.WaitForMessageAsync(m => m.Type == MessageType.Append);
        Assert.Equal(new byte[] { 9, 8, 7 }, b.Sink.Messages.Single(m => m.Type == MessageType.Append).Entries.Span[0].Data.ToArray());
        Assert.All(Enum.GetValues<PeerHandshakeFailure>(), reason => Assert.Equal(0, a.Transport.HandshakeFailures(reason) + b.Transport.HandshakeFailures(reason)));
    }

    [Fact]
    public async Task Pinned_thumbprints_trust_a_peer_whatever_issued_its_certificate()
    {
        var certificate1 = Issue(ForeignAuthority, 1);
        var certificate2 = Issue(ForeignAuthority, 2);
        await using var a = await StartTlsAsync(1, certificate1, pins: [Thumbprint(certificate2)]);
        await using var b = await StartTlsAsync(2, certificate2, pins: [Thumbprint(certificate1)]);
        TestNode.Introduce(a, b);

        await a.DeliverAsync(b, context: 1);
        await b.DeliverAsync(a, context: 2);
    }

    [Fact]
    public async Task A_peer_with_a_certificate_from_another_authority_is_refused_and_the_node_still_talks_to_good_peers()
    {
        // Node 1 is a member by id, but its certificate comes from another authority: it dials 2 and 3 and is refused.
        await using var impostor = await StartTlsAsync(1, Issue(ForeignAuthority, 1), authorities: [ForeignAuthority]);
        await using var b = await StartTlsAsync(2);
        await using var c = await StartTlsAsync(3);
        TestNode.Introduce(impostor, b, c);
        impostor.Transport.Send(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1, Context = 666 });

        await b.Log.WaitForAsync(LogEvents.Refused, text => text.Contains("does not chain to a configured authority", StringComparison.Ordinal));
        await b.DeliverAsync(c, context: 1);
        await c.DeliverAsync(b, context: 2);

        Assert.True(b.Transport.HandshakeFailures(PeerHandshakeFailure.Certificate) >= 1);
        Assert.DoesNotContain(b.Sink.Messages, m => m.From == 1);
        Assert.DoesNotContain(c.Sink.Messages, m => m.From == 1);
        Assert.False(b.Transport.IsConnected(1));
    }

    [Fact]
    public async Task A_certificate_naming_a_non_member_is_refused_before_any_frame_is_read()
    {
        await using var b = await StartTlsAsync(2);
        b.Transport.SetPeers(new Dictionary<int, string> { [1] = "127.0.0.1:1", [2] = b.Address });

        // Signed by the right authority, but for node 9, which is not a member; the hello claims node 1 all the same.
        await AssertRefusedAsync(b, Issue(Authority, 9), helloId: 1);

        // The refusal is logged after it is counted, and may reach the client before either.
        await b.Log.WaitForAsync(LogEvents.Refused, text => text.Contains("names no member", StringComparison.Ordinal));
        Assert.Equal(1, b.Transport.HandshakeFailures(PeerHandshakeFailure.Certificate));
    }

    [Fact]
    public async Task A_certificate_naming_another_member_than_the_hello_is_refused()
    {
        await using var b = await StartTlsAsync(2);
        b.Transport.SetPeers(new Dictionary<int, string> { [1] = "127.0.0.1:1", [2] = b.Address, [3] = "127.0.0.1:1" });

        // Node 3's certificate speaking as node 1.
        await AssertRefusedAsync(b, Issue(Authority, 3), helloId: 1);

        // The refusal is logged after it is counted, and may reach the client before either.
        await b.Log.WaitForAsync(LogEvents.Refused, text => text.Contains("does not name node-1", StringComparison.Ordinal));
        Assert.Equal(1, b.Transport.HandshakeFailures(PeerHandshakeFailure.Certificate));
    }

    [Fact]
    public async Task A_peer_without_a_certificate_is_refused()
    {
        await using var b = await StartTlsAsync(2);
        b.Transport.SetPeers(new Dictionary<int, string> { [1] = "127.0.0.1:1", [2] = b.Address });

        await AssertRefusedAsync(b, clientCertificate: null, helloId: 1);

        // The refusal is logged after it is counted, and may reach the client before either.
        await b.Log.WaitForAsync(LogEvents.Refused, text => text.Contains("no certificate", StringComparison.Ordinal));
        Assert.Equal(1, b.Transport.HandshakeFailures(PeerHandshakeFailure.Certificate));
    }

    [Fact]
    public async Task A_peer_speaking_plain_tcp_to_a_tls_node_is_refused()
    {
        await using var plain = await TestNode.StartAsync(1);
        await using var b = await StartTlsAsync(2);
        TestNode.Introduce(plain, b);
        plain.Transport.Send(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1, Context = 5 });

        await b.Log.WaitForAsync(LogEvents.Refused);
        Assert.True(b.Transport.HandshakeFailures(PeerHandshakeFailure.Tls) >= 1);
        Assert.Empty(b.Sink.Messages);
    }

    [Fact]
    public void Options_refuse_a_certificate_that_does_not_name_the_node_or_nothing_to_trust_peers_by()
    {
        var options = Options(1, Issue(Authority, 2), [Authority], []);
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("does not name node-1", error.Message, StringComparison.Ordinal);

        options = Options(1, Issue(Authority, 1), [], []);
        error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("certificate authority or pinned thumbprints", error.Message, StringComparison.Ordinal);
    }

    // Connects as a TLS client presenting clientCertificate, sends a hello and a heartbeat, and expects the node to
    // close the connection without delivering anything.
    private static async Task AssertRefusedAsync(TestNode node, X509Certificate2? clientCertificate, int helloId)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Wait);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(node.Transport.LocalEndPoint!, timeout.Token);
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        var closed = false;
        try
        {
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = PeerTlsOptions.NodeName(node.Id),
                    ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is X509Certificate2 served && PeerTlsOptions.Names(served, node.Id),
                },
                timeout.Token);
            using (var frames = new PooledBufferWriter(512))
            {
                FrameCodec.WriteHello(frames, helloId, "test"u8);
                FrameCodec.Write(frames, new Message { Type = MessageType.Heartbeat, From = helloId, To = node.Id, Term = 1, Context = 77 }, FrameLimits.Default);
                await ssl.WriteAsync(frames.WrittenMemory, timeout.Token);
            }

            var buffer = new byte[512];
            closed = await ssl.ReadAsync(buffer, timeout.Token) == 0;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            // TLS 1.2 refuses in the handshake; under TLS 1.3 the refusal arrives as an alert on the first read.
            closed = true;
        }

        Assert.True(closed, "the node answered instead of closing the connection");
        Assert.Empty(node.Sink.Messages);
        Assert.False(node.Transport.IsConnected(helloId));
    }

    private static Task<TestNode> StartTlsAsync(int id, X509Certificate2? certificate = null, X509Certificate2[]? authorities = null, string[]? pins = null) =>
        TestNode.StartAsync(id, configure: o => o with
        {
            Tls = new PeerTlsOptions
            {
                Certificate = certificate ?? Issue(Authority, id),
                Authorities = pins is null ? [.. authorities ?? [Authority]] : [],
                PinnedThumbprints = pins ?? [],
            },
        });

    private static TcpPeerTransportOptions Options(int id, X509Certificate2 certificate, X509Certificate2[] authorities, string[] pins) => new()
    {
        NodeId = id,
        ClusterId = "test",
        ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        Tls = new PeerTlsOptions { Certificate = certificate, Authorities = [.. authorities], PinnedThumbprints = pins },
    };

    private static X509Certificate2 Issue(X509Certificate2 authority, int nodeId) =>
        PeerCertificates.IssueNode(authority, nodeId, ["localhost", "127.0.0.1"], Lifetime);

    private static string Thumbprint(X509Certificate2 certificate) => certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256);
}
