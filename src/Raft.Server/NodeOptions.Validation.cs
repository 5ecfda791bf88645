using Raft.Core;

namespace Raft.Server;

/// <summary>The checks of <see cref="NodeOptions"/>: every problem a configuration has, each naming its key.</summary>
public sealed partial class NodeOptions
{
    /// <summary>Every problem with this configuration, each naming its key; empty when it is usable.</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (Id <= 0)
        {
            errors.Add($"Node:Id must be a positive node id (got {Id})");
        }

        if (string.IsNullOrWhiteSpace(ClusterId))
        {
            errors.Add("Node:ClusterId must not be empty");
        }

        if (Peers.Count == 0)
        {
            errors.Add("Node:Peers must list every voter, this node included (Node:Peers:1=127.0.0.1:7001 ...)");
        }
        else if (!Peers.ContainsKey(Id))
        {
            errors.Add($"Node:Peers has no entry for this node (Node:Peers:{Id})");
        }

        foreach (var (id, endpoint) in Peers)
        {
            if (id <= 0)
            {
                errors.Add($"Node:Peers:{id}: node ids are positive");
            }

            if (!Protocol.MemberRequestReader.IsHostPort(endpoint))
            {
                errors.Add($"Node:Peers:{id} must be host:port (got '{endpoint}')");
            }
        }

        if (!HttpEndpoints.ContainsKey(Id))
        {
            errors.Add($"Node:HttpEndpoints has no entry for this node (Node:HttpEndpoints:{Id}=http://127.0.0.1:5001)");
        }

        foreach (var (id, url) in HttpEndpoints)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add($"Node:HttpEndpoints:{id} must be an absolute http(s) URL (got '{url}')");
            }
        }

        foreach (var id in Peers.Keys)
        {
            if (!HttpEndpoints.ContainsKey(id))
            {
                errors.Add($"Node:HttpEndpoints has no entry for peer {id}: followers could not route requests to it as leader");
            }
        }

        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            errors.Add("Node:DataDirectory must not be empty");
        }

        foreach (var url in JoinEndpoints())
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add($"Node:Join must list absolute http(s) URLs of running members, comma-separated (got '{url}')");
            }
        }

        if (ClusterState == ClusterState.New && JoinEndpoints().Count > 0)
        {
            errors.Add("Node:ClusterState=new starts a new cluster and Node:Join joins a running one: give one of the two");
        }

        if (PreferredLeader < 0)
        {
            errors.Add($"Node:PreferredLeader must be a node id, or 0 for none (got {PreferredLeader})");
        }

        if (FailbackDelayMs < 0)
        {
            errors.Add($"Node:FailbackDelayMs must be at least 0 (got {FailbackDelayMs})");
        }

        if (PromoteMaxLagEntries < 0)
        {
            errors.Add($"Node:PromoteMaxLagEntries must be at least 0 (got {PromoteMaxLagEntries})");
        }

        foreach (var (id, address) in ConfiguredAddresses())
        {
            if (!address.IsValid)
            {
                errors.Add($"Node:Peers:{id} and Node:HttpEndpoints:{id} may be at most {MemberAddresses.BytesMax} bytes each");
            }
        }

        if (TickMs < 1)
        {
            errors.Add($"Node:TickMs must be at least 1 (got {TickMs})");
        }
        else
        {
            if (HeartbeatIntervalMs < TickMs)
            {
                errors.Add($"Node:HeartbeatIntervalMs ({HeartbeatIntervalMs}) must be at least one tick (Node:TickMs = {TickMs})");
            }

            if (ElectionTimeoutMs / TickMs <= 2 * Math.Max(1, HeartbeatIntervalMs / TickMs))
            {
                errors.Add($"Node:ElectionTimeoutMs ({ElectionTimeoutMs}) must exceed two heartbeat intervals (Node:HeartbeatIntervalMs = {HeartbeatIntervalMs})");
            }

            if (ElectionJitterMs < TickMs)
            {
                errors.Add($"Node:ElectionJitterMs ({ElectionJitterMs}) must be at least one tick (Node:TickMs = {TickMs})");
            }
        }

        if (MaxKeyBytes is < 1 or > ushort.MaxValue)
        {
            errors.Add($"Node:MaxKeyBytes must lie in [1, {ushort.MaxValue}] (got {MaxKeyBytes})");
        }

        if (WatchHistoryChanges is < 1 or > 10_000_000)
        {
            errors.Add($"Node:WatchHistoryChanges must lie in [1, 10000000] (got {WatchHistoryChanges})");
        }

        if (WatchHistoryBytes < 1 << 20)
        {
            errors.Add($"Node:WatchHistoryBytes must be at least 1 MiB (got {WatchHistoryBytes})");
        }

        if (WatchersMax < 0)
        {
            errors.Add($"Node:WatchersMax must not be negative (got {WatchersMax})");
        }

        if (WatchProgressMs < 10)
        {
            errors.Add($"Node:WatchProgressMs must be at least 10 (got {WatchProgressMs})");
        }

        if (MaxTxnOps is < 1 or > 10_000)
        {
            errors.Add($"Node:MaxTxnOps must lie in [1, 10000] (got {MaxTxnOps})");
        }

        if (ClusterVersionMax is < KeyValue.KvClusterVersion.Initial or > KeyValue.KvClusterVersion.Supported)
        {
            errors.Add($"Node:ClusterVersionMax must lie in [{KeyValue.KvClusterVersion.Initial}, {KeyValue.KvClusterVersion.Supported}], the versions this server supports (got {ClusterVersionMax})");
        }

        if (LeasesMax is < 1 or > 10_000_000)
        {
            errors.Add($"Node:LeasesMax must lie in [1, 10000000] (got {LeasesMax})");
        }

        if (SessionsMax is < 1 or > 1_000_000)
        {
            errors.Add($"Node:SessionsMax must lie in [1, 1000000] (got {SessionsMax})");
        }

        if (SessionIdleMs < 1000)
        {
            errors.Add($"Node:SessionIdleMs must be at least 1000 (got {SessionIdleMs})");
        }

        if (MaxValueBytes is < 0 or > 64 << 20)
        {
            errors.Add($"Node:MaxValueBytes must lie in [0, {64 << 20}] (got {MaxValueBytes})");
        }

        if (SnapshotEveryEntries < 1)
        {
            errors.Add($"Node:SnapshotEveryEntries must be at least 1 (got {SnapshotEveryEntries})");
        }

        if (SnapshotEveryLogBytes < 1)
        {
            errors.Add($"Node:SnapshotEveryLogBytes must be at least 1 (got {SnapshotEveryLogBytes})");
        }

        if (SnapshotMinLogPercent < 0)
        {
            errors.Add($"Node:SnapshotMinLogPercent must not be negative (got {SnapshotMinLogPercent})");
        }

        if (SnapshotTrailingEntries < 0)
        {
            errors.Add($"Node:SnapshotTrailingEntries must not be negative (got {SnapshotTrailingEntries})");
        }

        if (SnapshotChunkBytes is < 1 or > SnapshotChunkBytesMax)
        {
            errors.Add($"Node:SnapshotChunkBytes must lie in [1, {SnapshotChunkBytesMax}] (got {SnapshotChunkBytes})");
        }

        var frameFloor = Math.Max(KeyValue.KvCommandCodec.PutBytes(Math.Clamp(MaxKeyBytes, 1, ushort.MaxValue), Math.Clamp(MaxValueBytes, 0, 64 << 20)), SnapshotChunkBytes) + 1024;
        if (PeerFrameBytesMax != 0 && PeerFrameBytesMax < frameFloor)
        {
            errors.Add($"Node:PeerFrameBytesMax ({PeerFrameBytesMax}) must hold the largest put and a snapshot chunk with their headers: at least {frameFloor}, or 0 for the default");
        }

        if (SnapshotWriteBytesPerSecond < 0)
        {
            errors.Add($"Node:SnapshotWriteBytesPerSecond must not be negative (got {SnapshotWriteBytesPerSecond})");
        }

        if (LogCacheBytes < 0)
        {
            errors.Add($"Node:LogCacheBytes must not be negative (got {LogCacheBytes})");
        }

        if (LeaderWaitMs < 0)
        {
            errors.Add($"Node:LeaderWaitMs must not be negative (got {LeaderWaitMs})");
        }

        if (RequestTimeoutMs < 1)
        {
            errors.Add($"Node:RequestTimeoutMs must be at least 1 (got {RequestTimeoutMs})");
        }

        if (ShutdownTransferTimeoutMs < 0)
        {
            errors.Add($"Node:ShutdownTransferTimeoutMs must not be negative (got {ShutdownTransferTimeoutMs})");
        }

        errors.AddRange(RateLimit.Validate());
        errors.AddRange(Tracing.Validate());
        if (HttpConnectionsMax < 1)
        {
            errors.Add($"Node:HttpConnectionsMax must be at least 1 (got {HttpConnectionsMax})");
        }

        Tls.Validate(errors);
        if (!string.IsNullOrEmpty(ClusterSecret) && !string.IsNullOrEmpty(ClusterSecretFile))
        {
            errors.Add("Node:ClusterSecret and Node:ClusterSecretFile both give the cluster secret: give one of the two");
        }
        else if (!string.IsNullOrEmpty(ClusterSecret) && System.Text.Encoding.UTF8.GetByteCount(ClusterSecret) < Transport.TcpPeerTransportOptions.ClusterSecretBytesMin)
        {
            errors.Add($"Node:ClusterSecret must be at least {Transport.TcpPeerTransportOptions.ClusterSecretBytesMin} bytes");
        }

        return errors;
    }
}
