using System.Net;
using System.Net.Sockets;
using Raft.Core;

namespace Raft.Transport;

/// <summary>
/// Everything this node keeps for one peer: its address, its bounded send queue, and the connection to it
/// (at most one at a time). The lower-id node of a pair dials; the other only accepts, so a pair has one
/// connection and both ends agree on which.
/// </summary>
/// <remarks>
/// The send queue is a buffer of encoded frames. <see cref="TryEnqueue"/> (node loop) appends under
/// <c>_queueLock</c>; the connection's writer swaps the whole buffer out under the same lock and writes it
/// with one call. Frames are whole by construction, so a new connection always starts on a frame boundary;
/// the batch being written when a connection breaks is lost, which Raft tolerates like any dropped message.
/// <para>
/// A frame queued while nothing else is (the writer idle, the queue empty) on a plain TCP connection is sent at once
/// by the caller's thread, with a send that never waits (the socket is non-blocking): one wake-up of the writer fewer
/// per message. Whatever that send could not take (a full socket buffer) stays at the front of the queue for the
/// writer, so bytes go out in order whichever thread sends them. Under TLS the writer sends everything.
/// </para>
/// </remarks>
internal sealed class PeerLink
{
    private const int InitialBufferBytes = 16 * 1024;

    private readonly Lock _queueLock = new();
    private readonly TcpPeerTransportOptions _options;
    private readonly int _retainBytesMax;
    private PooledBufferWriter _pending;
    private int _pendingCount;
    private long _dropped;
    private long _connections;
    private bool _closed;
    private Socket? _directSocket;
    private bool _writerBusy;
    private PeerConnection? _connection;
    private PeerConnection? _latestInbound;

    public PeerLink(int id, string address, TcpPeerTransportOptions options)
    {
        Id = id;
        Address = address;
        EndPoint = PeerAddress.Parse(address);
        _options = options;
        _retainBytesMax = Math.Max(InitialBufferBytes, Math.Min(options.SendQueueBytesMax, 1024 * 1024));
        _pending = CreateBuffer();
    }

    public int Id { get; }

    public string Address { get; }

    public EndPoint EndPoint { get; }

    /// <summary>Set when a frame is queued; the current connection's writer waits on it.</summary>
    public AsyncSignal Signal { get; } = new();

    /// <summary>Cancelled when the peer is removed or the transport stops.</summary>
    public CancellationTokenSource Lifetime { get; } = new();

    /// <summary>Serialises connections: a new one starts only after the previous one has fully stopped.</summary>
    public SemaphoreSlim ConnectionGate { get; } = new(1, 1);

    /// <summary>The established connection, if any. Written under <see cref="ConnectionGate"/>, read anywhere.</summary>
    /// <remarks>
    /// Written with a full fence, as is <see cref="LatestInbound"/>: an inbound connection publishes itself as the
    /// latest and then closes the current one, while the current one publishes itself and then checks it is still
    /// the latest, so of two racing connections at least one sees the other and only the newest survives.
    /// </remarks>
    public PeerConnection? Connection
    {
        get => Volatile.Read(ref _connection);
        set => Interlocked.Exchange(ref _connection, value);
    }

    /// <summary>The newest handshaken inbound connection; an older one waiting for the gate gives way to it.</summary>
    public PeerConnection? LatestInbound
    {
        get => Volatile.Read(ref _latestInbound);
        set => Interlocked.Exchange(ref _latestInbound, value);
    }

    /// <summary>The dial loop (lower id) or the last inbound connection's run (higher id).</summary>
    public Task Running { get; set; } = Task.CompletedTask;

    public long DroppedMessages => Interlocked.Read(ref _dropped);

    /// <summary>Connections established with the peer after the first one.</summary>
    public long Reconnects => Math.Max(0, Interlocked.Read(ref _connections) - 1);

    /// <summary>A connection with the peer is established and runs (on the connection's task).</summary>
    public void CountConnection() => Interlocked.Increment(ref _connections);

    public PooledBufferWriter CreateBuffer() => new(InitialBufferBytes, _retainBytesMax);

    /// <summary>Encodes <paramref name="message"/> into the queue; false (and counted) when the queue is full or closed.</summary>
    public bool TryEnqueue(in Message message, int frameBytes)
    {
        lock (_queueLock)
        {
            if (_closed
                || _pendingCount >= _options.SendQueueMessagesMax
                || (_pendingCount > 0 && (long)_pending.WrittenCount + frameBytes > _options.SendQueueBytesMax))
            {
                _dropped++;
                return false;
            }

            FrameCodec.Write(_pending, message, _options.Limits);
            _pendingCount++;
            if (_pendingCount == 1 && !_writerBusy && _directSocket is { } socket && SendNow(socket))
            {
                return true;
            }
        }

        Signal.Set();
        return true;
    }

    /// <summary>
    /// A plain TCP connection's writer starts: <paramref name="socket"/> (set non-blocking) may be sent on directly
    /// while the writer is idle.
    /// </summary>
    public void AttachWriter(Socket socket) => SetDirectSocket(socket);

    /// <summary>The connection's writer has stopped: everything queued waits for the next connection's.</summary>
    public void DetachWriter() => SetDirectSocket(null);

    private void SetDirectSocket(Socket? socket)
    {
        lock (_queueLock)
        {
            _directSocket = socket;
            _writerBusy = false;
        }
    }

    // Under the queue lock, with only the frame just written queued and the writer idle: sends it without waiting.
    // True when it all went; otherwise what is left stays queued for the writer (which also meets any error).
    private bool SendNow(Socket socket)
    {
        int sent;
        try
        {
            sent = socket.Send(_pending.WrittenSpan, SocketFlags.None, out var error);
            if (error != SocketError.Success)
            {
                return false;
            }
        }
        catch (ObjectDisposedException)
        {
            // The connection closed meanwhile; the frame waits for the next one, like any queued frame.
            return false;
        }

        if (sent == _pending.WrittenCount)
        {
            _pending.Reset();
            _pendingCount = 0;
            return true;
        }

        _pending.DiscardFront(sent);
        return false;
    }

    public void CountDrop() => Interlocked.Increment(ref _dropped);

    /// <summary>
    /// Hands the queued frames to the writer: <paramref name="buffer"/> (empty) becomes the queue and the writer
    /// gets the full one. False when nothing is queued: the writer is idle from then on, until it takes a batch again.
    /// </summary>
    public bool TryExchange(ref PooledBufferWriter buffer)
    {
        lock (_queueLock)
        {
            if (_pendingCount == 0 || _closed)
            {
                _writerBusy = false;
                return false;
            }

            (_pending, buffer) = (buffer, _pending);
            _pendingCount = 0;
            _writerBusy = true;
            return true;
        }
    }

    /// <summary>Stops the link: no more sends, the connection closes, and the queue's buffer goes back to the pool.</summary>
    public async Task CloseAsync(string reason)
    {
        lock (_queueLock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
        }

        await Lifetime.CancelAsync().ConfigureAwait(false);
        Connection?.Close(reason);
        await Running.ConfigureAwait(false);

        // Wait for a connection still being attached so its writer no longer touches the queue.
        await ConnectionGate.WaitAsync().ConfigureAwait(false);
        lock (_queueLock)
        {
            _pending.Dispose();
        }
    }

    public bool IsClosed
    {
        get
        {
            lock (_queueLock)
            {
                return _closed;
            }
        }
    }
}
