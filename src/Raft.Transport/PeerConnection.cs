using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Raft.Core;

namespace Raft.Transport;

/// <summary>
/// One established, handshaken TCP connection to a peer (its stream is TLS over the socket when TLS is on): a read loop that decodes frames into the sink and a
/// write loop that drains the peer's send queue. It runs once and is then done; a reconnect is a new instance.
/// </summary>
/// <remarks>
/// Whichever loop stops first closes the socket, which stops the other. The connection records who ended it:
/// the peer (end of stream, reset, a failed write) or this node (<see cref="Close"/>, a malformed frame, a
/// failing sink). Only the first kind can mean the peer's process is gone, so only it leads to an
/// unreachability check.
/// </remarks>
internal sealed class PeerConnection
{
    private readonly PeerLink _link;
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly PipeReader _reader;
    private readonly ILogger _logger;
    private readonly FrameLimits _limits;
    private readonly int _nodeId;
    private string? _closeReason;
    private int _closedLocally;
    private volatile bool _stopped;

    public PeerConnection(PeerLink link, Socket socket, Stream stream, PipeReader reader, int nodeId, FrameLimits limits, ILogger logger)
    {
        _link = link;
        _socket = socket;
        _stream = stream;
        _reader = reader;
        _nodeId = nodeId;
        _limits = limits;
        _logger = logger;
    }

    /// <summary>True once the connection ended by this node's decision rather than the peer's.</summary>
    public bool ClosedLocally => Volatile.Read(ref _closedLocally) != 0;

    /// <summary>
    /// Runs both loops until the connection ends; never throws. <paramref name="endedByPeer"/> is called as soon as
    /// the peer's end is seen (before this connection is torn down), so a crash check loses no time.
    /// </summary>
    public async Task RunAsync(IPeerMessageSink sink, Action endedByPeer)
    {
        var reading = ReadLoopAsync(sink);
        var writing = WriteLoopAsync();
        await Task.WhenAny(reading, writing).ConfigureAwait(false);
        if (!ClosedLocally)
        {
            endedByPeer();
        }

        Shutdown();
        await Task.WhenAll(reading, writing).ConfigureAwait(false);
        await _reader.CompleteAsync().ConfigureAwait(false);
        TransportLog.Disconnected(_logger, _link.Id, _closeReason ?? (ClosedLocally ? "closed by this node" : "closed by the peer"));
    }

    /// <summary>
    /// Discards a handshaken connection that never ran (its peer was removed while it waited for the link).
    /// Its loops must not start: the link's writer signal serves one waiter, the connection still being drained.
    /// </summary>
    public async Task AbandonAsync(string reason)
    {
        Interlocked.Exchange(ref _closedLocally, 1);
        _stopped = true;
        _socket.Dispose();
        await _reader.CompleteAsync().ConfigureAwait(false);
        TransportLog.Disconnected(_logger, _link.Id, reason);
    }

    /// <summary>Ends the connection from this side; safe to call from any thread, more than once.</summary>
    public void Close(string reason)
    {
        if (Interlocked.Exchange(ref _closedLocally, 1) == 0)
        {
            _closeReason = reason;
        }

        Shutdown();
    }

    private void Shutdown()
    {
        // Disposing the socket fails any pending receive or send at once; the signal wakes an idle writer.
        _stopped = true;
        _socket.Dispose();
        _link.Signal.Set();
    }

    private async Task ReadLoopAsync(IPeerMessageSink sink)
    {
        try
        {
            while (true)
            {
                var result = await _reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                var consumed = false;
                try
                {
                    while (FrameCodec.TryReadMessage(ref buffer, _limits, out var message))
                    {
                        CheckAddressing(message);
                        Deliver(sink, message);
                    }

                    consumed = true;
                }
                finally
                {
                    if (consumed)
                    {
                        _reader.AdvanceTo(buffer.Start, buffer.End);
                    }
                }

                if (result.IsCompleted)
                {
                    _closeReason ??= buffer.IsEmpty ? "closed by the peer" : "closed by the peer in the middle of a frame";
                    return;
                }
            }
        }
        catch (FrameFormatException ex)
        {
            TransportLog.MalformedFrame(_logger, _link.Id, ex.Message);
            Close("malformed frame: " + ex.Message);
        }
        catch (SinkException ex)
        {
            TransportLog.SinkFailed(_logger, ex.InnerException!, _link.Id);
            Close("the message sink failed");
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            _closeReason ??= ex.Message;
        }
    }

    private async Task WriteLoopAsync()
    {
        // The connection owns exactly one buffer at a time: it trades its empty one for the link's full one.
        var writing = _link.CreateBuffer();
        try
        {
            // On plain TCP the link may send a frame itself while this writer is idle (see PeerLink); under TLS only here.
            if (_stream is NetworkStream)
            {
                _socket.Blocking = false;
                _link.AttachWriter(_socket);
            }

            while (!_stopped)
            {
                await _link.Signal.WaitAsync().ConfigureAwait(false);
                while (!_stopped && _link.TryExchange(ref writing))
                {
                    // One write per drained batch: every message queued since the last write goes out together.
                    await _stream.WriteAsync(writing.WrittenMemory).ConfigureAwait(false);
                    writing.Reset();
                }
            }
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            _closeReason ??= ex.Message;
        }
        finally
        {
            _link.DetachWriter();
            writing.Dispose();
        }
    }

    // A peer speaks only for itself and only to us: anything else is a confused or hostile sender.
    private void CheckAddressing(in Message message)
    {
        if (message.From != _link.Id || message.To != _nodeId)
        {
            throw new FrameFormatException(
                $"a message from {message.From} to {message.To} on the connection between {_link.Id} and {_nodeId}");
        }
    }

    private static void Deliver(IPeerMessageSink sink, in Message message)
    {
        try
        {
            sink.OnMessage(message);
        }
        catch (Exception ex)
        {
            throw new SinkException(ex);
        }
    }

    private static bool IsConnectionFailure(Exception ex) =>
        ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException;

    private sealed class SinkException(Exception inner) : Exception(inner.Message, inner);
}
