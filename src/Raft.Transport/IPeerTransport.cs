using Raft.Core;

namespace Raft.Transport;

/// <summary>
/// Carries Raft messages between the nodes of one cluster. Implementations: <c>TcpPeerTransport</c> (TCP, binary
/// frames) for servers, and in-memory ones for tests.
/// </summary>
/// <remarks>
/// Threading: <see cref="Send"/> is called from the node loop's single thread and never blocks on the network.
/// <see cref="IPeerMessageSink"/> callbacks arrive on transport threads; the sink hands them to the node loop.
/// </remarks>
public interface IPeerTransport : IAsyncDisposable
{
    /// <summary>Starts listening and connecting to the peers.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Queues <paramref name="message"/> for its peer (<see cref="Message.To"/>). The message, its entries, any
    /// snapshot and any chunk's data are encoded or copied before this returns, so the caller may release them.
    /// Returns false when it was dropped (unknown peer, or that peer's bounded send queue is full): Raft retransmits.
    /// </summary>
    bool Send(in Message message);

    /// <summary>Replaces the set of peers (after a membership change); connections to removed peers close.</summary>
    void SetPeers(IReadOnlyDictionary<int, string> peers);
}

/// <summary>Where a transport delivers what it receives.</summary>
public interface IPeerMessageSink
{
    /// <summary>
    /// A message from a peer. Its entries' payloads, its snapshot and a chunk's data stay valid for as long as they
    /// are referenced: the core keeps entries in its log, the node driver a chunk until it is written.
    /// </summary>
    void OnMessage(in Message message);

    /// <summary>An established connection to <paramref name="peerId"/> broke and a reconnect was refused.</summary>
    void OnPeerUnreachable(int peerId);
}
