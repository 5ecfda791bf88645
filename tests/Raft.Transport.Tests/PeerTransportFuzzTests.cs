using System.Buffers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Raft.Fuzzing;
using Xunit.Abstractions;

namespace Raft.Transport.Tests;

/// <summary>
/// Fuzzing a real <see cref="TcpPeerTransport"/> on 127.0.0.1: a client sends a mutated handshake, or passes the
/// handshake as a known peer and sends mutated frames; whatever they are, the node ends that connection (at the first malformed frame, or when the client
/// stops sending), logs nothing as a transport bug, and goes on talking to its good peer.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class PeerTransportFuzzTests(ITestOutputHelper output)
{
    private const int CiCases = 2_000;

    // Node 5 is fuzzed; node 1 is its good peer; the fuzzing client poses as node 3, which node 5 knows.
    private const int FuzzedId = 5;
    private const int PoserId = 3;

    [Fact]
    public async Task A_malformed_frame_closes_its_connection_and_the_node_keeps_talking_to_its_good_peer()
    {
        await using var good = await TestNode.StartAsync(1);
        await using var fuzzed = await TestNode.StartAsync(FuzzedId);
        var peers = new Dictionary<int, string> { [1] = good.Address, [PoserId] = "127.0.0.1:1", [FuzzedId] = fuzzed.Address };
        good.Transport.SetPeers(peers);
        fuzzed.Transport.SetPeers(peers);
        await good.DeliverAsync(fuzzed, context: 1);

        ulong context = 1;
        var cases = 0;
        var report = await Fuzz.RunAsync(new FuzzTarget
        {
            Name = "peer transport over TCP",
            Generate = random => random.Next(4) == 0
                ? FrameCodecFuzzTests.HelloSample(random, PoserId, "test")
                : FrameCodecFuzzTests.MessageSample(random, from: random.Next(8) == 0 ? 1 : PoserId, to: FuzzedId),
            Reseal = FrameCodecFuzzTests.ResealFirstFrame,
            CheckAsync = async input =>
            {
                var verdict = await SendAsPoserAsync(fuzzed, input);

                // Every so often, and after the last case, the good peer must still get through both ways.
                if (++cases % 50 == 0)
                {
                    await good.DeliverAsync(fuzzed, ++context);
                    await fuzzed.DeliverAsync(good, ++context);
                }

                return verdict;
            },
        }, seed: 14_003, CiCases);
        output.WriteLine(report.ToString());

        await good.DeliverAsync(fuzzed, ++context);
        await fuzzed.DeliverAsync(good, ++context);
        Assert.True(fuzzed.Transport.IsConnected(1));
        var bugs = fuzzed.Log.Lines.Where(line => line.Level >= LogLevel.Error).Select(line => line.Text).ToList();
        Assert.True(bugs.Count == 0, string.Join(Environment.NewLine, bugs));
        Assert.True(fuzzed.Log.Count(LogEvents.MalformedFrame) > 0, "no malformed frame was logged");
    }

    // Handshakes as the poser unless the input is a handshake itself, sends the input, stops sending, and waits until
    // the node has closed the connection. The verdict is the frame decoder's own on the same bytes.
    private static async Task<Verdict> SendAsPoserAsync(TestNode fuzzed, byte[] input)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Wait);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(fuzzed.Transport.LocalEndPoint!, timeout.Token);
        var isHello = input.Length > 5 && input[5] == FrameCodec.HelloType;
        using (var hello = new PooledBufferWriter(512))
        {
            FrameCodec.WriteHello(hello, PoserId, "test"u8);
            if (!isHello)
            {
                await socket.SendAsync(hello.WrittenMemory, SocketFlags.None, timeout.Token);
                var reply = new byte[512];
                if (await socket.ReceiveAsync(reply, SocketFlags.None, timeout.Token) == 0)
                {
                    throw new InvalidOperationException("the node refused the poser's handshake");
                }
            }
        }

        try
        {
            await socket.SendAsync(input, SocketFlags.None, timeout.Token);
            socket.Shutdown(SocketShutdown.Send);
            var buffer = new byte[4096];
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // Reset by the node: it closed the connection while bytes were still arriving.
        }

        return Decodes(input, isHello) ? Verdict.Accepted : Verdict.Refused;
    }

    private static bool Decodes(byte[] input, bool isHello)
    {
        var buffer = new ReadOnlySequence<byte>(input);
        try
        {
            if (isHello && !FrameCodec.TryReadHello(ref buffer, out _, out _, out _))
            {
                return false;
            }

            while (FrameCodec.TryReadMessage(ref buffer, FrameLimits.Default, out _))
            {
            }

            return buffer.IsEmpty;
        }
        catch (FrameFormatException)
        {
            return false;
        }
    }
}
