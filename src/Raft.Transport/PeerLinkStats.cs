namespace Raft.Transport;

/// <summary>What the transport counted for one peer since the peer was added (read for metrics).</summary>
/// <param name="Peer">The peer's id.</param>
/// <param name="DroppedMessages">Messages not queued for the peer: its send queue full or closed, or too large for a frame.</param>
/// <param name="Reconnects">Connections established with the peer after the first one, either direction.</param>
public readonly record struct PeerLinkStats(int Peer, long DroppedMessages, long Reconnects);
