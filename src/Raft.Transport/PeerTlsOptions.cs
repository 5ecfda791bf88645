using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Transport;

/// <summary>
/// Mutual TLS between peers: this node's certificate, and what a peer's must be. A peer's certificate is trusted when
/// it chains to one of <see cref="Authorities"/> or its SHA-256 thumbprint is one of <see cref="PinnedThumbprints"/>;
/// it is accepted when, besides, it names the member it speaks for: the DNS name <c>node-&lt;id&gt;</c> (see
/// <see cref="NodeName"/>) in its subject alternative names, or as its common name when it has none.
/// </summary>
public sealed record PeerTlsOptions
{
    /// <summary>This node's certificate with its private key, naming <c>node-&lt;this node's id&gt;</c>; served and presented.</summary>
    public required X509Certificate2 Certificate { get; init; }

    /// <summary>Certificate authorities a peer's certificate may chain to (they are the only roots trusted).</summary>
    public X509Certificate2Collection Authorities { get; init; } = [];

    /// <summary>SHA-256 thumbprints (hex, any case) of peer certificates trusted whoever issued them.</summary>
    public IReadOnlyCollection<string> PinnedThumbprints { get; init; } = [];

    /// <summary>The name a member's certificate carries: <c>node-&lt;id&gt;</c>.</summary>
    public static string NodeName(int nodeId) => FormattableString.Invariant($"node-{nodeId}");

    /// <summary>Null when <paramref name="certificate"/> is trusted (see the type's summary), else why not.</summary>
    internal string? CheckTrust(X509Certificate2 certificate)
    {
        if (PinnedThumbprints.Count > 0)
        {
            var thumbprint = certificate.GetCertHashString(HashAlgorithmName.SHA256);
            if (PinnedThumbprints.Any(pin => string.Equals(pin, thumbprint, StringComparison.OrdinalIgnoreCase)))
            {
                return null;
            }
        }

        if (Authorities.Count == 0)
        {
            return $"its certificate (SHA-256 {certificate.GetCertHashString(HashAlgorithmName.SHA256)}) is not pinned";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        try
        {
            if (chain.Build(certificate))
            {
                return null;
            }

            var problems = string.Join(", ", chain.ChainStatus.Select(status => status.Status.ToString()));
            return $"its certificate ({certificate.Subject}) does not chain to a configured authority: {problems}";
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                element.Certificate.Dispose();
            }
        }
    }

    /// <summary>True when <paramref name="certificate"/> names node <paramref name="nodeId"/>.</summary>
    internal static bool Names(X509Certificate2 certificate, int nodeId) =>
        certificate.MatchesHostname(NodeName(nodeId), allowWildcards: false, allowCommonName: true);

    /// <summary>Null when these options can serve node <paramref name="nodeId"/>, else what is wrong.</summary>
    public string? Problem(int nodeId)
    {
        if (!Certificate.HasPrivateKey)
        {
            return "has a certificate without its private key";
        }

        if (!Names(Certificate, nodeId))
        {
            return $"has a certificate ({Certificate.Subject}) that does not name {NodeName(nodeId)}";
        }

        return Authorities.Count == 0 && PinnedThumbprints.Count == 0
            ? "needs a certificate authority or pinned thumbprints to trust peers by"
            : null;
    }
}
