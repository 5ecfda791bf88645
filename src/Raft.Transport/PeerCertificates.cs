using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Transport;

/// <summary>
/// Makes throwaway certificates for a local cluster or a test: a certificate authority, and per node a certificate it
/// signs that names the node (<see cref="PeerTlsOptions.NodeName"/>) and the hosts it serves HTTPS on. ECDSA P-256,
/// usable as both TLS server and client. Not a substitute for a real CA's lifecycle (no revocation, no rotation).
/// </summary>
public static class PeerCertificates
{
    /// <summary>A self-signed authority with its private key, valid from an hour ago for <paramref name="lifetime"/>.</summary>
    public static X509Certificate2 CreateAuthority(string name, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + name), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddHours(-1), now + lifetime);
    }

    /// <summary>
    /// A certificate with its private key, signed by <paramref name="authority"/>, naming <paramref name="dnsNames"/>
    /// (the first is also its common name) and <paramref name="addresses"/>.
    /// </summary>
    public static X509Certificate2 Issue(X509Certificate2 authority, IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses, TimeSpan lifetime)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(dnsNames);
        ArgumentNullException.ThrowIfNull(addresses);
        ArgumentOutOfRangeException.ThrowIfZero(dnsNames.Count, nameof(dnsNames));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + dnsNames[0]), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication"), new Oid("1.3.6.1.5.5.7.3.2", "Client Authentication")], critical: false));
        var names = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            names.AddDnsName(name);
        }

        foreach (var address in addresses)
        {
            names.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(names.Build());
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + lifetime;
        if (notAfter > authority.NotAfter)
        {
            notAfter = authority.NotAfter;
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(authority, now.AddHours(-1), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>A node's certificate: it names <c>node-&lt;id&gt;</c>, then <paramref name="hosts"/> (DNS names or IP literals).</summary>
    public static X509Certificate2 IssueNode(X509Certificate2 authority, int nodeId, IEnumerable<string> hosts, TimeSpan lifetime)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        var dns = new List<string> { PeerTlsOptions.NodeName(nodeId) };
        var addresses = new List<IPAddress>();
        foreach (var host in hosts.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (IPAddress.TryParse(host, out var address))
            {
                addresses.Add(address);
            }
            else
            {
                dns.Add(host);
            }
        }

        return Issue(authority, dns, addresses, lifetime);
    }
}
