using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Raft.Protocol;
using Raft.Transport;

namespace Raft.Server.Launcher;

/// <summary>
/// The throwaway certificates of a local cluster started with <c>--tls</c>, under <c>DIR/tls</c> (or
/// <see cref="ClusterLaunchOptions.TlsDirectory"/>): a certificate
/// authority (<c>ca.pem</c>, its key <c>ca.key</c>) and per node <c>node-&lt;id&gt;.pem</c> and <c>.key</c>, naming
/// <c>node-&lt;id&gt;</c> (for peers), <c>localhost</c> and <c>127.0.0.1</c> (for HTTPS). Made once and kept with the
/// data, so a node restarted later, or added, is trusted by the others. Keys are readable by their owner only.
/// </summary>
public static class ClusterTls
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(365);

    /// <summary>Where a cluster on <paramref name="dataDirectory"/> keeps them by default.</summary>
    public static string DirectoryOf(string dataDirectory) => Path.Combine(dataDirectory, "tls");

    /// <summary>The authority's certificate: what a client trusts (<c>curl --cacert</c>).</summary>
    public static string AuthorityPath(string tlsDirectory) => Path.Combine(tlsDirectory, "ca.pem");

    public static string CertificatePath(string tlsDirectory, int id) => Path.Combine(tlsDirectory, $"node-{id}.pem");

    public static string KeyPath(string tlsDirectory, int id) => Path.Combine(tlsDirectory, $"node-{id}.key");

    /// <summary>
    /// Makes the authority, unless there is one, and node <paramref name="ids"/>'s certificates that are missing; a new
    /// authority reissues them all, since the certificates an earlier one signed no longer chain to it.
    /// </summary>
    public static void Ensure(string tlsDirectory, IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        Directory.CreateDirectory(tlsDirectory);
        var authorityKeyPath = Path.Combine(tlsDirectory, "ca.key");
        X509Certificate2 authority;
        var newAuthority = !(File.Exists(AuthorityPath(tlsDirectory)) && File.Exists(authorityKeyPath));
        if (newAuthority)
        {
            authority = PeerCertificates.CreateAuthority($"raft-kv local cluster CA {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss}", Lifetime);
            WritePrivate(authorityKeyPath, PrivateKeyPem(authority));
            File.WriteAllText(AuthorityPath(tlsDirectory), authority.ExportCertificatePem() + "\n");
        }
        else
        {
            authority = X509Certificate2.CreateFromPemFile(AuthorityPath(tlsDirectory), authorityKeyPath);
        }

        using (authority)
        {
            foreach (var id in ids)
            {
                if (!newAuthority && File.Exists(CertificatePath(tlsDirectory, id)) && File.Exists(KeyPath(tlsDirectory, id)))
                {
                    continue;
                }

                using var certificate = PeerCertificates.IssueNode(authority, id, ["localhost", "127.0.0.1"], Lifetime);
                WritePrivate(KeyPath(tlsDirectory, id), PrivateKeyPem(certificate));
                File.WriteAllText(CertificatePath(tlsDirectory, id), certificate.ExportCertificatePem() + "\n");
            }
        }
    }

    /// <summary>The node options that turn on peer TLS and give its HTTPS endpoint a certificate.</summary>
    public static IEnumerable<string> NodeArguments(string tlsDirectory, int id) =>
    [
        $"--Node:Tls:CertificatePath={CertificatePath(tlsDirectory, id)}",
        $"--Node:Tls:KeyPath={KeyPath(tlsDirectory, id)}",
        $"--Node:Tls:CaPath={AuthorityPath(tlsDirectory)}",
    ];

    /// <summary>
    /// An HTTP client handler for the launcher's own calls to its nodes: it trusts the cluster's authority when
    /// <paramref name="tlsDirectory"/> holds one, so it works with and without <c>--tls</c>.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(string tlsDirectory)
    {
        ArgumentNullException.ThrowIfNull(tlsDirectory);
        var handler = new SocketsHttpHandler();
        if (File.Exists(AuthorityPath(tlsDirectory)))
        {
            HttpsTrust.TrustOnly(handler, HttpsTrust.LoadAuthorities(AuthorityPath(tlsDirectory)));
        }

        return handler;
    }

    /// <summary>
    /// An HTTP client for the launcher's own calls to its nodes: <see cref="CreateHandler"/>'s trust, and the API token
    /// of <see cref="ApiHeaders.TokenVariable"/> when it is set (a cluster started with <c>-- --Node:Auth:...</c>).
    /// </summary>
    public static HttpClient CreateClient(string tlsDirectory, TimeSpan timeout)
    {
        var http = new HttpClient(CreateHandler(tlsDirectory)) { Timeout = timeout };
        if (Environment.GetEnvironmentVariable(ApiHeaders.TokenVariable) is { Length: > 0 } token)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(ApiHeaders.BearerScheme, token);
        }

        return http;
    }

    private static string PrivateKeyPem(X509Certificate2 certificate)
    {
        using var key = certificate.GetECDsaPrivateKey() ?? throw new CryptographicException("the certificate has no ECDSA private key");
        return key.ExportPkcs8PrivateKeyPem() + "\n";
    }

    private static void WritePrivate(string path, string contents)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var writer = new StreamWriter(path, System.Text.Encoding.ASCII, options);
        writer.Write(contents);
    }
}
