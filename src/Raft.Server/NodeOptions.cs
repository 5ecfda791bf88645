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
public sealed class NodeOptions
{
    public const string Section = "Node";

    /// <summary>This node's id; a key of <see cref="Peers"/>.</summary>
    public int Id { get; set; }

    /// <summary>Names the cluster in the peer handshake, so a stray process of another cluster is refused.</summary>
    public string ClusterId { get; set; } = "raft-kv";

    /// <summary>Every voter's peer (Raft) endpoint, host:port, this node's included; the initial membership.</summary>
    public Dictionary<int, string> Peers { get; set; } = [];

    /// <summary>Every node's HTTP base address, this node's included; this node listens on its own.</summary>
    public Dictionary<int, string> HttpEndpoints { get; set; } = [];

    public string DataDirectory { get; set; } = "./data";

    /// <summary>Length of one Raft tick.</summary>
    public int TickMs { get; set; } = 5;

    public int HeartbeatIntervalMs { get; set; } = 50;

    /// <summary>The minimum election timeout; each follower draws its timeout from [this, 2 × this).</summary>
    public int ElectionTimeoutMs { get; set; } = 300;

    /// <summary>Campaign at once when the transport reports the leader's connection reset and refused.</summary>
    public bool FastFailover { get; set; } = true;

    public FollowerMode FollowerMode { get; set; } = FollowerMode.Forward;

    public int MaxKeyBytes { get; set; } = 1024;

    public int MaxValueBytes { get; set; } = 1 << 20;

    /// <summary>Compact the log with a snapshot once this many entries are applied past the last one.</summary>
    public int SnapshotEveryEntries { get; set; } = 10_000;
}
