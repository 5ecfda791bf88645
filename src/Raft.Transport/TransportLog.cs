using System.Net;
using Microsoft.Extensions.Logging;

namespace Raft.Transport;

/// <summary>Every line the transport logs, generated so that a disabled level costs nothing.</summary>
internal static partial class TransportLog
{
    [LoggerMessage(1, LogLevel.Information, "Node {NodeId} listening for peers on {EndPoint}")]
    public static partial void Listening(ILogger logger, int nodeId, EndPoint endPoint);

    [LoggerMessage(2, LogLevel.Information, "Connected to peer {PeerId} ({Direction})")]
    public static partial void Connected(ILogger logger, int peerId, string direction);

    [LoggerMessage(3, LogLevel.Information, "Connection to peer {PeerId} closed: {Reason}")]
    public static partial void Disconnected(ILogger logger, int peerId, string reason);

    [LoggerMessage(4, LogLevel.Warning, "Closing the connection to peer {PeerId}: malformed frame: {Reason}")]
    public static partial void MalformedFrame(ILogger logger, int peerId, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Refused a connection from {Remote}: {Reason}")]
    public static partial void Refused(ILogger logger, EndPoint? remote, string reason);

    [LoggerMessage(6, LogLevel.Debug, "Dialling peer {PeerId} at {Address} failed: {Reason}")]
    public static partial void DialFailed(ILogger logger, int peerId, string address, string reason);

    [LoggerMessage(7, LogLevel.Warning, "Peer {PeerId} is unreachable: its connection broke and a reconnect was refused")]
    public static partial void Unreachable(ILogger logger, int peerId);

    [LoggerMessage(8, LogLevel.Error, "A {Type} message for peer {PeerId} exceeds the frame limits ({FrameBytesMax} bytes, {EntriesMax} entries) and was dropped")]
    public static partial void Oversized(ILogger logger, string type, int peerId, int frameBytesMax, int entriesMax);

    [LoggerMessage(9, LogLevel.Error, "The message sink failed on a message from peer {PeerId}; closing that connection")]
    public static partial void SinkFailed(ILogger logger, Exception exception, int peerId);

    [LoggerMessage(10, LogLevel.Error, "Accepting peer connections failed; the listener stops")]
    public static partial void AcceptFailed(ILogger logger, Exception exception);

    [LoggerMessage(12, LogLevel.Critical, "A connection from {Remote} failed in an unexpected way; this is a transport bug")]
    public static partial void Unexpected(ILogger logger, Exception exception, EndPoint? remote);

    [LoggerMessage(13, LogLevel.Warning, "Handshake with peer {PeerId} at {Address} failed: {Reason}")]
    public static partial void HandshakeRejected(ILogger logger, int peerId, string address, string reason);

    [LoggerMessage(11, LogLevel.Debug, "Handshake with {Remote} failed: {Reason}")]
    public static partial void HandshakeFailed(ILogger logger, EndPoint? remote, string reason);
}
