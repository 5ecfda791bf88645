using System.Net;
using System.Net.Sockets;
using System.Text;
using Raft.Core;

namespace Raft.Transport.Tests;

/// <summary>Peers without TLS prove a shared secret in the handshake, and the secret never crosses the wire.</summary>
public sealed class ClusterSecretTests
{
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("correct horse battery staple");
    private static readonly byte[] OtherSecret = Encoding.UTF8.GetBytes("incorrect horse battery staple");

    [Fact]
    public async Task Peers_sharing_the_secret_connect_and_it_never_appears_on_the_wire()
    {
        await using var a = await StartAsync(1, Secret);
        await using var b = await StartAsync(2, Secret);
        await using var relay = await ByteRelay.StartAsync(b.Transport.LocalEndPoint!);
        var peers = new Dictionary<int, string> { [1] = a.Address, [2] = relay.Address };
        a.Transport.SetPeers(peers);
        b.Transport.SetPeers(new Dictionary<int, string> { [1] = a.Address, [2] = b.Address });

        await a.DeliverAsync(b, context: 1);
        await b.DeliverAsync(a, context: 2);

        var captured = relay.Captured();
        Assert.True(captured.AsSpan().IndexOf("test"u8) >= 0, "the relay saw the hellos (their cluster id)");
        Assert.True(captured.AsSpan().IndexOf(Secret) < 0, "the secret crossed the wire");
        Assert.True(captured.AsSpan().IndexOf(Secret.AsSpan(0, 8)) < 0, "part of the secret crossed the wire");
        Assert.Equal(0, a.Transport.HandshakeFailures(PeerHandshakeFailure.Secret) + b.Transport.HandshakeFailures(PeerHandshakeFailure.Secret));
    }

    [Fact]
    public async Task A_peer_proving_another_secret_is_refused_by_both_sides_and_good_peers_still_connect()
    {
        await using var stranger = await StartAsync(1, OtherSecret);
        await using var b = await StartAsync(2, Secret);
        await using var c = await StartAsync(3, Secret);
        TestNode.Introduce(stranger, b, c);
        stranger.Transport.Send(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1, Context = 666 });

        // The acceptor proves itself first, so the dialler is the one to find the other secret; it never answers.
        await stranger.Log.WaitForAsync(LogEvents.HandshakeRejected, text => text.Contains("does not prove the cluster secret", StringComparison.Ordinal));
        await b.DeliverAsync(c, context: 1);

        Assert.True(stranger.Transport.HandshakeFailures(PeerHandshakeFailure.Secret) >= 1);
        Assert.DoesNotContain(b.Sink.Messages, m => m.From == 1);
        Assert.DoesNotContain(c.Sink.Messages, m => m.From == 1);
        Assert.False(b.Transport.IsConnected(1));
    }

    [Fact]
    public async Task A_dialler_that_answers_with_a_wrong_proof_is_refused_before_any_frame()
    {
        await using var b = await StartAsync(2, Secret);
        b.Transport.SetPeers(new Dictionary<int, string> { [1] = "127.0.0.1:1", [2] = b.Address });
        using var timeout = new CancellationTokenSource(TestTimeouts.Wait);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(b.Transport.LocalEndPoint!, timeout.Token);

        using (var frames = new PooledBufferWriter(512))
        {
            FrameCodec.WriteHello(frames, 1, "test"u8, new byte[FrameCodec.NonceBytes]);
            await socket.SendAsync(frames.WrittenMemory, SocketFlags.None, timeout.Token);
        }

        // b answers with its hello and proof; a guessed proof and a heartbeat go back.
        var reply = new byte[512];
        Assert.True(await socket.ReceiveAsync(reply, SocketFlags.None, timeout.Token) > 0);
        using (var frames = new PooledBufferWriter(512))
        {
            FrameCodec.WriteProof(frames, new byte[FrameCodec.ProofBytes]);
            FrameCodec.Write(frames, new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1, Context = 77 }, FrameLimits.Default);
            await socket.SendAsync(frames.WrittenMemory, SocketFlags.None, timeout.Token);
        }

        await b.Log.WaitForAsync(LogEvents.Refused, text => text.Contains("does not prove the cluster secret", StringComparison.Ordinal));
        Assert.Equal(1, b.Transport.HandshakeFailures(PeerHandshakeFailure.Secret));
        Assert.Empty(b.Sink.Messages);
        Assert.False(b.Transport.IsConnected(1));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_peer_without_a_secret_and_one_with_a_secret_refuse_each_other(bool diallerHasSecret)
    {
        await using var a = await StartAsync(1, diallerHasSecret ? Secret : null);
        await using var b = await StartAsync(2, diallerHasSecret ? null : Secret);
        TestNode.Introduce(a, b);
        a.Transport.Send(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1, Context = 5 });

        var refuser = diallerHasSecret ? "this node has none configured" : "this node requires one";
        await b.Log.WaitForAsync(LogEvents.Refused, text => text.Contains(refuser, StringComparison.Ordinal));
        Assert.True(b.Transport.HandshakeFailures(PeerHandshakeFailure.Secret) >= 1);
        Assert.Empty(b.Sink.Messages);
    }

    [Fact]
    public void A_short_secret_is_refused_by_the_options()
    {
        var options = new TcpPeerTransportOptions
        {
            NodeId = 1,
            ClusterId = "test",
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            ClusterSecret = new byte[TcpPeerTransportOptions.ClusterSecretBytesMin - 1],
        };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(nameof(TcpPeerTransportOptions.ClusterSecret), error.Message, StringComparison.Ordinal);
    }

    private static Task<TestNode> StartAsync(int id, byte[]? secret) =>
        TestNode.StartAsync(id, configure: o => o with { ClusterSecret = secret });

    /// <summary>Forwards connections to a target and keeps every byte that passes, either way.</summary>
    private sealed class ByteRelay : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly EndPoint _target;
        private readonly CancellationTokenSource _stop = new();
        private readonly Lock _lock = new();
        private readonly MemoryStream _captured = new();
        private readonly List<Task> _pumps = [];
        private Task _accepting = Task.CompletedTask;

        private ByteRelay(EndPoint target)
        {
            _target = target;
            _listener = new TcpListener(IPAddress.Loopback, 0);
        }

        public string Address => _listener.LocalEndpoint.ToString()!;

        public static Task<ByteRelay> StartAsync(EndPoint target)
        {
            var relay = new ByteRelay(target);
            relay._listener.Start();
            relay._accepting = relay.AcceptAsync();
            return Task.FromResult(relay);
        }

        public byte[] Captured()
        {
            lock (_lock)
            {
                return _captured.ToArray();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            Task[] pumps;
            lock (_lock)
            {
                pumps = [.. _pumps];
            }

            await Task.WhenAll(pumps);
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (true)
            {
                Socket inbound;
                try
                {
                    inbound = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await outbound.ConnectAsync(_target, _stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException)
                {
                    inbound.Dispose();
                    outbound.Dispose();
                    continue;
                }

                lock (_lock)
                {
                    _pumps.Add(PumpAsync(inbound, outbound));
                    _pumps.Add(PumpAsync(outbound, inbound));
                }
            }
        }

        private async Task PumpAsync(Socket from, Socket to)
        {
            var buffer = new byte[16 * 1024];
            try
            {
                int read;
                while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
                {
                    lock (_lock)
                    {
                        _captured.Write(buffer, 0, read);
                    }

                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
            finally
            {
                from.Dispose();
                to.Dispose();
            }
        }
    }
}
