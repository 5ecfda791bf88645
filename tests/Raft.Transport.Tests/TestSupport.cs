using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Raft.Core;

namespace Raft.Transport.Tests;

/// <summary>Records what a transport delivers and lets a test await a condition with a timeout.</summary>
internal sealed class RecordingSink : IPeerMessageSink
{
    private readonly Lock _lock = new();
    private readonly List<Message> _messages = [];
    private readonly List<int> _unreachable = [];
    private readonly List<(Func<bool> Condition, TaskCompletionSource Done)> _waiters = [];

    public IReadOnlyList<Message> Messages
    {
        get
        {
            lock (_lock)
            {
                return [.. _messages];
            }
        }
    }

    public IReadOnlyList<int> Unreachable
    {
        get
        {
            lock (_lock)
            {
                return [.. _unreachable];
            }
        }
    }

    /// <summary>When set, each delivery waits for it first: the transport's reader stops reading meanwhile.</summary>
    public ManualResetEventSlim? Hold { get; set; }

    public void OnMessage(in Message message)
    {
        if (Hold is { } hold && !hold.Wait(TestTimeouts.Wait))
        {
            throw new TimeoutException("the sink was held too long");
        }

        lock (_lock)
        {
            _messages.Add(message);
            Signal();
        }
    }

    public void OnPeerUnreachable(int peerId)
    {
        lock (_lock)
        {
            _unreachable.Add(peerId);
            Signal();
        }
    }

    public Task WaitForMessageAsync(Func<Message, bool> match) =>
        WaitAsync(() => _messages.Exists(m => match(m)));

    public Task WaitForUnreachableAsync(int peerId) => WaitAsync(() => _unreachable.Contains(peerId));

    /// <summary>Completes when <paramref name="condition"/> (evaluated under the sink's lock) holds; fails after the test timeout.</summary>
    public Task WaitAsync(Func<bool> condition)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (condition())
            {
                return Task.CompletedTask;
            }

            _waiters.Add((condition, done));
        }

        return done.Task.WaitAsync(TestTimeouts.Wait);
    }

    private void Signal()
    {
        for (var i = _waiters.Count - 1; i >= 0; i--)
        {
            if (_waiters[i].Condition())
            {
                _waiters[i].Done.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
    }
}

/// <summary>Keeps log lines so tests can await and check what the transport reported.</summary>
internal sealed class ListLogger : ILogger
{
    private readonly ConcurrentQueue<(LogLevel Level, int EventId, string Text)> _lines = new();
    private readonly Lock _lock = new();
    private readonly List<(Func<bool> Condition, TaskCompletionSource Done)> _waiters = [];

    public IEnumerable<(LogLevel Level, int EventId, string Text)> Lines => _lines;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        _lines.Enqueue((logLevel, eventId.Id, formatter(state, exception)));
        lock (_lock)
        {
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Condition())
                {
                    _waiters[i].Done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    public int Count(int eventId) => _lines.Count(line => line.EventId == eventId);

    public Task WaitForAsync(int eventId, Func<string, bool>? match = null, int count = 1)
    {
        bool Condition() => _lines.Count(line => line.EventId == eventId && (match is null || match(line.Text))) >= count;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (Condition())
            {
                return Task.CompletedTask;
            }

            _waiters.Add((Condition, done));
        }

        return done.Task.WaitAsync(TestTimeouts.Wait);
    }
}

internal static class TestTimeouts
{
    /// <summary>How long any single wait may take before the test fails (generous: CI machines are slow).</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
}

/// <summary>Event ids of <c>TransportLog</c>, for tests that await a logged event.</summary>
internal static class LogEvents
{
    public const int Connected = 2;
    public const int Disconnected = 3;
    public const int MalformedFrame = 4;
    public const int Refused = 5;
    public const int DialFailed = 6;
    public const int Unreachable = 7;
    public const int HandshakeRejected = 13;
}

/// <summary>A transport on 127.0.0.1 with an OS-chosen port, its sink and its log.</summary>
internal sealed class TestNode : IAsyncDisposable
{
    private TestNode(TcpPeerTransport transport, RecordingSink sink, ListLogger log)
    {
        Transport = transport;
        Sink = sink;
        Log = log;
    }

    public TcpPeerTransport Transport { get; }

    public RecordingSink Sink { get; }

    public ListLogger Log { get; }

    public int Id => Transport.Options.NodeId;

    public string Address => Transport.LocalEndPoint!.ToString();

    public static async Task<TestNode> StartAsync(int id, string clusterId = "test", int port = 0, Func<TcpPeerTransportOptions, TcpPeerTransportOptions>? configure = null)
    {
        var sink = new RecordingSink();
        var log = new ListLogger();
        var options = new TcpPeerTransportOptions
        {
            NodeId = id,
            ClusterId = clusterId,
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, port),
            ReconnectBackoffMin = TimeSpan.FromMilliseconds(10),
            ReconnectBackoffMax = TimeSpan.FromMilliseconds(200),
            ConnectTimeout = TimeSpan.FromSeconds(2),
        };
        if (configure is not null)
        {
            options = configure(options);
        }

        var transport = new TcpPeerTransport(options, sink, log);
        await transport.StartAsync(CancellationToken.None);
        return new TestNode(transport, sink, log);
    }

    /// <summary>Tells every node the actual addresses of all of them (self included, which a transport ignores).</summary>
    public static void Introduce(params TestNode[] nodes)
    {
        var peers = nodes.ToDictionary(node => node.Id, node => node.Address);
        foreach (var node in nodes)
        {
            node.Transport.SetPeers(peers);
        }
    }

    /// <summary>
    /// Sends heartbeats to <paramref name="to"/> until one arrives: a send before the connection is up is queued,
    /// but may be lost with a connection attempt that fails, so a single send is no proof of anything.
    /// </summary>
    public async Task DeliverAsync(TestNode to, ulong context)
    {
        var arrived = to.Sink.WaitForMessageAsync(m => m.From == Id && m.Context == context);
        var heartbeat = new Message { Type = MessageType.Heartbeat, From = Id, To = to.Id, Term = 1, Commit = 0, Context = context };
        Transport.Send(heartbeat);
        using var resend = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (!arrived.IsCompleted)
        {
            var tick = resend.WaitForNextTickAsync().AsTask();
            await Task.WhenAny(arrived, tick);
            if (!arrived.IsCompleted)
            {
                Transport.Send(heartbeat);
            }
        }

        await arrived;
    }

    public ValueTask DisposeAsync() => Transport.DisposeAsync();
}
