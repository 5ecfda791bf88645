namespace Raft.Transport;

/// <summary>Why a peer connection was refused during its handshake; counted per reason.</summary>
public enum PeerHandshakeFailure
{
    /// <summary>The TLS negotiation failed (not TLS, no common protocol, or broken).</summary>
    Tls,

    /// <summary>The peer's certificate was missing, untrusted, or did not name the member it speaks for.</summary>
    Certificate,

    /// <summary>The peer did not prove the cluster secret, or proved another one.</summary>
    Secret,

    /// <summary>The hello named another cluster, a node that is not a member, the wrong node, or was malformed.</summary>
    Hello,

    /// <summary>The connection closed or timed out in the middle of the handshake.</summary>
    Incomplete,
}
