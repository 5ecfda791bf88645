namespace Raft.Protocol;

/// <summary>The HTTP header names of the API, for requests and answers alike.</summary>
public static class ApiHeaders
{
    /// <summary>On every answer: the write's entry index, or the answering node's applied index.</summary>
    public const string Index = "X-Raft-Index";

    /// <summary>On every answer: the answering node's term.</summary>
    public const string Term = "X-Raft-Term";

    /// <summary>On every answer: the leader the answering node knows (0: none).</summary>
    public const string Leader = "X-Raft-Leader";

    /// <summary>On a key read: the key's version (the log index of its last write).</summary>
    public const string Version = "X-Raft-Version";

    /// <summary>On a key read: the log index that created the key.</summary>
    public const string CreateIndex = "X-Raft-Create-Index";

    /// <summary>On a key read: the lease the key is bound to (absent for none).</summary>
    public const string Lease = "X-Raft-Lease";

    /// <summary>On a backup (<see cref="ApiPaths.Snapshot"/>): the log index the image reflects.</summary>
    public const string SnapshotIndex = "X-Raft-Snapshot-Index";

    /// <summary>On a backup: the term of the entry at <see cref="SnapshotIndex"/>.</summary>
    public const string SnapshotTerm = "X-Raft-Snapshot-Term";

    /// <summary>On a write: the client's session id (with <see cref="ClientSeq"/>).</summary>
    public const string ClientId = "X-Client-Id";

    /// <summary>On a write: the sequence of the write within the session (with <see cref="ClientId"/>).</summary>
    public const string ClientSeq = "X-Client-Seq";

    /// <summary>On a write: the expected version of a compare-and-set (0: the key must not exist).</summary>
    public const string IfMatch = "If-Match";

    /// <summary>On a request, when the node has API tokens: <c>Bearer &lt;token&gt;</c> (see <see cref="BearerScheme"/>).</summary>
    public const string Authorization = "Authorization";

    /// <summary>The scheme of <see cref="Authorization"/>, and of <c>WWW-Authenticate</c> on a <c>401</c>.</summary>
    public const string BearerScheme = "Bearer";

    /// <summary>
    /// The environment variable the project's tools (the launcher, <c>raftctl</c>) read an API token from, so it stays
    /// off their command lines.
    /// </summary>
    public const string TokenVariable = "RAFT_TOKEN";

    /// <summary>
    /// Between nodes: the ids of the nodes that forwarded the request, comma-separated, first hop first. Its
    /// length bounds how often a request is passed on (see <see cref="ForwardHopsMax"/>).
    /// </summary>
    public const string ForwardedBy = "X-Raft-Forwarded-By";

    /// <summary>
    /// Between nodes: the id of the leader that passed this write on to the target of its leadership hand-over, once it
    /// had told the target to campaign. The target holds the write until that election names a leader: proposed with
    /// its first entries if it leads, passed on to the winner otherwise.
    /// </summary>
    public const string HandOverFrom = "X-Raft-Hand-Over-From";

    /// <summary>
    /// The most nodes one request passes through before a node that is not the leader refuses it with
    /// <see cref="ErrorCodes.NotLeader"/>: enough to follow leadership through a hand-over or two, few enough that
    /// nodes which disagree about the leader for a moment cannot pass a request around for long.
    /// </summary>
    public const int ForwardHopsMax = 3;
}

/// <summary>The paths of the API. A key or lock name follows its prefix, escaped by <see cref="ResourceName.Escape"/>.</summary>
public static class ApiPaths
{
    /// <summary>Listing by prefix (<c>GET</c>, <c>?prefix=&amp;limit=&amp;after=&amp;keys=</c>).</summary>
    public const string Kv = "/v1/kv";

    /// <summary>One key: <c>/v1/kv/{name}</c>.</summary>
    public const string KvPrefix = "/v1/kv/";

    /// <summary>One lock: <c>/v1/locks/{name}</c>.</summary>
    public const string LocksPrefix = "/v1/locks/";

    /// <summary>This node's view of the cluster and its members.</summary>
    public const string Cluster = "/v1/cluster";

    /// <summary>A planned switchover (<c>POST</c>, <c>?to=id</c>).</summary>
    public const string TransferLeader = "/v1/cluster/transfer-leader";

    /// <summary>This node's recent leader changes, elections and peer contact (<c>GET</c>).</summary>
    public const string ClusterEvents = "/v1/cluster/events";

    /// <summary>Take a snapshot on this node now (<c>POST</c>), whatever the thresholds say.</summary>
    public const string ClusterSnapshot = "/v1/cluster/snapshot";

    /// <summary>The dashboard: a page and the files it loads under <c>/ui/</c>.</summary>
    public const string Dashboard = "/ui";

    /// <summary>The members in the replicated configuration (GET), and adding one (POST).</summary>
    public const string Members = "/v1/cluster/members";

    /// <summary>A backup: this node's state as one snapshot stream (<c>GET</c>, <c>?consistency=stale|linearizable</c>).</summary>
    public const string Snapshot = "/v1/snapshot";

    /// <summary>Watches: a stream of the changes to a key or a prefix after an index.</summary>
    public const string Watch = "/v1/watch";

    /// <summary>Leases: granted (<c>POST</c>) and listed (<c>GET</c>) here.</summary>
    public const string Leases = "/v1/leases";

    /// <summary>One lease: <c>/v1/leases/{id}</c> (<c>GET</c>, <c>DELETE</c>), and <c>/v1/leases/{id}/keepalive</c> (<c>POST</c>).</summary>
    public const string LeasesPrefix = "/v1/leases/";

    /// <summary>Transactions: compares, then one of two lists of operations, as one log entry.</summary>
    public const string Txn = "/v1/txn";

    /// <summary>Alive, from the node's published view.</summary>
    public const string HealthLive = "/health/live";

    /// <summary>Ready: a leader is known and this node applied what it committed.</summary>
    public const string HealthReady = "/health/ready";

    /// <summary>Prometheus text.</summary>
    public const string Metrics = "/metrics";
}
