using System.Net.Security;
using System.Text;
using Raft.Protocol;
using Raft.Transport;

namespace Raft.Server.Tests;

/// <summary>Node:Tls and the cluster secret: what the configuration refuses, and what is read from the files.</summary>
public sealed class NodeSecurityTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"raft-security-{Guid.NewGuid():N}");

    public NodeSecurityTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Configuration_refuses_tls_without_anything_to_trust_peers_by_two_secrets_a_short_secret_and_a_bad_pin()
    {
        Assert.Contains(Errors(o => o.Tls.CertificatePath = "node-1.pem"), e => e.Contains("Node:Tls:CaPath or Node:Tls:PinnedThumbprints", StringComparison.Ordinal));
        Assert.Contains(Errors(o => o.Tls.CaPath = "ca.pem"), e => e.Contains("need Node:Tls:CertificatePath", StringComparison.Ordinal));
        Assert.Contains(Errors(o => { o.ClusterSecret = "0123456789abcdef"; o.ClusterSecretFile = "secret"; }), e => e.Contains("give one of the two", StringComparison.Ordinal));
        Assert.Contains(Errors(o => o.ClusterSecret = "short"), e => e.Contains("Node:ClusterSecret must be at least 16 bytes", StringComparison.Ordinal));
        Assert.Contains(Errors(o => { o.Tls.CertificatePath = "node-1.pem"; o.Tls.PinnedThumbprints = ["abc"]; }), e => e.Contains("64 hex digits", StringComparison.Ordinal));
        Assert.Empty(Errors(o => o.ClusterSecret = "0123456789abcdef"));
    }

    [Fact]
    public void A_secret_file_loses_its_trailing_newline_and_a_short_one_is_refused()
    {
        var path = Path.Combine(_directory, "secret");
        File.WriteAllText(path, "correct horse battery staple\n");
        var security = NodeSecurity.Load(Options(o => o.ClusterSecretFile = path));
        Assert.Equal(Encoding.UTF8.GetBytes("correct horse battery staple"), security.ClusterSecret);
        Assert.False(security.PeersUnauthenticated);

        File.WriteAllText(path, "too short\n");
        var error = Assert.Throws<NodeConfigurationException>(() => NodeSecurity.Load(Options(o => o.ClusterSecretFile = path)));
        Assert.Contains("at least 16 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_tls_or_a_secret_peers_are_unauthenticated()
    {
        var security = NodeSecurity.Load(Options(_ => { }));
        Assert.True(security.PeersUnauthenticated);
        Assert.Null(security.PeerTls);
    }

    [Fact]
    public void Launcher_certificates_load_as_peer_tls_and_a_certificate_of_another_node_is_refused()
    {
        Launcher.ClusterTls.Ensure(_directory, [1, 2]);
        var tls = NodeSecurity.Load(Options(o => Use(o, certificateOf: 1))).PeerTls;
        Assert.NotNull(tls);
        Assert.True(tls.Certificate.HasPrivateKey);
        Assert.Single(tls.Authorities);

        var error = Assert.Throws<NodeConfigurationException>(() => NodeSecurity.Load(Options(o => Use(o, certificateOf: 2))));
        Assert.Contains($"does not name {PeerTlsOptions.NodeName(1)}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_new_launcher_authority_reissues_the_node_certificates_an_earlier_one_signed()
    {
        Launcher.ClusterTls.Ensure(_directory, [1]);
        File.Delete(Launcher.ClusterTls.AuthorityPath(_directory));

        Launcher.ClusterTls.Ensure(_directory, [1]);
        var tls = NodeSecurity.Load(Options(o => Use(o, certificateOf: 1))).PeerTls;
        Assert.NotNull(tls);
        Assert.True(HttpsTrust.IsTrusted(tls.Certificate, SslPolicyErrors.None, tls.Authorities), "node 1's certificate does not chain to the new authority");
    }

    private void Use(NodeOptions options, int certificateOf)
    {
        options.Tls.CertificatePath = Launcher.ClusterTls.CertificatePath(_directory, certificateOf);
        options.Tls.KeyPath = Launcher.ClusterTls.KeyPath(_directory, certificateOf);
        options.Tls.CaPath = Launcher.ClusterTls.AuthorityPath(_directory);
    }

    private static List<string> Errors(Action<NodeOptions> configure) => Options(configure).Validate();

    private static NodeOptions Options(Action<NodeOptions> configure)
    {
        var options = new NodeOptions
        {
            Id = 1,
            Peers = new() { [1] = "127.0.0.1:7101" },
            HttpEndpoints = new() { [1] = "http://127.0.0.1:5101" },
        };
        configure(options);
        return options;
    }
}
