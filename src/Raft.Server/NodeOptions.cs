using Raft.Core;
using Raft.Node;

namespace Raft.Server;

/// <summary>What a follower does with a request only the leader can serve.</summary>
public enum FollowerMode
{
    /// <summary>Proxy it to the leader and relay the answer (the default).</summary>
    Forward,

    /// <summary>Answer 307 with a Location on the leader.</summary>
    Redirect,

    /// <summary>Answer 503 with X-Raft-Leader naming the leader (as ArangoDB's followers do).</summary>
    Reject,
}

/// <summary>What an empty data directory means at start (see <see cref="NodeOptions.ClusterState"/>).</summary>
public enum ClusterState
{
    /// <summary>The cluster runs already: join it (Node:Join), or refuse to start.</summary>
    Existing,

    /// <summary>The first start of a new cluster: bootstrap with the voters of Node:Peers.</summary>
    New,
}

/// <summary>
/// The configuration section <c>Node</c>, bound by ASP.NET Core conventions: command line
/// (<c>--Node:Id=1</c>), environment (<c>Node__Id=1</c>) or appsettings.json.
/// </summary>
/// <example>
/// <code>
/// Raft.Server --Node:Id=1 --Node:DataDirectory=./data/node-1
///   --Node:Peers:1=127.0.0.1:7001 --Node:Peers:2=127.0.0.1:7002 --Node:Peers:3=127.0.0.1:7003
///   --Node:HttpEndpoints:1=http://127.0.0.1:5001 --Node:HttpEndpoints:2=http://127.0.0.1:5002 --Node:HttpEndpoints:3=http://127.0.0.1:5003
/// </code>
/// </example>
public sealed partial class NodeOptions
{
    public const string Section = "Node";

    /// <summary>The largest snapshot chunk: with its frame's header and fields, it fits the smallest peer frame limit (64 MiB).</summary>
    public const int SnapshotChunkBytesMax = (64 << 20) - 1024;

    /// <summary>This node's id; a key of <see cref="Peers"/>.</summary>
    public int Id { get; set; }

    /// <summary>Names the cluster in the peer handshake, so a stray process of another cluster is refused.</summary>
    public string ClusterId { get; set; } = "raft-kv";

    /// <summary>
    /// This node's peer (Raft) endpoint, host:port, under its own id; and, for the first start of a new cluster
    /// (<see cref="ClusterState"/> <c>new</c>), every voter's: the initial membership. Once a node has data, the
    /// configuration in its log (with every member's addresses) is what counts, not this list.
    /// </summary>
    public Dictionary<int, string> Peers { get; set; } = [];

    /// <summary>This node's HTTP base address under its own id (it listens there), and every voter's of <see cref="Peers"/>.</summary>
    public Dictionary<int, string> HttpEndpoints { get; set; } = [];

    /// <summary>
    /// What an empty data directory means (etcd's --initial-cluster-state): <c>new</c> bootstraps a new cluster with the
    /// voters of <see cref="Peers"/>; <c>existing</c> (the default) refuses to start unless <see cref="Join"/> names a
    /// running cluster to be added to, so a member that lost its data cannot come back as a voter that voted nowhere.
    /// Ignored once the data directory holds a node's state.
    /// </summary>
    public ClusterState ClusterState { get; set; } = ClusterState.Existing;

    /// <summary>
    /// HTTP base addresses of running members, comma-separated: a node with an empty data directory asks them to add it
    /// as a learner, then receives the state from the leader.
    /// </summary>
    public string? Join { get; set; }

    /// <summary>A node that joined asks to be promoted to a voter once it has caught up.</summary>
    public bool AutoPromote { get; set; }

    /// <summary>A learner is promoted only when its log is at most this many entries behind the leader's.</summary>
    public int PromoteMaxLagEntries { get; set; } = 1000;

    /// <summary>
    /// Failback (0: off): the voter that should lead when it can. Another leader hands leadership to it once it has been
    /// caught up and answering for <see cref="FailbackDelayMs"/>, so after a failover the cluster returns to its normal
    /// shape on its own. Set it alike on every node.
    /// </summary>
    public int PreferredLeader { get; set; }

    /// <summary>How long the preferred leader must stay caught up and answering before leadership goes back to it.</summary>
    public int FailbackDelayMs { get; set; } = 5000;

    public string DataDirectory { get; set; } = "./data";

    /// <summary>Length of one Raft tick.</summary>
    public int TickMs { get; set; } = 5;

    public int HeartbeatIntervalMs { get; set; } = 50;

    /// <summary>The minimum election timeout; each follower draws its timeout from [this, this + ElectionJitterMs).</summary>
    public int ElectionTimeoutMs { get; set; } = 300;

    /// <summary>
    /// The spread of the randomized election timeout. Crossing pre-vote campaigns settle among themselves, so it
    /// need only exceed a round trip between nodes; a narrow spread makes a hung leader's replacement prompt.
    /// </summary>
    public int ElectionJitterMs { get; set; } = 25;

    /// <summary>Campaign at once when the transport reports the leader's connection reset and refused.</summary>
    public bool FastFailover { get; set; } = true;

    public FollowerMode FollowerMode { get; set; } = FollowerMode.Forward;

    public int MaxKeyBytes { get; set; } = 1024;

    public int MaxValueBytes { get; set; } = 1 << 20;

    /// <summary>Key changes the watch history keeps: a watch resumes from an index whose changes are all still kept.</summary>
    public int WatchHistoryChanges { get; set; } = 100_000;

    /// <summary>Bytes (keys and values) the watch history may hold; the oldest changes go first past either bound.</summary>
    public long WatchHistoryBytes { get; set; } = 64L << 20;

    /// <summary>Watches one node serves at once; more are answered <c>429 too_many_watchers</c>.</summary>
    public int WatchersMax { get; set; } = 10_000;

    /// <summary>A watch with nothing to send sends the index it has seen everything up to this often.</summary>
    public int WatchProgressMs { get; set; } = 5000;

    /// <summary>Compares and operations one transaction may hold, together.</summary>
    public int MaxTxnOps { get; set; } = 128;

    /// <summary>
    /// The highest cluster version this node agrees to: the cluster runs the lowest its voters agree to. It defaults to
    /// the highest this server supports; set lower while a rolling upgrade may still be rolled back, since a cluster
    /// version, once reached, never goes down and older servers cannot apply what it allows.
    /// </summary>
    public int ClusterVersionMax { get; set; } = KeyValue.KvClusterVersion.Supported;

    /// <summary>Client sessions the state machine remembers; every node of a cluster must use the same value.</summary>
    public int SessionsMax { get; set; } = 10_000;

    /// <summary>
    /// Leases the cluster holds at most; a grant beyond it is refused (409 too_many_leases). It shapes the replicated
    /// state, so every node must have the same value.
    /// </summary>
    public int LeasesMax { get; set; } = 100_000;

    /// <summary>A client session unused for this long (leader time) is forgotten; the same on every node.</summary>
    public long SessionIdleMs { get; set; } = 60 * 60 * 1000;

    /// <summary>Take a snapshot once this many entries are applied past the last one.</summary>
    public int SnapshotEveryEntries { get; set; } = 10_000;

    /// <summary>Take a snapshot once this many bytes of entries are applied past the last one, whichever comes first.</summary>
    public long SnapshotEveryLogBytes { get; set; } = 64L << 20;

    /// <summary>
    /// A snapshot also waits until the entries since the last one add up to this percentage of its size (0: never
    /// waits), so a large store is not written out again for every few MiB of writes.
    /// </summary>
    public int SnapshotMinLogPercent { get; set; } = 25;

    /// <summary>Entries kept in the log behind the latest snapshot, so a follower a little behind catches up from entries.</summary>
    public int SnapshotTrailingEntries { get; set; } = 5_000;

    /// <summary>
    /// The most bytes per second a snapshot being taken is written at (0: as fast as the disk takes it). Slower, it
    /// takes longer but leaves the disk room for the log's fsyncs, so writes wait less while it is written.
    /// </summary>
    public long SnapshotWriteBytesPerSecond { get; set; } = 64L << 20;

    /// <summary>Bytes of a snapshot sent to a follower in one chunk (one peer frame).</summary>
    public int SnapshotChunkBytes { get; set; } = 1 << 20;

    /// <summary>
    /// The largest frame between peers, in either direction; 0 takes 64 MiB, or more if the largest put needs it. Every
    /// peer of a cluster must accept what the others send: set it alike everywhere.
    /// </summary>
    public int PeerFrameBytesMax { get; set; }

    /// <summary>Memory for log entries that are durable and applied; older ones are read back from the log on disk when needed.</summary>
    public long LogCacheBytes { get; set; } = 64L << 20;

    /// <summary>
    /// Start as the only member of a new cluster, keeping every entry in this node's log and counting it committed
    /// (etcd's --force-new-cluster): the way back after a majority is lost for good. Set it on one survivor, once.
    /// </summary>
    public bool ForceNewCluster { get; set; }

    /// <summary>How long an HTTP request waits for the node (a commit, a read index, a transfer) before answering 504.</summary>
    public int RequestTimeoutMs { get; set; } = 10_000;

    /// <summary>
    /// How long a request that needs the leader waits for one to be known (during an election) before it is answered
    /// 503 no_leader: a write sent while the leader fails over is then served, a little later, instead of refused.
    /// </summary>
    public int LeaderWaitMs { get; set; } = 1000;

    /// <summary>Mutual TLS between peers, and the certificate HTTPS endpoints serve (see <see cref="NodeTlsOptions"/>).</summary>
    public NodeTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// A secret (at least 16 bytes of UTF-8) every member shares and proves in the peer handshake without sending it.
    /// Prefer <see cref="ClusterSecretFile"/>, which keeps it off command lines.
    /// </summary>
    public string? ClusterSecret { get; set; }

    /// <summary>A file holding the cluster secret (its bytes, a trailing newline ignored).</summary>
    public string? ClusterSecretFile { get; set; }

    /// <summary>On shutdown, how long a leader waits for a follower to take over before it stops anyway.</summary>
    public int ShutdownTransferTimeoutMs { get; set; } = 2_000;

    /// <summary>API tokens and their roles (<c>Node:Auth</c>); none configured, the API is open.</summary>
    public AuthOptions Auth { get; set; } = new();

    /// <summary>The opt-in rate limit per token or client address (<c>Node:RateLimit</c>).</summary>
    public RateLimitOptions RateLimit { get; set; } = new();

    /// <summary>Exporting the node's spans over OTLP (<c>Node:Tracing</c>); off by default.</summary>
    public TracingOptions Tracing { get; set; } = new();

    /// <summary>
    /// Open HTTP connections the node takes at once; Kestrel does not accept more until some close. Above
    /// <see cref="WatchersMax"/>, since each watch holds one.
    /// </summary>
    public int HttpConnectionsMax { get; set; } = 20_000;

    /// <summary>The frame limit the peer transport enforces: <see cref="PeerFrameBytesMax"/>, or the default that fits the largest put.</summary>
    public int EffectivePeerFrameBytesMax => PeerFrameBytesMax != 0
        ? PeerFrameBytesMax
        : Math.Max(Transport.FrameLimits.DefaultFrameBytesMax, KeyValue.KvCommandCodec.PutBytes(MaxKeyBytes, MaxValueBytes) + (1 << 20));

    /// <summary>The driver's and the core's settings, every duration converted from milliseconds to ticks once, here.</summary>
    public NodeDriverOptions ToDriverOptions() => new()
    {
        Raft = new RaftOptions
        {
            Id = Id,
            ElectionTimeoutTicks = ElectionTimeoutMs / TickMs,
            ElectionJitterTicks = ElectionJitterMs / TickMs,
            HeartbeatIntervalTicks = Math.Max(1, HeartbeatIntervalMs / TickMs),
            FastFailover = FastFailover,
            MaxLogMemoryBytes = LogCacheBytes,

            // Appends batch entries up to this; one entry more than that still goes alone, and the largest fits a frame.
            MaxAppendBytes = Math.Min(1 << 20, EffectivePeerFrameBytesMax / 2),
        },
        LeaderWaitTicks = LeaderWaitMs / TickMs,
        RequestTimeoutTicks = Math.Max(1, RequestTimeoutMs / TickMs),
        SnapshotEveryEntries = SnapshotEveryEntries,
        SnapshotEveryLogBytes = SnapshotEveryLogBytes,
        SnapshotMinLogPercent = SnapshotMinLogPercent,
        SnapshotTrailingEntries = SnapshotTrailingEntries,
        SnapshotChunkBytes = SnapshotChunkBytes,
        ForceNewCluster = ForceNewCluster,
        PreferredLeader = PreferredLeader,
        FailbackDelayTicks = Math.Max(1, FailbackDelayMs / Math.Max(1, TickMs)),
    };

    /// <summary>The addresses this configuration gives for each node of <see cref="Peers"/>.</summary>
    public Dictionary<int, MemberAddresses> ConfiguredAddresses() =>
        Peers.ToDictionary(p => p.Key, p => new MemberAddresses(p.Value, HttpEndpoints.GetValueOrDefault(p.Key, string.Empty)));

    /// <summary>The membership a new cluster starts with: the voters of <see cref="Peers"/>, with their addresses.</summary>
    public Membership BootstrapMembership() => Membership.Create(Peers.Keys, addresses: ConfiguredAddresses());

    /// <summary>The HTTP base addresses of <see cref="Join"/>.</summary>
    public IReadOnlyList<string> JoinEndpoints() =>
        string.IsNullOrWhiteSpace(Join) ? [] : Join.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
