using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Raft.Transport;

/// <summary>
/// The handshake that makes a TCP connection a peer connection. In order, on each side, before any Raft frame:
/// <list type="number">
/// <item>TLS, when configured: the dialler is the TLS client, the acceptor the server, and both present certificates.
/// Each checks the other's is trusted (<see cref="PeerTlsOptions"/>) and names a member: the dialler the one it
/// dialled, the acceptor any member of its configuration (it learns which one from the hello that follows).</item>
/// <item>Hellos (<see cref="FrameCodec.WriteHello"/>): the dialler's first, then the acceptor's; each checks the cluster
/// id, that the other is a member (and, under TLS, the one its certificate names), and that the lower id dialled.</item>
/// <item>With a cluster secret, each hello carries a fresh random nonce, and each side proves the secret with
/// HMAC-SHA256(secret, label ‖ role ‖ dialler nonce ‖ acceptor nonce ‖ dialler id ‖ acceptor id ‖ cluster id): the
/// acceptor's proof follows its hello, the dialler's answers it. The roles differ, so one side's proof is never valid
/// for the other, and the nonces are fresh, so an old proof is never valid again. The secret itself never crosses the
/// wire. Without TLS the proof authenticates the handshake only: what follows is neither encrypted nor signed.</item>
/// </list>
/// A failure closes that connection, is logged, and is counted by <see cref="PeerHandshakeFailure"/> reason; the node
/// carries on. A connection closed before it sent a byte (a crash check's bare connect) is not a failure.
/// </summary>
public sealed partial class TcpPeerTransport
{
    private static ReadOnlySpan<byte> ProofLabel => "raft-peer-proof/1"u8;

    private const byte DiallerRole = (byte)'D';
    private const byte AcceptorRole = (byte)'A';

    private readonly long[] _handshakeFailures = new long[Enum.GetValues<PeerHandshakeFailure>().Length];
    private SslStreamCertificateContext? _certificateContext;

    /// <summary>Connections refused during their handshake for <paramref name="reason"/>, both directions, since start.</summary>
    public long HandshakeFailures(PeerHandshakeFailure reason) => Interlocked.Read(ref _handshakeFailures[(int)reason]);

    private void PrepareHandshake()
    {
        if (_options.Tls is { } tls)
        {
            _certificateContext = SslStreamCertificateContext.Create(tls.Certificate, additionalCertificates: null, offline: true);
        }
    }

    private void CountHandshakeFailure(PeerHandshakeFailure reason)
    {
        Interlocked.Increment(ref _handshakeFailures[(int)reason]);
        _options.HandshakeFailed?.Invoke(reason);
    }

    private async Task<PeerConnection> DialAsync(PeerLink link, CancellationToken token)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_options.ConnectTimeout);
        var socket = CreateSocket(link.EndPoint);
        try
        {
            await socket.ConnectAsync(link.EndPoint, timeout.Token).ConfigureAwait(false);
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            PipeReader? reader = null;
            try
            {
                if (_options.Tls is not null)
                {
                    stream = await AuthenticateAsClientAsync(stream, link.Id, timeout.Token).ConfigureAwait(false);
                }

                reader = PipeReader.Create(stream, ReaderOptions);
                await DialHandshakeAsync(link, stream, reader, timeout.Token).ConfigureAwait(false);
                return new PeerConnection(link, socket, stream, reader, _options.NodeId, _options.Limits, _logger);
            }
            catch (Exception ex)
            {
                if (reader is not null)
                {
                    await reader.CompleteAsync().ConfigureAwait(false);
                }

                // Connected, so a broken or timed-out exchange is the handshake failing, not the peer being down.
                if (ex is IOException or SocketException or ObjectDisposedException || (ex is OperationCanceledException && !token.IsCancellationRequested))
                {
                    throw new HandshakeException(PeerHandshakeFailure.Incomplete, "the handshake did not complete: " + ex.Message);
                }

                throw;
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task DialHandshakeAsync(PeerLink link, Stream stream, PipeReader reader, CancellationToken token)
    {
        var secret = _options.ClusterSecret;
        var ownNonce = secret is null ? null : RandomNumberGenerator.GetBytes(FrameCodec.NonceBytes);
        await WriteHandshakeAsync(stream, writer => FrameCodec.WriteHello(writer, _options.NodeId, _clusterIdUtf8, ownNonce), token).ConfigureAwait(false);

        var (peerId, clusterId, peerNonce) = await ReadHelloAsync(reader, token).ConfigureAwait(false);
        if (clusterId != _options.ClusterId)
        {
            throw new HandshakeException(PeerHandshakeFailure.Hello, $"{link.Address} belongs to cluster '{clusterId}', not '{_options.ClusterId}'");
        }

        if (peerId != link.Id)
        {
            throw new HandshakeException(PeerHandshakeFailure.Hello, $"{link.Address} is node {peerId}, not node {link.Id}");
        }

        CheckSecretAgreement(peerId, peerNonce);
        if (secret is not null)
        {
            var expected = Proof(secret, AcceptorRole, ownNonce!, peerNonce!, _options.NodeId, peerId);
            var proof = await ReadProofAsync(reader, token).ConfigureAwait(false);
            if (!CryptographicOperations.FixedTimeEquals(proof, expected))
            {
                throw new HandshakeException(PeerHandshakeFailure.Secret, $"node {peerId} does not prove the cluster secret");
            }

            var answer = Proof(secret, DiallerRole, ownNonce!, peerNonce!, _options.NodeId, peerId);
            await WriteHandshakeAsync(stream, writer => FrameCodec.WriteProof(writer, answer), token).ConfigureAwait(false);
        }
    }

    private async Task HandleInboundAsync(Socket socket)
    {
        EndPoint? remote = null;
        PeerLink link;
        PeerConnection connection;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        PipeReader? reader = null;
        try
        {
            remote = socket.RemoteEndPoint;
            socket.NoDelay = true;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(_options.ConnectTimeout);
            if (!await HasDataAsync(socket, timeout.Token).ConfigureAwait(false))
            {
                // A bare connect, closed at once: another node's crash check, not a peer.
                await stream.DisposeAsync().ConfigureAwait(false);
                return;
            }

            if (_options.Tls is not null)
            {
                stream = await AuthenticateAsServerAsync(stream, timeout.Token).ConfigureAwait(false);
            }

            reader = PipeReader.Create(stream, ReaderOptions);
            link = await AcceptHandshakeAsync(stream, reader, timeout.Token).ConfigureAwait(false);
            connection = new PeerConnection(link, socket, stream, reader, _options.NodeId, _options.Limits, _logger);
        }
        catch (Exception ex) when (ex is HandshakeException { Reason: not PeerHandshakeFailure.Incomplete } or FrameFormatException)
        {
            var reason = ex is HandshakeException handshake ? handshake.Reason : PeerHandshakeFailure.Hello;
            CountHandshakeFailure(reason);
            TransportLog.Refused(_logger, remote, ex is FrameFormatException ? "malformed handshake: " + ex.Message : ex.Message);
            await CloseAsync(stream, reader).ConfigureAwait(false);
            return;
        }
        catch (Exception ex) when (ex is HandshakeException or SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer went away mid-handshake (a closed pipe is a HandshakeException): not a refusal.
            if (!_shutdown.IsCancellationRequested)
            {
                CountHandshakeFailure(PeerHandshakeFailure.Incomplete);
            }

            TransportLog.HandshakeFailed(_logger, remote, ex.Message);
            await CloseAsync(stream, reader).ConfigureAwait(false);
            return;
        }

        // A newer connection from the same peer wins: the old one is likely half-open (the peer restarted).
        link.LatestInbound = connection;
        link.Connection?.Close("replaced by a newer connection from the peer");
        var run = RunConnectionAsync(link, connection, inbound: true);
        link.Running = run;
        await run.ConfigureAwait(false);
    }

    // Returns the link of the peer that dialled, or throws HandshakeException (refused) or FrameFormatException.
    private async Task<PeerLink> AcceptHandshakeAsync(Stream stream, PipeReader reader, CancellationToken token)
    {
        var (peerId, clusterId, peerNonce) = await ReadHelloAsync(reader, token).ConfigureAwait(false);
        if (clusterId != _options.ClusterId)
        {
            throw new HandshakeException(PeerHandshakeFailure.Hello, $"node {peerId} belongs to cluster '{clusterId}', not '{_options.ClusterId}'");
        }

        if (!Volatile.Read(ref _links).TryGetValue(peerId, out var link))
        {
            throw new HandshakeException(PeerHandshakeFailure.Hello, $"node {peerId} is not a peer of node {_options.NodeId}");
        }

        if (peerId > _options.NodeId)
        {
            throw new HandshakeException(PeerHandshakeFailure.Hello, $"node {peerId} dialled node {_options.NodeId}, but of two peers the lower id dials");
        }

        if (stream is SslStream ssl && (ssl.RemoteCertificate is not X509Certificate2 certificate || !PeerTlsOptions.Names(certificate, peerId)))
        {
            throw new HandshakeException(PeerHandshakeFailure.Certificate, $"the hello says node {peerId}, but the certificate ({ssl.RemoteCertificate?.Subject}) does not name {PeerTlsOptions.NodeName(peerId)}");
        }

        CheckSecretAgreement(peerId, peerNonce);
        var secret = _options.ClusterSecret;
        if (secret is null)
        {
            await WriteHandshakeAsync(stream, writer => FrameCodec.WriteHello(writer, _options.NodeId, _clusterIdUtf8), token).ConfigureAwait(false);
            return link;
        }

        var ownNonce = RandomNumberGenerator.GetBytes(FrameCodec.NonceBytes);
        var proof = Proof(secret, AcceptorRole, peerNonce!, ownNonce, peerId, _options.NodeId);
        await WriteHandshakeAsync(
            stream,
            writer =>
            {
                FrameCodec.WriteHello(writer, _options.NodeId, _clusterIdUtf8, ownNonce);
                FrameCodec.WriteProof(writer, proof);
            },
            token).ConfigureAwait(false);
        var answer = await ReadProofAsync(reader, token).ConfigureAwait(false);
        if (!CryptographicOperations.FixedTimeEquals(answer, Proof(secret, DiallerRole, peerNonce!, ownNonce, peerId, _options.NodeId)))
        {
            throw new HandshakeException(PeerHandshakeFailure.Secret, $"node {peerId} does not prove the cluster secret");
        }

        return link;
    }

    // Both sides of a pair must agree on whether a secret is proven: a hello with a nonce asks for a proof.
    private void CheckSecretAgreement(int peerId, byte[]? peerNonce)
    {
        if (_options.ClusterSecret is not null && peerNonce is null)
        {
            throw new HandshakeException(PeerHandshakeFailure.Secret, $"node {peerId} proves no cluster secret, and this node requires one");
        }

        if (_options.ClusterSecret is null && peerNonce is not null)
        {
            throw new HandshakeException(PeerHandshakeFailure.Secret, $"node {peerId} proves a cluster secret, and this node has none configured");
        }
    }

    private byte[] Proof(byte[] secret, byte role, byte[] diallerNonce, byte[] acceptorNonce, int diallerId, int acceptorId)
    {
        var transcript = new byte[ProofLabel.Length + 1 + (2 * FrameCodec.NonceBytes) + 8 + _clusterIdUtf8.Length];
        var span = transcript.AsSpan();
        ProofLabel.CopyTo(span);
        span = span[ProofLabel.Length..];
        span[0] = role;
        diallerNonce.CopyTo(span[1..]);
        acceptorNonce.CopyTo(span[(1 + FrameCodec.NonceBytes)..]);
        span = span[(1 + (2 * FrameCodec.NonceBytes))..];
        BinaryPrimitives.WriteInt32LittleEndian(span, diallerId);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], acceptorId);
        _clusterIdUtf8.CopyTo(span[8..]);
        return HMACSHA256.HashData(secret, transcript);
    }

    private async Task<SslStream> AuthenticateAsClientAsync(Stream inner, int peerId, CancellationToken token)
    {
        string? refusal = null;
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = PeerTlsOptions.NodeName(peerId),
            ClientCertificateContext = _certificateContext,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => (refusal = CheckPeerCertificate(certificate, peerId)) is null,
        };
        try
        {
            await ssl.AuthenticateAsClientAsync(options, token).ConfigureAwait(false);
            return ssl;
        }
        catch (AuthenticationException ex)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw refusal is null
                ? new HandshakeException(PeerHandshakeFailure.Tls, "TLS failed: " + ex.Message)
                : new HandshakeException(PeerHandshakeFailure.Certificate, $"node {peerId} refused: {refusal}");
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<SslStream> AuthenticateAsServerAsync(Stream inner, CancellationToken token)
    {
        string? refusal = null;
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = _certificateContext,
            ClientCertificateRequired = true,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => (refusal = CheckPeerCertificate(certificate, peerId: null)) is null,
        };
        try
        {
            await ssl.AuthenticateAsServerAsync(options, token).ConfigureAwait(false);
            return ssl;
        }
        catch (AuthenticationException ex)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw refusal is null
                ? new HandshakeException(PeerHandshakeFailure.Tls, "TLS failed: " + ex.Message)
                : new HandshakeException(PeerHandshakeFailure.Certificate, refusal);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // Null when the certificate is trusted and names peerId (or, when null, any member); else why not.
    private string? CheckPeerCertificate(X509Certificate? presented, int? peerId)
    {
        if (presented is not X509Certificate2 certificate)
        {
            return "the peer presented no certificate";
        }

        var untrusted = _options.Tls!.CheckTrust(certificate);
        if (untrusted is not null)
        {
            return untrusted;
        }

        if (peerId is { } id)
        {
            return PeerTlsOptions.Names(certificate, id) ? null : $"its certificate ({certificate.Subject}) does not name {PeerTlsOptions.NodeName(id)}";
        }

        foreach (var member in Volatile.Read(ref _links).Keys)
        {
            if (PeerTlsOptions.Names(certificate, member))
            {
                return null;
            }
        }

        return $"its certificate ({certificate.Subject}) names no member of node {_options.NodeId}'s configuration";
    }

    // False when the peer closed before sending a byte.
    private static async Task<bool> HasDataAsync(Socket socket, CancellationToken token)
    {
        var probe = new byte[1];
        return await socket.ReceiveAsync(probe, SocketFlags.Peek, token).ConfigureAwait(false) > 0;
    }

    private static async Task WriteHandshakeAsync(Stream stream, Action<IBufferWriter<byte>> write, CancellationToken token)
    {
        var writer = new PooledBufferWriter(FrameCodec.HeaderBytes + FrameCodec.HelloBodyBytesMax + FrameCodec.HeaderBytes + FrameCodec.ProofBytes);
        try
        {
            write(writer);
            await stream.WriteAsync(writer.WrittenMemory, token).ConfigureAwait(false);
        }
        finally
        {
            writer.Dispose();
        }
    }

    private static async Task CloseAsync(Stream stream, PipeReader? reader)
    {
        if (reader is not null)
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }

        await stream.DisposeAsync().ConfigureAwait(false);
    }

    private static async Task<(int NodeId, string ClusterId, byte[]? Nonce)> ReadHelloAsync(PipeReader reader, CancellationToken token)
    {
        while (true)
        {
            var result = await reader.ReadAsync(token).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (FrameCodec.TryReadHello(ref buffer, out var nodeId, out var clusterId, out var nonce))
            {
                // What followed the hello stays in the pipe for the next step.
                reader.AdvanceTo(buffer.Start);
                return (nodeId, clusterId, nonce);
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new HandshakeException(PeerHandshakeFailure.Incomplete, "the connection closed during the handshake");
            }
        }
    }

    private static async Task<byte[]> ReadProofAsync(PipeReader reader, CancellationToken token)
    {
        var proof = new byte[FrameCodec.ProofBytes];
        while (true)
        {
            var result = await reader.ReadAsync(token).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (FrameCodec.TryReadProof(ref buffer, proof))
            {
                // Frames that followed the proof stay in the pipe for the connection's read loop.
                reader.AdvanceTo(buffer.Start);
                return proof;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new HandshakeException(PeerHandshakeFailure.Incomplete, "the connection closed during the handshake");
            }
        }
    }
}
