namespace Raft.Client;

/// <summary>The outcome of a put or a successful compare-and-set.</summary>
/// <param name="Index">The log index of the entry that wrote the value.</param>
/// <param name="Version">The key's version after the write (the log index of its last write).</param>
public readonly record struct PutResult(ulong Index, ulong Version);

/// <summary>The outcome of a delete or a successful compare-and-delete.</summary>
/// <param name="Index">The log index of the entry that carried the delete.</param>
/// <param name="Deleted"><see langword="true"/> when the key existed and was removed.</param>
public readonly record struct DeleteResult(ulong Index, bool Deleted);

/// <summary>A stored value with its metadata.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The value's bytes.</param>
/// <param name="Version">The log index of the key's last write; pass it to compare-and-set.</param>
/// <param name="CreateIndex">The log index that created the key.</param>
public sealed record KvEntry(string Key, byte[] Value, ulong Version, ulong CreateIndex)
{
    /// <summary>The value decoded as UTF-8.</summary>
    public string ValueAsString() => System.Text.Encoding.UTF8.GetString(Value);
}

/// <summary>One page of a listing by prefix.</summary>
/// <param name="Items">The entries, in key order.</param>
/// <param name="More"><see langword="true"/> when more keys match than the limit allowed.</param>
/// <param name="Index">The applied index the listing reflects.</param>
public sealed record KvListResult(IReadOnlyList<KvEntry> Items, bool More, ulong Index)
{
    /// <summary>
    /// When <see cref="More"/>: the key to list after for the next page (the last key of this one); otherwise
    /// <see langword="null"/>.
    /// </summary>
    public string? Next { get; init; }
}

/// <summary>A held lock.</summary>
/// <param name="Name">The lock's name.</param>
/// <param name="Owner">The owner holding it.</param>
/// <param name="FencingToken">
/// The log index that granted the lock: strictly larger than any token issued earlier for the same lock, so a
/// resource guarded by the lock can refuse a holder whose token is older than one it has seen.
/// </param>
/// <param name="ExpiresAtMs">When the lock lapses unless renewed, in Unix milliseconds of the cluster's clock.</param>
public sealed record LockLease(string Name, string Owner, ulong FencingToken, long ExpiresAtMs)
{
    /// <summary><see cref="ExpiresAtMs"/> as a point in time.</summary>
    public DateTimeOffset ExpiresAt => DateTimeOffset.FromUnixTimeMilliseconds(ExpiresAtMs);
}

/// <summary>One member of the cluster's replicated configuration.</summary>
/// <param name="Id">The node's id.</param>
/// <param name="PeerAddress">Where the other nodes reach it, <c>host:port</c>.</param>
/// <param name="HttpEndpoint">Its HTTP base address, or <see langword="null"/> when the configuration gives none.</param>
/// <param name="Voter"><see langword="true"/> for a voter, <see langword="false"/> for a learner.</param>
/// <param name="Leader"><see langword="true"/> for the leader the answering node knows.</param>
public sealed record ClusterMember(int Id, string PeerAddress, Uri? HttpEndpoint, bool Voter, bool Leader);

/// <summary>The members as a node has them, or as a membership change left them.</summary>
/// <param name="LeaderId">The leader the answering node knows, 0 for none.</param>
/// <param name="Members">Every member, by id.</param>
/// <param name="Index">The log index of the change that was made; 0 when none was (a listing, or a request that changed nothing).</param>
public sealed record ClusterMembers(int LeaderId, IReadOnlyList<ClusterMember> Members, ulong Index);
