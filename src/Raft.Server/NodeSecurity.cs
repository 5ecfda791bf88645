using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Raft.Protocol;
using Raft.Transport;

namespace Raft.Server;

/// <summary>
/// What <see cref="NodeOptions.Tls"/> and the cluster secret name, read from their files once at start: the peer
/// transport's TLS and secret, the certificate HTTPS serves, and the authorities calls to other nodes trust.
/// </summary>
internal sealed class NodeSecurity
{
    private NodeSecurity(PeerTlsOptions? peerTls, byte[]? clusterSecret, X509Certificate2Collection authorities)
    {
        PeerTls = peerTls;
        ClusterSecret = clusterSecret;
        Authorities = authorities;
    }

    /// <summary>Peer TLS; null when not configured.</summary>
    public PeerTlsOptions? PeerTls { get; }

    /// <summary>The cluster secret's bytes; null when not configured.</summary>
    public byte[]? ClusterSecret { get; }

    /// <summary>The authorities of <see cref="NodeTlsOptions.CaPath"/> (empty: calls to other nodes use the system's roots).</summary>
    public X509Certificate2Collection Authorities { get; }

    /// <summary>True when peers prove nothing: no TLS and no secret.</summary>
    public bool PeersUnauthenticated => PeerTls is null && ClusterSecret is null;

    /// <summary>Reads the files; <see cref="NodeConfigurationException"/> names the one that cannot be used.</summary>
    public static NodeSecurity Load(NodeOptions options)
    {
        var tls = options.Tls;
        var authorities = new X509Certificate2Collection();
        PeerTlsOptions? peerTls = null;
        if (tls.Enabled)
        {
            X509Certificate2 certificate;
            try
            {
                certificate = X509Certificate2.CreateFromPemFile(tls.CertificatePath!, string.IsNullOrEmpty(tls.KeyPath) ? null : tls.KeyPath);
                if (!string.IsNullOrEmpty(tls.CaPath))
                {
                    authorities = HttpsTrust.LoadAuthorities(tls.CaPath);
                }
            }
            catch (Exception ex) when (ex is IOException or CryptographicException or UnauthorizedAccessException or ArgumentException or InvalidDataException)
            {
                throw new NodeConfigurationException($"invalid configuration: Node:Tls: {ex.Message}", ex);
            }

            peerTls = new PeerTlsOptions { Certificate = certificate, Authorities = authorities, PinnedThumbprints = tls.PinnedThumbprints };
            if (peerTls.Problem(options.Id) is { } problem)
            {
                throw new NodeConfigurationException($"invalid configuration: Node:Tls {problem}");
            }
        }

        return new NodeSecurity(peerTls, ReadSecret(options), authorities);
    }

    /// <summary>A handler for calls to other nodes: no redirects followed, and HTTPS trusting <see cref="Authorities"/> when given.</summary>
    public SocketsHttpHandler CreateHandler()
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        if (Authorities.Count > 0)
        {
            HttpsTrust.TrustOnly(handler, Authorities);
        }

        return handler;
    }

    private static byte[]? ReadSecret(NodeOptions options)
    {
        if (!string.IsNullOrEmpty(options.ClusterSecret))
        {
            return Encoding.UTF8.GetBytes(options.ClusterSecret);
        }

        if (string.IsNullOrEmpty(options.ClusterSecretFile))
        {
            return null;
        }

        byte[] secret;
        try
        {
            secret = File.ReadAllBytes(options.ClusterSecretFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new NodeConfigurationException($"invalid configuration: Node:ClusterSecretFile: {ex.Message}", ex);
        }

        // An editor's trailing newline is not part of the secret.
        var length = secret.Length;
        while (length > 0 && secret[length - 1] is (byte)'\n' or (byte)'\r')
        {
            length--;
        }

        if (length < TcpPeerTransportOptions.ClusterSecretBytesMin)
        {
            throw new NodeConfigurationException($"invalid configuration: Node:ClusterSecretFile must hold at least {TcpPeerTransportOptions.ClusterSecretBytesMin} bytes");
        }

        return secret[..length];
    }
}
