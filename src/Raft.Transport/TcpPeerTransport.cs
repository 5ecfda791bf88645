using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Core;

namespace Raft.Transport;

/// <summary>
/// Raft peer messages over TCP: one connection per pair of nodes (the lower id dials), binary frames
/// (<see cref="FrameCodec"/>), a bounded send queue per peer drained by one writer per connection, reconnects
/// with capped exponential backoff, and fast crash detection through <see cref="IPeerMessageSink.OnPeerUnreachable"/>.
/// </summary>
/// <remarks>
/// <para>Threading: <see cref="Send"/> and <see cref="SetPeers"/> may be called from any thread; <see cref="Send"/>
/// encodes into the peer's queue and returns without touching the network. Sink callbacks arrive on thread-pool
/// threads, one connection's messages in order.</para>
/// <para>Handshake (TcpPeerTransport.Handshake.cs): TLS when configured, then the dialler sends a hello (cluster id,
/// node id); the acceptor refuses (closes, logs and counts why) a hello from another cluster, from a node not in its
/// peer set, or from a higher id than its own, and otherwise answers with its own hello, which the dialler checks the
/// same way. With a cluster secret, each side then proves it knows the secret before any Raft frame.</para>
/// <para>Unreachable: the moment an established connection ends without this node closing it, a crash check
/// probes the peer's listener with bare connects (the dialling side also redials at once). If one is refused
/// (nothing listens: the process is gone) before a newer connection is up, the sink hears
/// <see cref="IPeerMessageSink.OnPeerUnreachable"/> once. A dying process closes its connections and its listener
/// one after another, so a probe that is accepted is repeated for a short window. Failures to reach a peer that
/// was never connected, or timeouts (a hung or partitioned peer), are not reported: the election timeout covers
/// those.</para>
/// </remarks>
public sealed partial class TcpPeerTransport : IPeerTransport
{
    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 64 * 1024, minimumReadSize: 4 * 1024, leaveOpen: false);

    private readonly TcpPeerTransportOptions _options;
    private readonly IPeerMessageSink _sink;
    private readonly ILogger _logger;
    private readonly Lock _peersLock = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly List<Task> _closingLinks = [];
    private Dictionary<int, PeerLink> _links = [];
    private byte[] _clusterIdUtf8 = [];
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private long _droppedUnknownPeer;
    private int _state;
    private bool _linksStarted;

    private const int Created = 0;
    private const int Started = 1;
    private const int Disposed = 2;

    /// <param name="options">Checked by <see cref="StartAsync"/>.</param>
    /// <param name="sink">Receives every message and unreachability report.</param>
    /// <param name="logger">Connection events and refusals; none when null.</param>
    public TcpPeerTransport(TcpPeerTransportOptions options, IPeerMessageSink sink, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(sink);
        _options = options;
        _sink = sink;
        _logger = logger ?? NullLogger.Instance;
    }

    public TcpPeerTransportOptions Options => _options;

    /// <summary>The endpoint the listener is bound to (with the OS-chosen port when configured with 0); null before start.</summary>
    public IPEndPoint? LocalEndPoint { get; private set; }

    /// <summary>Messages not queued: unknown peer, oversized, or a full send queue.</summary>
    public long DroppedMessages
    {
        get
        {
            var total = Interlocked.Read(ref _droppedUnknownPeer);
            foreach (var link in Volatile.Read(ref _links).Values)
            {
                total += link.DroppedMessages;
            }

            return total;
        }
    }

    /// <summary>What was counted for each current peer: dropped messages and reconnects.</summary>
    public IReadOnlyList<PeerLinkStats> PeerStats()
    {
        var links = Volatile.Read(ref _links);
        var stats = new List<PeerLinkStats>(links.Count);
        foreach (var link in links.Values)
        {
            stats.Add(new PeerLinkStats(link.Id, link.DroppedMessages, link.Reconnects));
        }

        stats.Sort(static (a, b) => a.Peer.CompareTo(b.Peer));
        return stats;
    }

    /// <summary>True while a handshaken connection to <paramref name="peerId"/> is up.</summary>
    public bool IsConnected(int peerId) =>
        Volatile.Read(ref _links).TryGetValue(peerId, out var link) && link.Connection is not null;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _options.Validate();
        if (Interlocked.CompareExchange(ref _state, Started, Created) != Created)
        {
            throw new InvalidOperationException("a transport starts once");
        }

        _clusterIdUtf8 = Encoding.UTF8.GetBytes(_options.ClusterId);
        PrepareHandshake();
        var endPoint = _options.ListenEndPoint;
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (!OperatingSystem.IsWindows())
            {
                // A restarted node must get its port back while connections of its previous run sit in TIME_WAIT.
                listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            }

            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                listener.DualMode = true;
            }

            listener.Bind(endPoint);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            Volatile.Write(ref _state, Created);
            throw;
        }

        _listener = listener;
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        TransportLog.Listening(_logger, _options.NodeId, LocalEndPoint);
        _acceptLoop = AcceptLoopAsync(listener);
        lock (_peersLock)
        {
            _linksStarted = true;
            foreach (var link in _links.Values)
            {
                StartLink(link);
            }
        }

        return Task.CompletedTask;
    }

    public bool Send(in Message message)
    {
        if (!Volatile.Read(ref _links).TryGetValue(message.To, out var link))
        {
            Interlocked.Increment(ref _droppedUnknownPeer);
            return false;
        }

        if (!FrameCodec.TryGetFrameBytes(message, _options.Limits, out var frameBytes))
        {
            TransportLog.Oversized(_logger, message.Type.ToString(), link.Id, _options.FrameBytesMax, _options.EntriesPerFrameMax);
            link.CountDrop();
            return false;
        }

        return link.TryEnqueue(message, frameBytes);
    }

    public void SetPeers(IReadOnlyDictionary<int, string> peers)
    {
        ArgumentNullException.ThrowIfNull(peers);
        var added = new List<PeerLink>();
        var removed = new List<PeerLink>();
        lock (_peersLock)
        {
            if (Volatile.Read(ref _state) == Disposed)
            {
                return;
            }

            var current = _links;
            var next = new Dictionary<int, PeerLink>(peers.Count);
            foreach (var (id, address) in peers)
            {
                if (id == _options.NodeId)
                {
                    continue;
                }

                ArgumentOutOfRangeException.ThrowIfNegativeOrZero(id, nameof(peers));
                if (current.TryGetValue(id, out var existing) && existing.Address == address)
                {
                    next[id] = existing;
                }
                else
                {
                    var link = new PeerLink(id, address, _options);
                    next[id] = link;
                    added.Add(link);
                }
            }

            foreach (var (id, link) in current)
            {
                if (!next.TryGetValue(id, out var kept) || kept != link)
                {
                    removed.Add(link);
                }
            }

            Volatile.Write(ref _links, next);
            foreach (var link in removed)
            {
                _closingLinks.RemoveAll(task => task.IsCompleted);
                _closingLinks.Add(link.CloseAsync("peer removed"));
            }

            if (_linksStarted)
            {
                foreach (var link in added)
                {
                    StartLink(link);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Dictionary<int, PeerLink> links;
        Task[] closing;
        lock (_peersLock)
        {
            if (Interlocked.Exchange(ref _state, Disposed) == Disposed)
            {
                return;
            }

            links = _links;
            Volatile.Write(ref _links, []);
            closing = [.. _closingLinks];
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);

        // The listener goes first, so a peer that redials after its connection closes below is refused at once
        // and reports this node unreachable, as it would after a crash.
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        await Task.WhenAll(links.Values.Select(link => link.CloseAsync("transport stopped")).Concat(closing)).ConfigureAwait(false);
        _shutdown.Dispose();
    }

    private void StartLink(PeerLink link)
    {
        if (_options.NodeId < link.Id)
        {
            link.Running = DialLoopAsync(link);
        }
    }

    private async Task DialLoopAsync(PeerLink link)
    {
        // Leave the caller (StartAsync, SetPeers) before the first connect.
        await Task.Yield();
        var token = link.Lifetime.Token;
        var backoff = _options.ReconnectBackoffMin;
        while (!token.IsCancellationRequested)
        {
            PeerConnection? connection = null;
            try
            {
                connection = await DialAsync(link, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (HandshakeException ex)
            {
                CountHandshakeFailure(ex.Reason);
                if (ex.Reason == PeerHandshakeFailure.Incomplete)
                {
                    TransportLog.DialFailed(_logger, link.Id, link.Address, ex.Message);
                }
                else
                {
                    TransportLog.HandshakeRejected(_logger, link.Id, link.Address, ex.Message);
                }
            }
            catch (FrameFormatException ex)
            {
                CountHandshakeFailure(PeerHandshakeFailure.Hello);
                TransportLog.HandshakeRejected(_logger, link.Id, link.Address, "malformed handshake: " + ex.Message);
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                TransportLog.DialFailed(_logger, link.Id, link.Address, ex.Message);
            }

            if (connection is not null)
            {
                backoff = _options.ReconnectBackoffMin;
                await RunConnectionAsync(link, connection, inbound: false).ConfigureAwait(false);
                if (!connection.ClosedLocally)
                {
                    // The peer ended it: perhaps only that connection broke, so redial at once.
                    continue;
                }
            }

            try
            {
                await Task.Delay(backoff, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.ReconnectBackoffMax.Ticks));
        }
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        var token = _shutdown.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                // The client gave up before we accepted it; nothing to do.
                continue;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                TransportLog.AcceptFailed(_logger, ex);
                return;
            }

            _ = HandleInboundGuardedAsync(socket);
        }
    }

    // Nobody awaits an inbound connection's task, so nothing it throws may go unseen.
    private async Task HandleInboundGuardedAsync(Socket socket)
    {
        EndPoint? remote = null;
        try
        {
            remote = socket.RemoteEndPoint;
            await HandleInboundAsync(socket).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            TransportLog.Unexpected(_logger, ex, remote);
            socket.Dispose();
        }
    }

    // Runs one connection as the link's only one; the gate makes a successor wait until this one has stopped.
    private async Task RunConnectionAsync(PeerLink link, PeerConnection connection, bool inbound)
    {
        try
        {
            await link.ConnectionGate.WaitAsync(link.Lifetime.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await connection.AbandonAsync("peer removed").ConfigureAwait(false);
            return;
        }

        try
        {
            link.Connection = connection;
            if (link.Lifetime.IsCancellationRequested)
            {
                connection.Close("peer removed");
            }
            else if (inbound && link.LatestInbound != connection)
            {
                connection.Close("superseded by a newer connection from the peer");
            }
            else
            {
                link.CountConnection();
            }

            TransportLog.Connected(_logger, link.Id, inbound ? "inbound" : "outbound");
            await connection.RunAsync(_sink, () => _ = CrashCheckAsync(link, connection)).ConfigureAwait(false);
        }
        finally
        {
            link.Connection = null;
            link.ConnectionGate.Release();
        }
    }

    // The crash check, started the moment the peer ends a connection: bare connects to the peer's listener, closed
    // at once, repeated within the crash-check window until one is refused (nothing listens: the process is gone)
    // or a newer connection is up (the peer lives: whichever side dials has redialled at once).
    private async Task CrashCheckAsync(PeerLink link, PeerConnection lost)
    {
        var started = Stopwatch.GetTimestamp();
        while (!link.Lifetime.IsCancellationRequested && !HasNewerConnection(link, lost))
        {
            if (await ProbeOnceAsync(link).ConfigureAwait(false))
            {
                if (!link.Lifetime.IsCancellationRequested && !HasNewerConnection(link, lost))
                {
                    ReportUnreachable(link);
                }

                return;
            }

            if (Stopwatch.GetElapsedTime(started) >= _options.CrashCheckWindow)
            {
                return;
            }

            try
            {
                await Task.Delay(_options.CrashCheckInterval, link.Lifetime.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static bool HasNewerConnection(PeerLink link, PeerConnection lost) => link.Connection is { } current && current != lost;

    // One connect to the peer's listener; true when it was refused.
    private async Task<bool> ProbeOnceAsync(PeerLink link)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(link.Lifetime.Token);
        timeout.CancelAfter(_options.ConnectTimeout);
        using var socket = CreateSocket(link.EndPoint);
        try
        {
            await socket.ConnectAsync(link.EndPoint, timeout.Token).ConfigureAwait(false);
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            TransportLog.DialFailed(_logger, link.Id, link.Address, ex.Message);
            return false;
        }
    }

    private void ReportUnreachable(PeerLink link)
    {
        TransportLog.Unreachable(_logger, link.Id);
        try
        {
            _sink.OnPeerUnreachable(link.Id);
        }
        catch (Exception ex)
        {
            TransportLog.SinkFailed(_logger, ex, link.Id);
        }
    }

    private static Socket CreateSocket(EndPoint endPoint)
    {
        var socket = endPoint is IPEndPoint ip
            ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        return socket;
    }
}
