using Raft.Protocol;

namespace Raft.Client;

/// <summary>
/// The operations of <see cref="RaftKvClient"/>, to mock in tests of code that uses the store, and to resolve from a
/// service provider (<c>services.AddRaftKvClient(...)</c> in <c>Raft.Client.DependencyInjection</c>).
/// </summary>
/// <remarks>
/// Implementations are thread-safe: one instance serves every caller. <see cref="RaftKvClient"/> sends one write at a
/// time per instance (its writes share one session, see <see cref="RaftKvClientOptions.ClientId"/>); reads, watches
/// and listings run concurrently.
/// </remarks>
public interface IRaftKvClient : IDisposable
{
    /// <inheritdoc cref="RaftKvClient.ClientId"/>
    string ClientId { get; }

    /// <inheritdoc cref="RaftKvClient.Leader"/>
    Uri? Leader { get; }

    /// <inheritdoc cref="RaftKvClient.PutAsync(string, ReadOnlyMemory{byte}, CancellationToken)"/>
    Task<PutResult> PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.PutAsync(string, string, CancellationToken)"/>
    Task<PutResult> PutAsync(string key, string value, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.CompareAndSetAsync(string, ReadOnlyMemory{byte}, ulong, CancellationToken)"/>
    Task<PutResult> CompareAndSetAsync(string key, ReadOnlyMemory<byte> value, ulong expectedVersion, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.CompareAndSetAsync(string, string, ulong, CancellationToken)"/>
    Task<PutResult> CompareAndSetAsync(string key, string value, ulong expectedVersion, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.DeleteAsync(string, CancellationToken)"/>
    Task<DeleteResult> DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.CompareAndDeleteAsync(string, ulong, CancellationToken)"/>
    Task<DeleteResult> CompareAndDeleteAsync(string key, ulong expectedVersion, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.GetAsync(string, Consistency, CancellationToken)"/>
    Task<KvEntry?> GetAsync(string key, Consistency consistency = Consistency.Linearizable, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.ListAsync(string, int, CancellationToken)"/>
    Task<KvListResult> ListAsync(string prefix, int limit = 100, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.ListAsync(string, int, string, bool, CancellationToken)"/>
    Task<KvListResult> ListAsync(string prefix, int limit, string? after, bool keysOnly, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.ListAllAsync(string, int, bool, CancellationToken)"/>
    IAsyncEnumerable<KvEntry> ListAllAsync(string prefix, int pageSize = 100, bool keysOnly = false, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.AcquireLockAsync(string, string, TimeSpan, TimeSpan?, CancellationToken)"/>
    Task<LockLease> AcquireLockAsync(string name, string owner, TimeSpan ttl, TimeSpan? wait = null, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.RenewLockAsync(string, string, TimeSpan, CancellationToken)"/>
    Task<LockLease> RenewLockAsync(string name, string owner, TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.ReleaseLockAsync(string, string, CancellationToken)"/>
    Task ReleaseLockAsync(string name, string owner, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.GetLockAsync(string, CancellationToken)"/>
    Task<LockLease?> GetLockAsync(string name, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.GrantLeaseAsync(TimeSpan, CancellationToken)"/>
    Task<KvLease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.KeepAliveAsync(ulong, CancellationToken)"/>
    Task<KvLease> KeepAliveAsync(ulong id, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.RevokeLeaseAsync(ulong, CancellationToken)"/>
    Task<bool> RevokeLeaseAsync(ulong id, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.GetLeaseAsync(ulong, CancellationToken)"/>
    Task<KvLeaseStatus?> GetLeaseAsync(ulong id, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.PutAsync(string, string, ulong, CancellationToken)"/>
    Task<PutResult> PutAsync(string key, string value, ulong lease, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.PutAsync(string, ReadOnlyMemory{byte}, ulong, CancellationToken)"/>
    Task<PutResult> PutAsync(string key, ReadOnlyMemory<byte> value, ulong lease, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.AcquireLockAsync(string, string, ulong, TimeSpan?, CancellationToken)"/>
    Task<LockLease> AcquireLockAsync(string name, string owner, ulong lease, TimeSpan? wait = null, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.KeepLeaseAlive(KvLease)"/>
    LeaseKeeper KeepLeaseAlive(KvLease lease);

    /// <inheritdoc cref="RaftKvClient.WatchPrefixAsync(string, ulong?, CancellationToken)"/>
    IAsyncEnumerable<WatchEvent> WatchPrefixAsync(string prefix, ulong? fromIndex = null, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.WatchKeyAsync(string, ulong?, CancellationToken)"/>
    IAsyncEnumerable<WatchEvent> WatchKeyAsync(string key, ulong? fromIndex = null, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.TxnAsync(Transaction, CancellationToken)"/>
    Task<TransactionResult> TxnAsync(Transaction transaction, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.GetMembersAsync(CancellationToken)"/>
    Task<ClusterMembers> GetMembersAsync(CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.AddMemberAsync(int, string, Uri, bool, CancellationToken)"/>
    Task<ClusterMembers> AddMemberAsync(int id, string peerAddress, Uri httpEndpoint, bool learner = true, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.PromoteMemberAsync(int, CancellationToken)"/>
    Task<ClusterMembers> PromoteMemberAsync(int id, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.RemoveMemberAsync(int, CancellationToken)"/>
    Task<ClusterMembers> RemoveMemberAsync(int id, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.GetStatusAsync(CancellationToken)"/>
    Task<ClusterStatusResponse> GetStatusAsync(CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.GetNodeStatusAsync(Uri, CancellationToken)"/>
    Task<ClusterStatusResponse> GetNodeStatusAsync(Uri endpoint, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.GetNodeHealthAsync(Uri, CancellationToken)"/>
    Task<NodeHealth> GetNodeHealthAsync(Uri endpoint, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.TransferLeaderAsync(int?, CancellationToken)"/>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1716", Justification = "The same name as RaftKvClient's parameter, which callers write as to:")]
    Task<TransferResponse> TransferLeaderAsync(int? to = null, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="RaftKvClient.SaveSnapshotAsync(Stream, bool, CancellationToken)"/>
    Task<SavedSnapshot> SaveSnapshotAsync(Stream destination, bool linearizable = false, CancellationToken cancellationToken = default);
}
