using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Protocol;

/// <summary>
/// HTTPS to a cluster whose certificates a private authority issued (the launcher's <c>--tls</c>, or an operator's own
/// CA): servers are trusted when their certificate chains to one of the given authorities and names the host dialled.
/// One definition for the server's calls to other nodes, the client and the benchmark.
/// </summary>
public static class HttpsTrust
{
    /// <summary>The certificates of a PEM file (one or more <c>BEGIN CERTIFICATE</c> blocks).</summary>
    public static X509Certificate2Collection LoadAuthorities(string pemPath)
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(pemPath);
        if (authorities.Count == 0)
        {
            throw new InvalidDataException($"{pemPath} holds no PEM certificate");
        }

        return authorities;
    }

    /// <summary>Makes <paramref name="handler"/> trust servers by <paramref name="authorities"/> instead of the system's roots.</summary>
    public static void TrustOnly(SocketsHttpHandler handler, X509Certificate2Collection authorities)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(authorities);
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            IsTrusted(certificate as X509Certificate2, errors, authorities);
    }

    /// <summary>
    /// True when <paramref name="certificate"/> names the host (no <see cref="SslPolicyErrors.RemoteCertificateNameMismatch"/>
    /// in <paramref name="errors"/>) and chains to one of <paramref name="authorities"/>.
    /// </summary>
    public static bool IsTrusted(X509Certificate2? certificate, SslPolicyErrors errors, X509Certificate2Collection authorities)
    {
        ArgumentNullException.ThrowIfNull(authorities);
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        try
        {
            return chain.Build(certificate);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                element.Certificate.Dispose();
            }
        }
    }
}
