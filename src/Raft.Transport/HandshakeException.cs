namespace Raft.Transport;

/// <summary>A peer's handshake named the wrong cluster or node, or the connection ended before it completed.</summary>
internal sealed class HandshakeException(string message) : Exception(message);
