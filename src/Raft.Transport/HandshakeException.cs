namespace Raft.Transport;

/// <summary>A peer's handshake failed: <see cref="Reason"/> says in which way, the message in detail.</summary>
internal sealed class HandshakeException(PeerHandshakeFailure reason, string message) : Exception(message)
{
    public PeerHandshakeFailure Reason { get; } = reason;
}
