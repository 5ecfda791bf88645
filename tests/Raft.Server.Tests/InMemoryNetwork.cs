using Raft.Core;
using Raft.Transport;

namespace Raft.Server.Tests;

/// <summary>
/// Peer transports for nodes in one process. Delivery is synchronous into the receiver's sink (which only queues),
/// and a node can be cut off in both directions to simulate a partition.
/// </summary>
public sealed class InMemoryNetwork
{
    private readonly Lock _gate = new();
    private readonly Dictionary<int, IPeerMessageSink> _sinks = [];
    private readonly HashSet<int> _isolated = [];

    public PeerTransportFactory Factory => (options, sink) => new Transport(this, options.Id, sink);

    /// <summary>Drops every message to and from <paramref name="id"/> until <see cref="Heal"/>.</summary>
    public void Isolate(int id)
    {
        lock (_gate)
        {
            _isolated.Add(id);
        }
    }

    public void Heal()
    {
        lock (_gate)
        {
            _isolated.Clear();
        }
    }

    private bool Deliver(int from, in Message message)
    {
        IPeerMessageSink? sink;
        lock (_gate)
        {
            if (_isolated.Contains(from) || _isolated.Contains(message.To) || !_sinks.TryGetValue(message.To, out sink))
            {
                return false;
            }
        }

        // The contract lets the sender reuse what it passed once Send returns: copy the entry array and chunk bytes.
        var copy = message;
        copy.Entries = message.Entries.ToArray();
        copy.Data = message.Data.ToArray();
        sink.OnMessage(copy);
        return true;
    }

    private sealed class Transport(InMemoryNetwork network, int id, IPeerMessageSink sink) : IPeerTransport
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lock (network._gate)
            {
                network._sinks[id] = sink;
            }

            return Task.CompletedTask;
        }

        public bool Send(in Message message) => network.Deliver(id, message);

        public void SetPeers(IReadOnlyDictionary<int, string> peers)
        {
        }

        public ValueTask DisposeAsync()
        {
            lock (network._gate)
            {
                if (network._sinks.TryGetValue(id, out var current) && current == sink)
                {
                    network._sinks.Remove(id);
                }
            }

            return ValueTask.CompletedTask;
        }
    }
}
