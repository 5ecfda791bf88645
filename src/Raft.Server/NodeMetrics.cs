using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Raft.Server;

/// <summary>
/// The node's Prometheus metrics. Counters and histograms are updated with interlocked operations from any
/// thread; gauges are published by the node loop. Rendered in the text exposition format 0.0.4.
/// </summary>
public sealed class NodeMetrics
{
    // Seconds; covers an in-memory commit (tens of µs) up to a stalled disk.
    private static readonly double[] LatencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    // Seconds; a snapshot of a few keys up to one of many GiB.
    private static readonly double[] SnapshotBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

    private readonly Histogram _proposalLatency = new(LatencyBuckets);
    private readonly Histogram _fsyncLatency = new(LatencyBuckets);
    private readonly Histogram _snapshotDuration = new(SnapshotBuckets);
    private long _snapshotsInstalled;
    private long _snapshotsSent;
    private long _snapshotFailures;
    private long _snapshotBytes;
    private long _stalls;
    private readonly ConcurrentDictionary<(string Route, string Method, int Status), StrongBox<long>> _requests = new();
    private readonly long[] _handshakeFailures = new long[Enum.GetValues<Transport.PeerHandshakeFailure>().Length];
    private long _leaderChanges;
    private long _elections;
    private long _diskFullEpisodes;

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

    public void SnapshotTaken(TimeSpan elapsed, long bytes)
    {
        _snapshotDuration.Observe(elapsed.TotalSeconds);
        Interlocked.Exchange(ref _snapshotBytes, bytes);
    }

    public void SnapshotInstalled() => Interlocked.Increment(ref _snapshotsInstalled);

    public void SnapshotSendStarted() => Interlocked.Increment(ref _snapshotsSent);

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
        var sb = new StringBuilder(4096);
        Gauge(sb, "raft_term", "The current term.", Term);
        Gauge(sb, "raft_is_leader", "1 when this node is the leader.", IsLeader ? 1 : 0);
        Gauge(sb, "raft_disk_full", "1 while this node cannot write its log or hard state for want of disk space (writes are refused with disk_full).", DiskFull ? 1 : 0);
        Gauge(sb, "raft_leader_id", "The leader this node knows of, 0 for none.", LeaderId);
        Gauge(sb, "raft_commit_index", "The highest log index known committed.", CommitIndex);
        Gauge(sb, "raft_applied_index", "The highest log index applied to the key-value store.", AppliedIndex);
        Gauge(sb, "raft_voters", "Voters in the configuration in force on this node.", Voters);
        Gauge(sb, "raft_learners", "Learners in the configuration in force on this node.", Learners);
        Gauge(sb, "raft_config_index", "The log index of the configuration in force on this node (0: the bootstrap one).", ConfigIndex);
        Gauge(sb, "raft_watchers", "Watches this node serves now.", Watchers);
        Counter(sb, "raft_watches_dropped_total", "Watches this node ended because they fell further behind than its history holds.", WatchesDropped);
        Gauge(sb, "raft_leases", "Leases the state machine holds (live, or run out and not yet ended by the leader's expiry entry).", Leases);
        Counter(sb, "raft_lease_duties_total", "Commands this node proposed of its own accord as leader: lease expiries and the take-over extension.", Duties);
        Gauge(sb, "raft_cluster_version", "The cluster version this node has applied: which commands the cluster may propose.", ClusterVersion);
        Gauge(sb, "raft_membership_change_pending", "1 while this leader has a membership change proposed and not committed.", MembershipChangePending ? 1 : 0);
        Counter(sb, "raft_leader_changes_total", "Times this node saw the leader change.", Interlocked.Read(ref _leaderChanges));
        Counter(sb, "raft_elections_total", "Campaigns this node started.", Interlocked.Read(ref _elections));
        _proposalLatency.Render(sb, "raft_proposal_duration_seconds", "From proposal to applied, on the leader.");
        _fsyncLatency.Render(sb, "raft_fsync_duration_seconds", "One fsync of the write-ahead log.");
        Gauge(sb, "raft_log_memory_bytes", "Bytes of log entries held in memory; older ones are read back from the log.", LogMemoryBytes);
        Gauge(sb, "raft_snapshot_bytes", "The length of the latest snapshot this node took.", Interlocked.Read(ref _snapshotBytes));
        _snapshotDuration.Render(sb, "raft_snapshot_duration_seconds", "From freezing the state to its snapshot being durable, off the node's thread.");
        Counter(sb, "raft_snapshots_installed_total", "Snapshots received from a leader and installed.", Interlocked.Read(ref _snapshotsInstalled));
        Counter(sb, "raft_snapshot_transfers_total", "Snapshot transfers this node began as leader.", Interlocked.Read(ref _snapshotsSent));
        Counter(sb, "raft_disk_full_total", "Times this node found its disk full and began waiting for space.", Interlocked.Read(ref _diskFullEpisodes));
        Counter(sb, "raft_snapshot_failures_total", "Snapshots that could not be taken, sent, received or finished (tried again).", Interlocked.Read(ref _snapshotFailures));
        Counter(sb, "raft_node_thread_stalls_total", "Batches that held the node's thread, or gaps between batches, of a third of an election timeout or more.", Interlocked.Read(ref _stalls));
        sb.Append("# HELP raft_peer_handshake_failures_total Peer connections refused during their handshake, by reason (tls, certificate, secret, hello, incomplete).\n# TYPE raft_peer_handshake_failures_total counter\n");
        foreach (var reason in Enum.GetValues<Transport.PeerHandshakeFailure>())
        {
            sb.Append(CultureInfo.InvariantCulture, $"raft_peer_handshake_failures_total{{reason=\"{reason.ToString().ToLowerInvariant()}\"}} {Interlocked.Read(ref _handshakeFailures[(int)reason])}\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"# HELP dotnet_gc_pause_seconds_total Time the runtime paused this process's threads for garbage collection.\n# TYPE dotnet_gc_pause_seconds_total counter\ndotnet_gc_pause_seconds_total {GC.GetTotalPauseDuration().TotalSeconds}\n");
        sb.Append("# HELP http_requests_total HTTP requests by route, method and status.\n# TYPE http_requests_total counter\n");
        foreach (var ((route, method, status), count) in _requests)
        {
            sb.Append(CultureInfo.InvariantCulture, $"http_requests_total{{route=\"{Escape(route)}\",method=\"{method}\",status=\"{status}\"}} {Interlocked.Read(ref count.Value)}\n");
        }

        return sb.ToString();
    }

    private static void Gauge(StringBuilder sb, string name, string help, long value) =>
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");

    private static void Counter(StringBuilder sb, string name, string help, long value) =>
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    /// <summary>A fixed-bucket histogram; each observation is two interlocked adds and a CAS loop for the sum.</summary>
    private sealed class Histogram(double[] bounds)
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
        }

        public void Render(StringBuilder sb, string name, string help)
        {
            sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} histogram\n");
            long cumulative = 0;
            for (var i = 0; i < bounds.Length; i++)
            {
                cumulative += Interlocked.Read(ref _counts[i]);
                sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"{bounds[i]}\"}} {cumulative}\n");
            }

            cumulative += Interlocked.Read(ref _counts[^1]);
            sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"+Inf\"}} {cumulative}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{name}_sum {BitConverter.Int64BitsToDouble(Interlocked.Read(ref _sumBits))}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{name}_count {cumulative}\n");
        }
    }
}
