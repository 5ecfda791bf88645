using System.Net;
using System.Text;

namespace Raft.Transport;

/// <summary>Configuration of one node's <see cref="TcpPeerTransport"/>; checked by <see cref="Validate"/> at start.</summary>
public sealed record TcpPeerTransportOptions
{
    /// <summary>This node's id (positive). Of two peers, the one with the lower id dials the other.</summary>
    public required int NodeId { get; init; }

    /// <summary>Names the cluster in the handshake (1..255 bytes of UTF-8): peers of another cluster are refused.</summary>
    public required string ClusterId { get; init; }

    /// <summary>Where to listen for peers. Port 0 lets the OS choose; see <see cref="TcpPeerTransport.LocalEndPoint"/>.</summary>
    public required IPEndPoint ListenEndPoint { get; init; }

    /// <summary>
    /// Largest frame sent or accepted, header included. Must exceed the core's message byte limit, the largest snapshot
    /// sent whole, and a snapshot chunk's data by 72 bytes (its header and fixed fields).
    /// </summary>
    public int FrameBytesMax { get; init; } = FrameLimits.DefaultFrameBytesMax;

    /// <summary>Most entries one Append frame may carry.</summary>
    public int EntriesPerFrameMax { get; init; } = FrameLimits.DefaultEntriesPerFrameMax;

    /// <summary>Messages waiting for one peer; more are dropped (Raft retransmits).</summary>
    public int SendQueueMessagesMax { get; init; } = 4096;

    /// <summary>
    /// Encoded bytes waiting for one peer; more are dropped. A single message up to <see cref="FrameBytesMax"/>
    /// is always accepted into an empty queue, so this bounds batching, not the message size.
    /// </summary>
    public int SendQueueBytesMax { get; init; } = 16 * 1024 * 1024;

    /// <summary>First wait before redialling a peer after a failed attempt; doubled after each failure.</summary>
    public TimeSpan ReconnectBackoffMin { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>The cap on that wait.</summary>
    public TimeSpan ReconnectBackoffMax { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// After an established connection breaks, how long the crash check keeps asking. A process being killed
    /// closes its connections and its listener one after another, so a connect in between may be accepted and
    /// then reset; within this window such an attempt is repeated every <see cref="CrashCheckInterval"/> until a
    /// connect is refused (the peer is gone) or a connection is established again.
    /// </summary>
    public TimeSpan CrashCheckWindow { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The pause between attempts of the crash check.</summary>
    public TimeSpan CrashCheckInterval { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Bound on a TCP connect plus its handshake, either direction.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Mutual TLS between peers; none when null (see <see cref="PeerTlsOptions"/>).</summary>
    public PeerTlsOptions? Tls { get; init; }

    /// <summary>
    /// A secret every member shares (at least 16 bytes): each side of a connection proves it in the handshake, without
    /// sending it. None when null. Both ends of a pair must agree on having one.
    /// </summary>
    public byte[]? ClusterSecret { get; init; }

    /// <summary>Called (on a transport thread) each time a connection is refused during its handshake.</summary>
    public Action<PeerHandshakeFailure>? HandshakeFailed { get; init; }

    /// <summary>The shortest cluster secret accepted.</summary>
    public const int ClusterSecretBytesMin = 16;

    internal FrameLimits Limits => new(FrameBytesMax, EntriesPerFrameMax);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        Require(NodeId > 0, nameof(NodeId), "must be positive");
        Require(!string.IsNullOrEmpty(ClusterId), nameof(ClusterId), "must not be empty");
        Require(Encoding.UTF8.GetByteCount(ClusterId) <= FrameCodec.ClusterIdBytesMax, nameof(ClusterId), $"must be at most {FrameCodec.ClusterIdBytesMax} bytes of UTF-8");
        Require(ListenEndPoint is not null, nameof(ListenEndPoint), "is required");
        Require(FrameBytesMax >= 4096, nameof(FrameBytesMax), "must be at least 4096");
        Require(EntriesPerFrameMax >= 1, nameof(EntriesPerFrameMax), "must be at least 1");
        Require(SendQueueMessagesMax >= 1, nameof(SendQueueMessagesMax), "must be at least 1");
        Require(SendQueueBytesMax >= 4096, nameof(SendQueueBytesMax), "must be at least 4096");
        Require(ReconnectBackoffMin > TimeSpan.Zero, nameof(ReconnectBackoffMin), "must be positive");
        Require(ReconnectBackoffMax >= ReconnectBackoffMin, nameof(ReconnectBackoffMax), "must be at least ReconnectBackoffMin");
        Require(ConnectTimeout > TimeSpan.Zero, nameof(ConnectTimeout), "must be positive");
        Require(CrashCheckWindow >= TimeSpan.Zero, nameof(CrashCheckWindow), "must not be negative");
        Require(ClusterSecret is null || ClusterSecret.Length >= ClusterSecretBytesMin, nameof(ClusterSecret), $"must be at least {ClusterSecretBytesMin} bytes");
        var tlsProblem = Tls?.Problem(NodeId);
        Require(tlsProblem is null, nameof(Tls), tlsProblem!);
        Require(CrashCheckInterval > TimeSpan.Zero && CrashCheckInterval <= ReconnectBackoffMin, nameof(CrashCheckInterval), "must be positive and at most ReconnectBackoffMin");
    }

    private static void Require(bool condition, string name, string problem)
    {
        if (!condition)
        {
            throw new ArgumentException($"{nameof(TcpPeerTransportOptions)}.{name} {problem}", name);
        }
    }
}
