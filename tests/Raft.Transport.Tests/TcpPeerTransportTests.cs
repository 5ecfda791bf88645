using System.Net;
using System.Net.Sockets;
using Raft.Core;

namespace Raft.Transport.Tests;

public sealed class TcpPeerTransportTests
{
    [Fact]
    public async Task Two_transports_exchange_messages_both_ways()
    {
        await using var a = await TestNode.StartAsync(1);
        await using var b = await TestNode.StartAsync(2);
        TestNode.Introduce(a, b);

        await a.DeliverAsync(b, context: 11);
        await b.DeliverAsync(a, context: 22);

        var entries = new[] { new Entry(1, 5, EntryType.Command, new byte[] { 1, 2, 3 }), new Entry(1, 6, EntryType.NoOp, default) };
        Assert.True(a.Transport.Send(new Message { Type = MessageType.Append, From = 1, To = 2, Term = 1, Index = 4, LogTerm = 1, Commit = 3, Entries = entries }));
        var append = b.Sink.WaitForMessageAsync(m => m.Type == MessageType.Append);
        await append;
        var received = b.Sink.Messages.Single(m => m.Type == MessageType.Append);
        Assert.Equal(2, received.Entries.Length);
        Assert.Equal(new byte[] { 1, 2, 3 }, received.Entries.Span[0].Data.ToArray());
        Assert.True(a.Transport.IsConnected(2));
        Assert.True(b.Transport.IsConnected(1));
    }

    [Fact]
    public async Task Three_transports_exchange_messages_between_every_pair()
    {
        await using var a = await TestNode.StartAsync(1);
        await using var b = await TestNode.StartAsync(2);
        await using var c = await TestNode.StartAsync(3);
        TestNode.Introduce(a, b, c);

        TestNode[] nodes = [a, b, c];
        ulong context = 100;
        foreach (var from in nodes)
        {
            foreach (var to in nodes.Where(n => n != from))
            {
                await from.DeliverAsync(to, context++);
            }
        }

        // In order on each connection: a burst arrives as sent.
        for (ulong i = 0; i < 200; i++)
        {
            Assert.True(c.Transport.Send(new Message { Type = MessageType.HeartbeatResponse, From = 3, To = 1, Term = 1, Context = 1000 + i }));
        }

        await a.Sink.WaitForMessageAsync(m => m.Context == 1199);
        var burst = a.Sink.Messages.Where(m => m.From == 3 && m.Context >= 1000).Select(m => m.Context).ToList();
        Assert.Equal(Enumerable.Range(1000, 200).Select(i => (ulong)i), burst);
    }

    [Fact]
    public async Task Large_appends_cross_the_wire_intact()
    {
        await using var a = await TestNode.StartAsync(1);
        await using var b = await TestNode.StartAsync(2);
        TestNode.Introduce(a, b);
        await a.DeliverAsync(b, context: 1);

        var random = new Random(5);
        var entries = Enumerable.Range(1, 300).Select(i =>
        {
            var data = new byte[random.Next(0, 3000)];
            random.NextBytes(data);
            return new Entry(2, 100 + (ulong)i, EntryType.Command, data);
        }).ToArray();
        Assert.True(a.Transport.Send(new Message { Type = MessageType.Append, From = 1, To = 2, Term = 2, Index = 100, LogTerm = 2, Commit = 99, Entries = entries }));
        await b.Sink.WaitForMessageAsync(m => m.Type == MessageType.Append);

        var received = b.Sink.Messages;
        var append = received.Single(m => m.Type == MessageType.Append);
        Assert.Equal(entries.Length, append.Entries.Length);
        for (var i = 0; i < entries.Length; i++)
        {
            Assert.Equal(entries[i].Index, append.Entries.Span[i].Index);
            Assert.True(entries[i].Data.Span.SequenceEqual(append.Entries.Span[i].Data.Span));
        }
    }

    // While the peer reads, a frame queued behind nothing is sent by the caller's thread; once the peer stops reading
    // and the sockets' buffers fill, such a send takes part of a frame or none, and the writer sends the rest after it.
    [Fact]
    public async Task Frames_sent_while_the_peer_stops_reading_arrive_whole_and_in_order()
    {
        // Declared first so that it outlives both transports: b's reader may still be in the sink when they stop.
        using var hold = new ManualResetEventSlim(false);
        await using var a = await TestNode.StartAsync(1, configure: o => o with { SendQueueBytesMax = 64 << 20 });
        await using var b = await TestNode.StartAsync(2);
        TestNode.Introduce(a, b);
        await a.DeliverAsync(b, context: 1);

        var random = new Random(7);
        var payloads = Enumerable.Range(0, 400).Select(i => CodecSupport.Payload(random.Next(1, 40_000), i)).ToArray();
        Message Append(int i) => new()
        {
            Type = MessageType.Append, From = 1, To = 2, Term = 1, Index = (ulong)i, LogTerm = 1,
            Entries = new[] { new Entry(1, (ulong)i + 1, EntryType.Command, payloads[i]) },
        };

        b.Sink.Hold = hold;

        // Sends never wait for the network: the whole burst is queued or sent while nothing is read.
        await Task.Run(() =>
        {
            for (var i = 0; i < payloads.Length; i++)
            {
                Assert.True(a.Transport.Send(Append(i)));
            }
        }).WaitAsync(TestTimeouts.Wait);

        hold.Set();
        await b.Sink.WaitForMessageAsync(m => m.Type == MessageType.Append && m.Index == (ulong)(payloads.Length - 1));
        var received = b.Sink.Messages.Where(m => m.Type == MessageType.Append).ToList();
        Assert.Equal(Enumerable.Range(0, payloads.Length).Select(i => (ulong)i), received.Select(m => m.Index));
        for (var i = 0; i < payloads.Length; i++)
        {
            Assert.True(payloads[i].AsSpan().SequenceEqual(received[i].Entries.Span[0].Data.Span), $"append {i} arrived changed");
        }
    }

    [Fact]
    public async Task Snapshot_chunks_and_their_responses_cross_the_wire_intact_and_in_order()
    {
        await using var a = await TestNode.StartAsync(1);
        await using var b = await TestNode.StartAsync(2);
        TestNode.Introduce(a, b);
        await a.DeliverAsync(b, context: 1);
        await b.DeliverAsync(a, context: 2);

        // A stream of 3.5 MiB in chunks of 1 MiB, the last one short, sent back to back.
        const int ChunkBytes = 1 << 20;
        var image = CodecSupport.Payload((3 * ChunkBytes) + (ChunkBytes / 2), 9);
        var chunks = new List<Message>();
        for (var offset = 0; offset < image.Length; offset += ChunkBytes)
        {
            var data = image.AsMemory(offset, Math.Min(ChunkBytes, image.Length - offset));
            chunks.Add(new Message
            {
                Type = MessageType.SnapshotChunk, From = 1, To = 2, Term = 4, Index = 900, LogTerm = 3,
                Offset = (ulong)offset, TotalBytes = (ulong)image.Length, Checksum = Crc32C.Compute(data.Span), Data = data,
            });
        }

        foreach (var chunk in chunks)
        {
            Assert.True(a.Transport.Send(chunk));
        }

        await b.Sink.WaitForMessageAsync(m => m.Type == MessageType.SnapshotChunk && m.Offset == chunks[^1].Offset);
        var received = b.Sink.Messages.Where(m => m.Type == MessageType.SnapshotChunk).ToList();
        Assert.Equal(chunks.Select(c => c.Offset), received.Select(m => m.Offset));
        var reassembled = new byte[image.Length];
        foreach (var chunk in received)
        {
            Assert.Equal((900ul, 3ul, (ulong)image.Length), (chunk.Index, chunk.LogTerm, chunk.TotalBytes));
            Assert.Equal(Crc32C.Compute(chunk.Data.Span), chunk.Checksum);
            chunk.Data.Span.CopyTo(reassembled.AsSpan((int)chunk.Offset));
        }

        Assert.Equal(image, reassembled);

        // The follower answers each chunk with what it holds; it turns the third one down.
        var responses = received.Select((chunk, i) => new Message
        {
            Type = MessageType.SnapshotChunkResponse, From = 2, To = 1, Term = 4, Index = chunk.Index, LogTerm = chunk.LogTerm,
            Offset = i == 2 ? chunk.Offset : chunk.Offset + (ulong)chunk.Data.Length, Reject = i == 2,
        }).ToList();
        foreach (var response in responses)
        {
            Assert.True(b.Transport.Send(response));
        }

        await a.Sink.WaitForMessageAsync(m => m.Type == MessageType.SnapshotChunkResponse && m.Offset == responses[^1].Offset);
        var answers = a.Sink.Messages.Where(m => m.Type == MessageType.SnapshotChunkResponse).ToList();
        Assert.Equal(
            responses.Select(r => (r.Index, r.LogTerm, r.Offset, r.Reject)),
            answers.Select(r => (r.Index, r.LogTerm, r.Offset, r.Reject)));
    }

    [Fact]
    public async Task A_peer_speaking_for_another_node_is_disconnected()
    {
        await using var a = await TestNode.StartAsync(1);
        await using var b = await TestNode.StartAsync(5);
        var peers = new Dictionary<int, string> { [1] = a.Address, [3] = "127.0.0.1:1", [5] = b.Address };
        a.Transport.SetPeers(peers);
        b.Transport.SetPeers(peers);
        await a.DeliverAsync(b, context: 1);

        using var timeout = new CancellationTokenSource(TestTimeouts.Wait);
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(b.Transport.LocalEndPoint!, timeout.Token);
        using (var frames = new PooledBufferWriter(512))
        {
            // Handshaken as node 3, then a well-formed heartbeat that claims to come from node 1.
            FrameCodec.WriteHello(frames, 3, "test"u8);
            FrameCodec.Write(frames, new Message { Type = MessageType.Heartbeat, From = 1, To = 5, Term = 1, Context = 99 }, FrameLimits.Default);
            await raw.SendAsync(frames.WrittenMemory, SocketFlags.None, timeout.Token);
        }

        await b.Log.WaitForAsync(LogEvents.MalformedFrame, text => text.Contains("a message from 1", StringComparison.Ordinal));
        Assert.True(await ReadUntilClosedAsync(raw));
        Assert.DoesNotContain(b.Sink.Messages, m => m.Context == 99);
        await a.DeliverAsync(b, context: 2);
    }

    [Fact]
    public async Task A_peer_of_another_cluster_is_refused()
    {
        await using var a = await TestNode.StartAsync(1, clusterId: "blue");
        await using var b = await TestNode.StartAsync(2, clusterId: "green");
        TestNode.Introduce(a, b);

        a.Transport.Send(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1, Context = 1 });
        await b.Log.WaitForAsync(LogEvents.Refused, text => text.Contains("cluster 'blue'", StringComparison.Ordinal));

        Assert.Empty(b.Sink.Messages);
        Assert.False(b.Transport.IsConnected(1));
        Assert.False(a.Transport.IsConnected(2));
    }

    [Fact]
    public async Task A_node_outside_the_peer_set_is_refused()
    {
        await using var a = await TestNode.StartAsync(1);
        await using var b = await TestNode.StartAsync(2);

        // a knows b, but b does not know a.
        a.Transport.SetPeers(new Dictionary<int, string> { [2] = b.Address });
        await b.Log.WaitForAsync(LogEvents.Refused, text => text.Contains("node 1 is not a peer", StringComparison.Ordinal));
        Assert.False(b.Transport.IsConnected(1));
    }

    [Fact]
    public async Task Frames_sent_with_the_hello_and_frames_sent_a_byte_at_a_time_are_all_delivered()
    {
        await using var b = await TestNode.StartAsync(5);
        b.Transport.SetPeers(new Dictionary<int, string> { [3] = "127.0.0.1:1", [5] = b.Address });

        using var timeout = new CancellationTokenSource(TestTimeouts.Wait);
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await raw.ConnectAsync(b.Transport.LocalEndPoint!, timeout.Token);

        // The hello and two frames in one write: what the handshake's reader holds past the hello is read first.
        using (var first = new PooledBufferWriter(512))
        {
            FrameCodec.WriteHello(first, 3, "test"u8);
            FrameCodec.Write(first, Heartbeat(context: 1), FrameLimits.Default);
            FrameCodec.Write(first, Heartbeat(context: 2), FrameLimits.Default);
            await raw.SendAsync(first.WrittenMemory, SocketFlags.None, timeout.Token);
        }

        await b.Sink.WaitForMessageAsync(m => m.From == 3 && m.Context == 2).WaitAsync(timeout.Token);

        // An append (told apart by its index) a byte per write, then one larger than the reader's first buffer in one write.
        var small = Append(index: 3, entries: 2, bytesEach: 10);
        var large = Append(index: 4, entries: 3, bytesEach: 100_000);
        using (var frames = new PooledBufferWriter(512))
        {
            FrameCodec.Write(frames, small, FrameLimits.Default);
            var bytes = frames.WrittenMemory.ToArray();
            foreach (var b1 in bytes)
            {
                await raw.SendAsync(new[] { b1 }, SocketFlags.None, timeout.Token);
            }

            frames.Reset();
            FrameCodec.Write(frames, large, FrameLimits.Default);
            await raw.SendAsync(frames.WrittenMemory, SocketFlags.None, timeout.Token);
        }

        await b.Sink.WaitForMessageAsync(m => m.Type == MessageType.Append && m.Index == 4).WaitAsync(timeout.Token);
        var received = b.Sink.Messages.Where(m => m.From == 3).Select(m => m.Type == MessageType.Append ? m.Index : m.Context).ToList();
        Assert.Equal([1UL, 2, 3, 4], received);
        var gotSmall = b.Sink.Messages.Single(m => m.Type == MessageType.Append && m.Index == 3);
        var gotLarge = b.Sink.Messages.Single(m => m.Type == MessageType.Append && m.Index == 4);
        AssertSameEntries(small, gotSmall);
        AssertSameEntries(large, gotLarge);

        static Message Heartbeat(ulong context) =>
            new() { Type = MessageType.Heartbeat, From = 3, To = 5, Term = 1, Context = context };

        static void AssertSameEntries(in Message sent, in Message received)
        {
            Assert.Equal(sent.Entries.Length, received.Entries.Length);
            for (var i = 0; i < sent.Entries.Length; i++)
            {
                Assert.Equal(sent.Entries.Span[i].Index, received.Entries.Span[i].Index);
                Assert.True(sent.Entries.Span[i].Data.Span.SequenceEqual(received.Entries.Span[i].Data.Span));
            }
        }

        static Message Append(ulong index, int entries, int bytesEach)
        {
            var list = Enumerable.Range(1, entries)
                .Select(i => new Entry(1, index + (ulong)i, EntryType.Command, Enumerable.Range(0, bytesEach).Select(j => (byte)((i * 31) + j)).ToArray()))
                .ToArray();
            return new Message { Type = MessageType.Append, From = 3, To = 5, Term = 1, Index = index, LogTerm = 1, Commit = 0, Entries = list };
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_malformed_frame_closes_that_connection_only(bool handshakeFirst)
    {
        await using var a = await TestNode.StartAsync(1);
        await using var b = await TestNode.StartAsync(5);
        var peers = new Dictionary<int, string> { [1] = a.Address, [3] = "127.0.0.1:1", [5] = b.Address };
        a.Transport.SetPeers(peers);
        b.Transport.SetPeers(peers);
        await a.DeliverAsync(b, context: 1);

        using var timeout = new CancellationTokenSource(TestTimeouts.Wait);
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(b.Transport.LocalEndPoint!, timeout.Token);
        if (handshakeFirst)
        {
            // Pose as node 3, which b knows, then break the protocol.
            using (var hello = new PooledBufferWriter(512))
            {
                FrameCodec.WriteHello(hello, 3, "test"u8);
                await raw.SendAsync(hello.WrittenMemory, SocketFlags.None, timeout.Token);
            }

            var reply = new byte[512];
            Assert.True(await raw.ReceiveAsync(reply, SocketFlags.None, timeout.Token) > 0);
            await b.Log.WaitForAsync(LogEvents.Connected, text => text.Contains("peer 3", StringComparison.Ordinal));
        }

        var garbage = new byte[64];
        new Random(7).NextBytes(garbage);
        await raw.SendAsync(garbage, SocketFlags.None, timeout.Token);

        // b closes the raw connection: the raw side reads the end of the stream (or a reset).
        var closed = await ReadUntilClosedAsync(raw);
        Assert.True(closed);
        if (handshakeFirst)
        {
            await b.Log.WaitForAsync(LogEvents.MalformedFrame);
        }
        else
        {
            await b.Log.WaitForAsync(LogEvents.Refused, text => text.Contains("malformed handshake", StringComparison.Ordinal));
        }

        // The connection between a and b is untouched.
        await a.DeliverAsync(b, context: 2);
        await b.DeliverAsync(a, context: 3);
        Assert.True(b.Transport.IsConnected(1));
    }

    [Theory]
    [InlineData(1, 2)] // the survivor dials the peer that dies
    [InlineData(2, 1)] // the survivor accepted the connection from the peer that dies
    public async Task A_killed_peer_is_reported_unreachable(int survivorId, int victimId)
    {
        await using var survivor = await TestNode.StartAsync(survivorId);
        var victim = await TestNode.StartAsync(victimId);
        TestNode.Introduce(survivor, victim);
        await survivor.DeliverAsync(victim, context: 1);
        await victim.DeliverAsync(survivor, context: 2);
        Assert.Empty(survivor.Sink.Unreachable);

        await victim.DisposeAsync();

        await survivor.Sink.WaitForUnreachableAsync(victimId);
        Assert.Equal([victimId], survivor.Sink.Unreachable);
    }

    [Fact]
    public async Task A_dying_peer_whose_listener_accepts_then_resets_the_redial_is_reported_without_waiting_for_the_backoff()
    {
        // The survivor dials the dying peer. Its reconnect backoff is far longer than the test may wait, so only
        // the crash check's quick retries can report the peer.
        await using var survivor = await TestNode.StartAsync(1, configure: o => o with
        {
            ReconnectBackoffMin = TimeSpan.FromMinutes(1),
            ReconnectBackoffMax = TimeSpan.FromMinutes(1),
            CrashCheckWindow = TestTimeouts.Wait,
        });
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        survivor.Transport.SetPeers(new Dictionary<int, string> { [1] = survivor.Address, [2] = listener.LocalEndpoint.ToString()! });
        using var timeout = new CancellationTokenSource(TestTimeouts.Wait);

        using (var established = await listener.AcceptSocketAsync(timeout.Token))
        {
            await SendHelloAsync(established, 2, timeout.Token);
            await survivor.Log.WaitForAsync(LogEvents.Connected);
        }

        // The process dies: its connection closes first; the redial still finds the listener, which then goes.
        using (var redial = await listener.AcceptSocketAsync(timeout.Token))
        {
            redial.LingerState = new LingerOption(true, 0);
            listener.Stop();
        }

        await survivor.Sink.WaitForUnreachableAsync(2);
        Assert.Equal([2], survivor.Sink.Unreachable);
    }

    [Fact]
    public async Task A_dying_dialler_whose_listener_accepts_the_first_probe_is_reported()
    {
        await using var survivor = await TestNode.StartAsync(2, configure: o => o with { CrashCheckWindow = TestTimeouts.Wait });
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        survivor.Transport.SetPeers(new Dictionary<int, string> { [1] = listener.LocalEndpoint.ToString()!, [2] = survivor.Address });
        using var timeout = new CancellationTokenSource(TestTimeouts.Wait);

        using (var dialled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await dialled.ConnectAsync(survivor.Transport.LocalEndPoint!, timeout.Token);
            await SendHelloAsync(dialled, 1, timeout.Token);
            await survivor.Log.WaitForAsync(LogEvents.Connected);
        }

        // The survivor's first probe still finds the dying process's listener; the next one is refused.
        using (var probe = await listener.AcceptSocketAsync(timeout.Token))
        {
            listener.Stop();
        }

        await survivor.Sink.WaitForUnreachableAsync(1);
        Assert.Equal([1], survivor.Sink.Unreachable);
    }

    private static async Task SendHelloAsync(Socket socket, int nodeId, CancellationToken token)
    {
        using var hello = new PooledBufferWriter(512);
        FrameCodec.WriteHello(hello, nodeId, "test"u8);
        await socket.SendAsync(hello.WrittenMemory, SocketFlags.None, token);
    }

    [Fact]
    public async Task Failing_to_reach_a_peer_that_never_answered_is_not_reported()
    {
        await using var a = await TestNode.StartAsync(1);
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        a.Transport.SetPeers(new Dictionary<int, string> { [2] = $"127.0.0.1:{port}" });
        await a.Log.WaitForAsync(LogEvents.DialFailed, count: 3);
        Assert.Empty(a.Sink.Unreachable);
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 1)]
    public async Task A_peer_that_comes_back_on_the_same_port_is_reconnected(int survivorId, int victimId)
    {
        await using var survivor = await TestNode.StartAsync(survivorId);
        var victim = await TestNode.StartAsync(victimId);
        TestNode.Introduce(survivor, victim);
        await survivor.DeliverAsync(victim, context: 1);
        Assert.Equal(0, survivor.Transport.PeerStats().Single().Reconnects);
        var port = victim.Transport.LocalEndPoint!.Port;

        await victim.DisposeAsync();
        await survivor.Sink.WaitForUnreachableAsync(victimId);

        await using var restarted = await TestNode.StartAsync(victimId, port: port);
        TestNode.Introduce(survivor, restarted);
        await survivor.DeliverAsync(restarted, context: 2);
        await restarted.DeliverAsync(survivor, context: 3);
        Assert.Equal([victimId], survivor.Sink.Unreachable);
        Assert.Equal(1, survivor.Transport.PeerStats().Single().Reconnects);
    }

    [Fact]
    public async Task Removing_a_peer_closes_its_connection_without_reporting_it()
    {
        await using var a = await TestNode.StartAsync(1);
        await using var b = await TestNode.StartAsync(2);
        TestNode.Introduce(a, b);
        await a.DeliverAsync(b, context: 1);

        a.Transport.SetPeers(new Dictionary<int, string> { [1] = a.Address });
        await b.Log.WaitForAsync(LogEvents.Disconnected);
        Assert.False(a.Transport.IsConnected(2));
        Assert.False(a.Transport.Send(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1 }));

        // b probes a's listener, which still answers: a is alive, so b reports nothing.
        await a.Log.WaitForAsync(LogEvents.Disconnected);
        Assert.Empty(b.Sink.Unreachable);
        Assert.Empty(a.Sink.Unreachable);
    }

    [Fact]
    public async Task Sending_to_an_unknown_peer_is_dropped_and_counted()
    {
        await using var a = await TestNode.StartAsync(1);
        Assert.False(a.Transport.Send(new Message { Type = MessageType.Heartbeat, From = 1, To = 9, Term = 1 }));
        Assert.Equal(1, a.Transport.DroppedMessages);
    }

    [Fact]
    public async Task A_full_send_queue_drops_new_messages()
    {
        var sink = new RecordingSink();
        var options = new TcpPeerTransportOptions
        {
            NodeId = 1,
            ClusterId = "test",
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            SendQueueMessagesMax = 4,
        };
        await using var transport = new TcpPeerTransport(options, sink);
        await transport.StartAsync(CancellationToken.None);

        // Nothing listens on port 1 of the loopback, so the queue never drains.
        transport.SetPeers(new Dictionary<int, string> { [2] = "127.0.0.1:1" });
        var accepted = 0;
        for (var i = 0; i < 10; i++)
        {
            accepted += transport.Send(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1 }) ? 1 : 0;
        }

        Assert.Equal(4, accepted);
        Assert.Equal(6, transport.DroppedMessages);
        Assert.Equal([new PeerLinkStats(2, DroppedMessages: 6, Reconnects: 0)], transport.PeerStats());
    }

    [Fact]
    public async Task Options_are_validated_at_start()
    {
        var options = new TcpPeerTransportOptions { NodeId = 0, ClusterId = "test", ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0) };
        await using var transport = new TcpPeerTransport(options, new RecordingSink());
        var error = await Assert.ThrowsAsync<ArgumentException>(() => transport.StartAsync(CancellationToken.None));
        Assert.Contains("NodeId", error.Message, StringComparison.Ordinal);
    }

    private static async Task<bool> ReadUntilClosedAsync(Socket socket)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TestTimeouts.Wait);
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
            {
            }

            return true;
        }
        catch (SocketException)
        {
            return true;
        }
    }
}
