namespace Raft.Server;

/// <summary>
/// The section <c>Node:Tls</c>: this node's certificate and key (PEM), and what a peer's certificate must chain to
/// (<see cref="CaPath"/>) or be (<see cref="PinnedThumbprints"/>). The certificate must name <c>node-&lt;id&gt;</c>; a
/// peer's must name the member it speaks for. It also serves this node's https:// endpoint, unless Kestrel's own
/// configuration (<c>Kestrel:Certificates:Default</c>) gives one, and the CA is what the node trusts when it calls
/// another node over HTTPS.
/// </summary>
public sealed class NodeTlsOptions
{
    /// <summary>This node's certificate, PEM; peer TLS is on when it is set.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>Its private key, PEM (PKCS#8, or the key block in <see cref="CertificatePath"/> when not set).</summary>
    public string? KeyPath { get; set; }

    /// <summary>PEM file of the certificate authorities peers' certificates (and other nodes' HTTPS) must chain to.</summary>
    public string? CaPath { get; set; }

    /// <summary>SHA-256 thumbprints (hex) of peer certificates trusted whoever issued them.</summary>
    public List<string> PinnedThumbprints { get; set; } = [];

    /// <summary>True when peer TLS is configured.</summary>
    public bool Enabled => !string.IsNullOrEmpty(CertificatePath);

    internal void Validate(List<string> errors)
    {
        if (!Enabled)
        {
            if (!string.IsNullOrEmpty(KeyPath) || !string.IsNullOrEmpty(CaPath) || PinnedThumbprints.Count > 0)
            {
                errors.Add("Node:Tls:KeyPath, CaPath and PinnedThumbprints need Node:Tls:CertificatePath (this node's certificate)");
            }

            return;
        }

        if (string.IsNullOrEmpty(CaPath) && PinnedThumbprints.Count == 0)
        {
            errors.Add("Node:Tls needs Node:Tls:CaPath or Node:Tls:PinnedThumbprints: what a peer's certificate must chain to or be");
        }

        foreach (var pin in PinnedThumbprints)
        {
            if (pin.Length != 64 || !pin.All(char.IsAsciiHexDigit))
            {
                errors.Add($"Node:Tls:PinnedThumbprints must be SHA-256 thumbprints, 64 hex digits (got '{pin}')");
            }
        }
    }
}
