using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Raft.Server;

/// <summary>
/// The node's metrics, as instruments of the <see cref="MeterName"/> meter (seen by <c>dotnet-counters</c>, OpenTelemetry
/// and any <see cref="MeterListener"/>) and as the Prometheus text (format 0.0.4) <c>GET /metrics</c> serves.
/// </summary>
/// <remarks>
/// One state feeds both. Counters and gauges are plain fields, updated with an interlocked add from any thread or
/// published by the node loop, and exposed as observable instruments: the meter reads them when a listener collects,
/// the text writer when a scraper asks, so an increment costs what it did before any listener existed. Histograms keep
/// their own buckets for the text and record into a <see cref="Histogram{T}"/> too, which costs nothing more than a
/// check while no listener is enabled. Each family is declared once (<see cref="Family"/>): its Prometheus name gives
/// the instrument's name (the prefix before the first underscore becomes a dotted namespace, the <c>_total</c> and unit
/// suffixes go) and unit, so an OpenTelemetry Prometheus exporter would print the same names. The .NET runtime figures
/// (<c>dotnet_*</c>, <c>process_*</c>) are written in the text only: a listener gets them from the runtime's own
/// <c>System.Runtime</c> meter.
/// </remarks>
public sealed class NodeMetrics
{
    /// <summary>The name of the meter the node's instruments belong to; its tag <c>raft.node</c> is the node's id.</summary>
    public const string MeterName = "Raft.Server";

    // Seconds; covers an in-memory commit (tens of µs) up to a stalled disk.
    private static readonly double[] LatencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    // Seconds; a snapshot of a few keys up to one of many GiB.
    private static readonly double[] SnapshotBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

    private static readonly string[] Generations = ["0", "1", "2"];

    private readonly List<Family> _families = [];
    private readonly BucketHistogram _proposalLatency;
    private readonly BucketHistogram _fsyncLatency;
    private readonly BucketHistogram _snapshotDuration;
    private long _snapshotsInstalled;
    private long _snapshotsSent;
    private long _snapshotSentBytes;
    private long _snapshotReceivedBytes;
    private long _snapshotFailures;
    private long _snapshotBytes;
    private long _stalls;
    private readonly ConcurrentDictionary<(string Route, string Method, int Status), StrongBox<long>> _requests = new();
    private readonly long[] _handshakeFailures = new long[Enum.GetValues<Transport.PeerHandshakeFailure>().Length];
    private long _leaderChanges;
    private long _elections;
    private long _diskFullEpisodes;
    private PeerGauges _peers = PeerGauges.None;

    /// <summary>Creates the instruments on a meter from <paramref name="meters"/> (which owns and disposes it).</summary>
    public NodeMetrics(IMeterFactory meters, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(options);
        Meter = meters.Create(new MeterOptions(MeterName) { Tags = [new("raft.node", options.Id)] });
        Gauge("raft_term", "The current term.", () => Term);
        Gauge("raft_is_leader", "1 when this node is the leader.", () => IsLeader ? 1 : 0);
        Gauge("raft_disk_full", "1 while this node cannot write its log or hard state for want of disk space (writes are refused with disk_full).", () => DiskFull ? 1 : 0);
        Gauge("raft_leader_id", "The leader this node knows of, 0 for none.", () => LeaderId);
        Gauge("raft_commit_index", "The highest log index known committed.", () => CommitIndex);
        Gauge("raft_applied_index", "The highest log index applied to the key-value store.", () => AppliedIndex);
        Gauge("raft_voters", "Voters in the configuration in force on this node.", () => Voters);
        Gauge("raft_learners", "Learners in the configuration in force on this node.", () => Learners);
        Gauge("raft_config_index", "The log index of the configuration in force on this node (0: the bootstrap one).", () => ConfigIndex);
        Gauge("raft_watchers", "Watches this node serves now.", () => Watchers);
        Counter("raft_watches_dropped_total", "Watches this node ended because they fell further behind than its history holds.", () => WatchesDropped);
        Gauge("raft_leases", "Leases the state machine holds (live, or run out and not yet ended by the leader's expiry entry).", () => Leases);
        Gauge("raft_sessions", "Client sessions the state machine holds (each remembers its last write, to apply a retry once).", () => Sessions);
        Gauge("raft_locks", "Locks the state machine holds (held, or run out and not yet released or taken).", () => Locks);
        Counter("raft_lease_duties_total", "Commands this node proposed of its own accord as leader: lease expiries and the take-over extension.", () => Duties);
        Gauge("raft_cluster_version", "The cluster version this node has applied: which commands the cluster may propose.", () => ClusterVersion);
        Gauge("raft_membership_change_pending", "1 while this leader has a membership change proposed and not committed.", () => MembershipChangePending ? 1 : 0);
        Counter("raft_leader_changes_total", "Times this node saw the leader change.", () => Interlocked.Read(ref _leaderChanges));
        Counter("raft_elections_total", "Campaigns this node started.", () => Interlocked.Read(ref _elections));
        _proposalLatency = Histogram("raft_proposal_duration_seconds", "From proposal to applied, on the leader.", LatencyBuckets);
        _fsyncLatency = Histogram("raft_fsync_duration_seconds", "One fsync of the write-ahead log.", LatencyBuckets);
        Gauge("raft_log_memory_bytes", "Bytes of log entries held in memory; older ones are read back from the log.", () => LogMemoryBytes);
        Gauge("raft_snapshot_bytes", "The length of the latest snapshot this node took.", () => Interlocked.Read(ref _snapshotBytes));
        _snapshotDuration = Histogram("raft_snapshot_duration_seconds", "From freezing the state to its snapshot being durable, off the node's thread.", SnapshotBuckets);
        Counter("raft_snapshots_installed_total", "Snapshots received from a leader and installed.", () => Interlocked.Read(ref _snapshotsInstalled));
        Counter("raft_snapshot_received_bytes_total", "Bytes of the snapshots this node received from a leader and installed.", () => Interlocked.Read(ref _snapshotReceivedBytes));
        Counter("raft_snapshot_transfers_total", "Snapshot transfers this node began as leader.", () => Interlocked.Read(ref _snapshotsSent));
        Counter("raft_snapshot_sent_bytes_total", "Bytes of the snapshots this node began sending as leader (each transfer counts its snapshot's length).", () => Interlocked.Read(ref _snapshotSentBytes));
        Counter("raft_disk_full_total", "Times this node found its disk full and began waiting for space.", () => Interlocked.Read(ref _diskFullEpisodes));
        Counter("raft_snapshot_failures_total", "Snapshots that could not be taken, sent, received or finished (tried again).", () => Interlocked.Read(ref _snapshotFailures));
        Counter("raft_node_thread_stalls_total", "Batches that held the node's thread, or gaps between batches, of a third of an election timeout or more.", () => Interlocked.Read(ref _stalls));
        Labelled("raft_peer_handshake_failures_total", Family.CounterType, "Peer connections refused during their handshake, by reason (tls, certificate, secret, hello, incomplete).", HandshakeFailures);
        Labelled("raft_peer_lag_entries", Family.GaugeType, "On the leader, per peer: entries of the leader's log the peer is not known to hold (last index minus the peer's match index), as /v1/cluster shows it.", () => _peers.Lag());
        Labelled("raft_peer_last_contact_seconds", Family.GaugeType, "Per peer: seconds since this node last received a message from it (absent until one arrives).", () => _peers.LastContact());
        Labelled("raft_transport_dropped_messages_total", Family.CounterType, "Per peer: messages the transport dropped (a full or closed send queue, or too large for a frame); Raft sends them again.", () => Transport(static stats => stats.DroppedMessages));
        Labelled("raft_transport_reconnects_total", Family.CounterType, "Per peer: connections established with the peer after the first one (a broken connection replaced).", () => Transport(static stats => stats.Reconnects));
        Labelled("http_requests_total", Family.CounterType, "HTTP requests by route, method and status.", Requests);

        Runtime("dotnet_gc_pause_seconds_total", Family.CounterType, "Time the runtime paused this process's threads for garbage collection.", static () => GC.GetTotalPauseDuration().TotalSeconds);
        RuntimeLabelled("dotnet_collection_count_total", Family.CounterType, "Garbage collections of each generation (a collection of a generation collects the younger ones too).", static () => Collections());
        Runtime("dotnet_total_memory_bytes", Family.GaugeType, "Bytes the garbage collector counts as allocated now.", static () => GC.GetTotalMemory(forceFullCollection: false));
        Runtime("dotnet_gc_heap_size_bytes", Family.GaugeType, "The managed heap's size after the latest garbage collection, fragmentation included.", static () => GC.GetGCMemoryInfo().HeapSizeBytes);
        Runtime("dotnet_gc_allocated_bytes_total", Family.CounterType, "Bytes allocated on the managed heap since the process started.", static () => GC.GetTotalAllocatedBytes());
        Runtime("dotnet_threadpool_threads", Family.GaugeType, "Thread-pool threads that exist now.", static () => ThreadPool.ThreadCount);
        Runtime("dotnet_threadpool_queue_length", Family.GaugeType, "Work items queued to the thread pool and not started yet.", static () => ThreadPool.PendingWorkItemCount);
        Runtime("dotnet_threadpool_completed_items_total", Family.CounterType, "Work items the thread pool has run.", static () => ThreadPool.CompletedWorkItemCount);
        Runtime("process_cpu_seconds_total", Family.CounterType, "Processor time this process has used, user and system.", static () => Environment.CpuUsage.TotalTime.TotalSeconds);
        Runtime("process_working_set_bytes", Family.GaugeType, "Physical memory mapped to this process.", static () => Environment.WorkingSet);
    }

    /// <summary>The meter this node's instruments belong to.</summary>
    public Meter Meter { get; }

    public long Term { get; set; }

    public long CommitIndex { get; set; }

    public long AppliedIndex { get; set; }

    public long LeaderId { get; set; }

    public bool IsLeader { get; set; }

    /// <summary>The node waits for disk space to write its log or hard state.</summary>
    public bool DiskFull { get; set; }

    /// <summary>Voters in the configuration in force on this node.</summary>
    public long Voters { get; set; }

    /// <summary>Learners in the configuration in force on this node.</summary>
    public long Learners { get; set; }

    /// <summary>The log index of the configuration in force on this node.</summary>
    public long ConfigIndex { get; set; }

    /// <summary>The cluster version this node has applied.</summary>
    public int ClusterVersion { get; set; }

    /// <summary>Leases the store holds, set by the node loop after each batch.</summary>
    public int Leases { get; set; }

    /// <summary>Client sessions the store holds, set by the node loop after each batch.</summary>
    public int Sessions { get; set; }

    /// <summary>Locks the store holds, set by the node loop after each batch.</summary>
    public int Locks { get; set; }

    /// <summary>Commands the leader proposed of its own accord (lease expiries and take-overs), set by the node loop.</summary>
    public long Duties { get; set; }

    /// <summary>Watches this node serves now.</summary>
    public int Watchers { get; set; }

    /// <summary>Watches this node ended because they fell behind its history.</summary>
    public long WatchesDropped { get; set; }

    /// <summary>On the leader, a membership change proposed and not committed yet.</summary>
    public bool MembershipChangePending { get; set; }

    /// <summary>Bytes of log entries the core holds in memory (the rest is read back from the log when needed).</summary>
    public long LogMemoryBytes { get; set; }

    /// <summary>The per-peer figures of the transport; none until the node's TCP transport is created.</summary>
    public Func<IReadOnlyList<Transport.PeerLinkStats>>? TransportStats { get; set; }

    /// <summary>
    /// The peers the per-peer gauges name, published by the node loop when the configuration changes; it then updates
    /// their figures in place after each batch.
    /// </summary>
    internal PeerGauges Peers
    {
        get => Volatile.Read(ref _peers);
        set => Volatile.Write(ref _peers, value);
    }

    public void SnapshotTaken(TimeSpan elapsed, long bytes)
    {
        _snapshotDuration.Observe(elapsed.TotalSeconds);
        Interlocked.Exchange(ref _snapshotBytes, bytes);
    }

    public void SnapshotInstalled(long bytes)
    {
        Interlocked.Increment(ref _snapshotsInstalled);
        Interlocked.Add(ref _snapshotReceivedBytes, bytes);
    }

    public void SnapshotSendStarted(long bytes)
    {
        Interlocked.Increment(ref _snapshotsSent);
        Interlocked.Add(ref _snapshotSentBytes, bytes);

    }

    public void SnapshotFailed() => Interlocked.Increment(ref _snapshotFailures);

    public void NodeThreadStalled() => Interlocked.Increment(ref _stalls);

    /// <summary>A peer connection was refused during its handshake (called by the transport).</summary>
    public void PeerHandshakeFailed(Transport.PeerHandshakeFailure reason) => Interlocked.Increment(ref _handshakeFailures[(int)reason]);

    public void LeaderChanged() => Interlocked.Increment(ref _leaderChanges);

    public void ElectionStarted() => Interlocked.Increment(ref _elections);

    public void DiskFullStarted() => Interlocked.Increment(ref _diskFullEpisodes);

    public void ObserveProposal(TimeSpan elapsed) => _proposalLatency.Observe(elapsed.TotalSeconds);

    public void ObserveFsync(TimeSpan elapsed) => _fsyncLatency.Observe(elapsed.TotalSeconds);

    public void CountRequest(string route, string method, int status) =>
        Interlocked.Increment(ref _requests.GetOrAdd((route, method, status), static _ => new StrongBox<long>()).Value);

    public string Render()
    {
        var sb = new StringBuilder(8192);
        foreach (var family in _families)
        {
            family.Render(sb);
        }

        return sb.ToString();
    }

    /// <summary>The instrument's name and unit for a Prometheus name: <c>raft_fsync_duration_seconds</c> is <c>raft.fsync_duration</c> in s.</summary>
    internal static (string Name, string? Unit) InstrumentName(string prometheus)
    {
        var name = prometheus.EndsWith("_total", StringComparison.Ordinal) ? prometheus[..^"_total".Length] : prometheus;
        string? unit = null;
        if (name.EndsWith("_seconds", StringComparison.Ordinal))
        {
            (name, unit) = (name[..^"_seconds".Length], "s");
        }
        else if (name.EndsWith("_bytes", StringComparison.Ordinal))
        {
            (name, unit) = (name[..^"_bytes".Length], "By");
        }

        var dot = name.IndexOf('_', StringComparison.Ordinal);
        return (string.Concat(name.AsSpan(0, dot), ".", name.AsSpan(dot + 1)), unit);
    }

    private void Gauge(string name, string help, Func<long> read)
    {
        var (instrument, unit) = InstrumentName(name);
        Meter.CreateObservableGauge(instrument, read, unit, help);
        _families.Add(new Single<long>(name, Family.GaugeType, help, read));
    }

    private void Counter(string name, string help, Func<long> read)
    {
        var (instrument, unit) = InstrumentName(name);
        Meter.CreateObservableCounter(instrument, read, unit, help);
        _families.Add(new Single<long>(name, Family.CounterType, help, read));
    }

    private void Labelled<T>(string name, string type, string help, Func<IEnumerable<Measurement<T>>> read)
        where T : struct, IFormattable
    {
        var (instrument, unit) = InstrumentName(name);
        if (type == Family.CounterType)
        {
            Meter.CreateObservableCounter(instrument, read, unit, help);
        }
        else
        {
            Meter.CreateObservableGauge(instrument, read, unit, help);
        }

        _families.Add(new Many<T>(name, type, help, read));
    }

    private BucketHistogram Histogram(string name, string help, double[] bounds)
    {
        var (instrument, unit) = InstrumentName(name);
        var histogram = new BucketHistogram(name, help, bounds, Meter.CreateHistogram<double>(instrument, unit, help, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = bounds }));
        _families.Add(histogram);
        return histogram;
    }

    private void Runtime<T>(string name, string type, string help, Func<T> read)
        where T : struct, IFormattable =>
        _families.Add(new Single<T>(name, type, help, read));

    private void RuntimeLabelled<T>(string name, string type, string help, Func<IEnumerable<Measurement<T>>> read)
        where T : struct, IFormattable =>
        _families.Add(new Many<T>(name, type, help, read));

    private IEnumerable<Measurement<long>> HandshakeFailures()
    {
        foreach (var reason in Enum.GetValues<Transport.PeerHandshakeFailure>())
        {
            yield return new Measurement<long>(Interlocked.Read(ref _handshakeFailures[(int)reason]), new KeyValuePair<string, object?>("reason", reason.ToString().ToLowerInvariant()));
        }
    }

    private IEnumerable<Measurement<long>> Requests()
    {
        foreach (var ((route, method, status), count) in _requests)
        {
            yield return new Measurement<long>(Interlocked.Read(ref count.Value),
                new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("status", status));
        }
    }

    private IEnumerable<Measurement<long>> Transport(Func<Transport.PeerLinkStats, long> read)
    {
        foreach (var stats in TransportStats?.Invoke() ?? [])
        {
            yield return new Measurement<long>(read(stats), new KeyValuePair<string, object?>("peer", stats.Peer));
        }
    }

    private static IEnumerable<Measurement<long>> Collections()
    {
        for (var generation = 0; generation < Generations.Length; generation++)
        {
            yield return new Measurement<long>(GC.CollectionCount(generation), new KeyValuePair<string, object?>("generation", Generations[generation]));
        }
    }

    /// <summary>
    /// The configuration's other members and their figures. The node loop writes each peer's lag after each batch (a
    /// volatile store, no allocation once the set exists); last contact is read from <see cref="NodeHistory"/> when
    /// asked. Scrapes and listeners read them from any thread.
    /// </summary>
    internal sealed class PeerGauges(int[] peers, NodeHistory? history)
    {
        public static readonly PeerGauges None = new([], null);

        private readonly long[] _lag = new long[peers.Length];

        public ReadOnlySpan<int> Ids => peers;

        /// <summary>The peer at <paramref name="slot"/> is <paramref name="lag"/> entries behind; -1 when this node does not lead.</summary>
        public void SetLag(int slot, long lag) => Volatile.Write(ref _lag[slot], lag);

        public IEnumerable<Measurement<long>> Lag()
        {
            for (var i = 0; i < peers.Length; i++)
            {
                if (Volatile.Read(ref _lag[i]) is var lag and >= 0)
                {
                    yield return new Measurement<long>(lag, new KeyValuePair<string, object?>("peer", peers[i]));
                }
            }
        }

        public IEnumerable<Measurement<double>> LastContact()
        {
            for (var i = 0; i < peers.Length; i++)
            {
                if (history?.SinceHeard(peers[i]) is { } since)
                {
                    yield return new Measurement<double>(since.TotalSeconds, new KeyValuePair<string, object?>("peer", peers[i]));
                }
            }
        }
    }

    /// <summary>One metric family: its Prometheus name, type and help, and how it writes its samples.</summary>
    private abstract class Family(string name, string type, string help)
    {
        public const string GaugeType = "gauge";
        public const string CounterType = "counter";

        protected string Name => name;

        public void Render(StringBuilder sb)
        {
            sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");
            RenderSamples(sb);
        }

        protected abstract void RenderSamples(StringBuilder sb);

        protected static void Value<T>(StringBuilder sb, T value)
            where T : IFormattable =>
            sb.Append(' ').Append(value.ToString(null, CultureInfo.InvariantCulture)).Append('\n');

        protected static string Escape(string value) =>
            value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }

    private sealed class Single<T>(string name, string type, string help, Func<T> read) : Family(name, type, help)
        where T : struct, IFormattable
    {
        protected override void RenderSamples(StringBuilder sb) => Value(sb.Append(Name), read());
    }

    private sealed class Many<T>(string name, string type, string help, Func<IEnumerable<Measurement<T>>> read) : Family(name, type, help)
        where T : struct, IFormattable
    {
        protected override void RenderSamples(StringBuilder sb)
        {
            foreach (var measurement in read())
            {
                sb.Append(Name).Append('{');
                var first = true;
                foreach (var (key, tag) in measurement.Tags)
                {
                    sb.Append(first ? "" : ",").Append(key).Append("=\"")
                        .Append(Escape(Convert.ToString(tag, CultureInfo.InvariantCulture) ?? "")).Append('"');
                    first = false;
                }

                Value(sb.Append('}'), measurement.Value);
            }
        }
    }

    /// <summary>
    /// A fixed-bucket histogram; each observation is two interlocked adds and a CAS loop for the sum, and a record into
    /// the meter's histogram (a check and nothing more while no listener is enabled for it).
    /// </summary>
    private sealed class BucketHistogram(string name, string help, double[] bounds, Histogram<double> instrument) : Family(name, "histogram", help)
    {
        private readonly long[] _counts = new long[bounds.Length + 1];
        private long _sumBits;

        public void Observe(double value)
        {
            var i = 0;
            while (i < bounds.Length && value > bounds[i])
            {
                i++;
            }

            Interlocked.Increment(ref _counts[i]);
            long seen, updated;
            do
            {
                seen = Interlocked.Read(ref _sumBits);
                updated = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + value);
            }
            while (Interlocked.CompareExchange(ref _sumBits, updated, seen) != seen);
            instrument.Record(value);
        }

        protected override void RenderSamples(StringBuilder sb)
        {
            long cumulative = 0;
            for (var i = 0; i < bounds.Length; i++)
            {
                cumulative += Interlocked.Read(ref _counts[i]);
                sb.Append(CultureInfo.InvariantCulture, $"{Name}_bucket{{le=\"{bounds[i]}\"}} {cumulative}\n");
            }

            cumulative += Interlocked.Read(ref _counts[^1]);
            sb.Append(CultureInfo.InvariantCulture, $"{Name}_bucket{{le=\"+Inf\"}} {cumulative}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{Name}_sum {BitConverter.Int64BitsToDouble(Interlocked.Read(ref _sumBits))}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{Name}_count {cumulative}\n");
        }
    }
}
