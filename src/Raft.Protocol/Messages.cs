using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Raft.Protocol;

/// <summary>
/// Every error answer: a stable <see cref="Error"/> code (<see cref="ErrorCodes"/>) and a sentence for people. The
/// other fields appear only with the errors that carry them, and are left out of the JSON otherwise.
/// </summary>
/// <param name="Error">The code, one of <see cref="ErrorCodes"/>.</param>
/// <param name="Detail">What went wrong, in a sentence.</param>
public sealed record ErrorBody(string Error, string Detail)
{
    /// <summary>With <see cref="ErrorCodes.PreconditionFailed"/>: the key's version (0 when absent).</summary>
    public ulong? CurrentVersion { get; init; }

    /// <summary>With <see cref="ErrorCodes.LockHeld"/>: the owner holding the lock.</summary>
    public string? Holder { get; init; }

    /// <summary>With <see cref="ErrorCodes.LockHeld"/>: when the holder's lease ends (Unix ms, leader time).</summary>
    public long? ExpiresAtMs { get; init; }

    /// <summary>With <see cref="ErrorCodes.Compacted"/>: the lowest <c>fromIndex</c> a watch on this node may start from now.</summary>
    public ulong? OldestIndex { get; init; }
}

/// <summary>A committed and applied put: the entry's log index and the key's new version (equal to it).</summary>
public sealed record PutResponse(ulong Index, ulong Version);

/// <summary>A committed and applied delete; <see cref="Deleted"/> is false when the key did not exist.</summary>
public sealed record DeleteResponse(ulong Index, bool Deleted);

/// <summary>
/// One key of a listing; <see cref="Value"/> is the raw value, base64 in the JSON, and null (left out of the JSON)
/// in a keys-only listing.
/// </summary>
public sealed record ListItem(string Key, byte[]? Value, ulong Version, ulong CreateIndex)
{
    /// <summary>The lease the key is bound to; null (left out of the JSON) for none.</summary>
    public ulong? Lease { get; init; }
}

/// <summary>A listing as of applied index <see cref="Index"/>; <see cref="More"/> says the limit cut it short.</summary>
public sealed record ListResponse(IReadOnlyList<ListItem> Items, bool More, ulong Index)
{
    /// <summary>
    /// When <see cref="More"/>: the last key listed, to pass as <c>after</c> for the next page; null (left out of the
    /// JSON) otherwise.
    /// </summary>
    public string? Next { get; init; }
}

/// <summary>
/// The body of a lock request: acquire and renew need both fields, release only the owner. Read it with
/// <see cref="LockRequestReader"/>, which judges its shape field by field.
/// </summary>
public sealed record LockRequest(string Owner, long? TtlMs)
{
    /// <summary>On an acquire, instead of <see cref="TtlMs"/>: the lease the lock is bound to, which it lives as long as.</summary>
    public ulong? Lease { get; init; }
}

/// <summary>A held lock: its owner, the fencing token (the log index that granted it) and its expiry (Unix ms, leader time).</summary>
public sealed record LockResponse(string Name, string Owner, ulong FencingToken, long ExpiresAtMs)
{
    /// <summary>The lease the lock is bound to; null (left out of the JSON) for none.</summary>
    public ulong? Lease { get; init; }
}

/// <summary>A released lock, the token it had, and the index of the release.</summary>
public sealed record LockReleasedResponse(string Name, ulong FencingToken, ulong Index);

/// <summary>The body of a lease grant: its time to live.</summary>
public sealed record LeaseGrantRequest(long? TtlMs);

/// <summary>
/// A granted or kept-alive lease: its id (the log index that granted it), its time to live, and when it ends unless kept
/// alive (Unix ms, leader time).
/// </summary>
public sealed record LeaseResponse(ulong Id, long TtlMs, long ExpiresAtMs);

/// <summary>A lease as a read finds it: also the time it has left by the reading node's clock, and what is bound to it.</summary>
public sealed record LeaseStatusResponse(ulong Id, long TtlMs, long ExpiresAtMs, long RemainingMs, IReadOnlyList<string> Keys, IReadOnlyList<string> Locks, ulong Index);

/// <summary>A revoked lease and the index of the entry that ended it and deleted its keys.</summary>
public sealed record LeaseRevokedResponse(ulong Id, ulong Index);

/// <summary>The ids of the live leases, ascending, as of applied index <see cref="Index"/>.</summary>
public sealed record LeasesResponse(IReadOnlyList<ulong> Leases, bool More, ulong Index);

/// <summary>A completed leadership transfer.</summary>
public sealed record TransferResponse(int From, int To, int LeaderId, string Detail);

/// <summary>The answer of <c>/health/live</c> and <c>/health/ready</c>.</summary>
public sealed record HealthResponse(string Status, int LeaderId, ulong CommitIndex, ulong AppliedIndex);

/// <summary>One member as <c>GET /v1/cluster</c> reports it; match index and lag are known on the leader and for the node itself (null otherwise).</summary>
public sealed record MemberStatusResponse(
    int Id,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Peer,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Http,
    bool Voter,
    string Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] ulong? MatchIndex,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] ulong? Lag);

/// <summary>
/// The answer to <c>POST /v1/cluster/snapshot</c>: <see cref="Status"/> is <c>started</c> (a snapshot covering at least
/// <see cref="Index"/> is being taken), <c>running</c> (one at <see cref="Index"/> was being written already) or
/// <c>up-to-date</c> (the latest, at <see cref="Index"/>, covers everything applied).
/// </summary>
public sealed record SnapshotTakenResponse(int NodeId, string Status, ulong Index);

/// <summary>A node's view of the cluster (<c>GET /v1/cluster</c>); <see cref="LeaderSince"/> is null while no leader is known.</summary>
public sealed record ClusterStatusResponse(
    int NodeId,
    string Role,
    ulong Term,
    int LeaderId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTimeOffset? LeaderSince,
    ulong CommitIndex,
    ulong AppliedIndex,
    ulong LastIndex,
    IReadOnlyList<MemberStatusResponse> Members,
    ulong ConfigIndex = 0,
    string? ChangeInProgress = null,
    int ClusterVersion = 0,
    int SupportsVersion = 0);

/// <summary>One member of the replicated configuration, with the addresses it is reached at.</summary>
public sealed record MemberResponse(int Id, string PeerAddress, string HttpEndpoint, bool Voter, bool Leader);

/// <summary>
/// The replicated configuration as a node has it (<c>GET /v1/cluster/members</c>), or as a change left it; <see cref="Index"/>
/// is the log index of the change when one was made.
/// </summary>
public sealed record MembersResponse(
    int LeaderId,
    IReadOnlyList<MemberResponse> Members,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] ulong Index = 0,
    string? Detail = null);

/// <summary>
/// One condition of <c>POST /v1/txn</c>: a key, exactly one of <see cref="Version"/>, <see cref="CreateIndex"/>,
/// <see cref="Value"/> (base64) or <see cref="Exists"/>, and <see cref="Op"/>: <c>=</c> (the default), <c>!=</c>,
/// <c>&lt;</c> or <c>&gt;</c> (<c>exists</c> takes only <c>=</c> and <c>!=</c>).
/// </summary>
public sealed record TxnCompare(string Key, string? Op = null, ulong? Version = null, ulong? CreateIndex = null, byte[]? Value = null, bool? Exists = null);

/// <summary>
/// One operation of <c>POST /v1/txn</c>: <c>put</c> (key and value, base64, and optionally the lease the key is bound
/// to), <c>delete</c>, <c>deletePrefix</c> (the key is the prefix) or <c>get</c>.
/// </summary>
public sealed record TxnOperation(string Op, string Key, byte[]? Value = null, ulong? Lease = null);

/// <summary>The body of <c>POST /v1/txn</c>: when every compare holds, the success operations apply, otherwise the failure ones.</summary>
public sealed record TxnRequest(IReadOnlyList<TxnCompare>? Compare = null, IReadOnlyList<TxnOperation>? Success = null, IReadOnlyList<TxnOperation>? Failure = null);

/// <summary>
/// What one operation did: a put's <see cref="Version"/> and <see cref="CreateIndex"/>; how many keys a delete or a
/// prefix delete <see cref="Deleted"/>; whether a get <see cref="Found"/> its key, and the value with its versions.
/// </summary>
public sealed record TxnOpResult(string Op, bool? Found = null, ulong? Version = null, ulong? CreateIndex = null, ulong? Deleted = null, byte[]? Value = null);

/// <summary>The answer to <c>POST /v1/txn</c>: which branch ran, the transaction's log index, and one result per operation of that branch.</summary>
public sealed record TxnResponse(bool Succeeded, ulong Index, IReadOnlyList<TxnOpResult> Results);

/// <summary>One key's change in a watch: <c>put</c> with the value (base64), version, create index and lease (if any), or <c>delete</c>.</summary>
public sealed record WatchChangeResponse(string Key, string Type, byte[]? Value = null, ulong? Version = null, ulong? CreateIndex = null, ulong? Lease = null);

/// <summary>
/// One line of a watch (<c>GET /v1/watch</c>, newline-delimited JSON): every matching change made by the entry at
/// <see cref="Index"/>; without changes, a progress line (everything up to <see cref="Index"/> was sent); with
/// <see cref="Error"/>, the last line of a watch the node ended (<c>watch_dropped</c>: resume from <see cref="Index"/>).
/// </summary>
public sealed record WatchEventResponse(ulong Index, IReadOnlyList<WatchChangeResponse>? Changes = null, string? Error = null, string? Detail = null);

/// <summary>
/// Source-generated serializers for every JSON shape of the API, for the server, the client and the bench alike:
/// camelCase names, nulls left out (except where a shape says otherwise), numbers only as JSON numbers, and on
/// reading, names in any case and an explicit null in a field that may not be null as an error. A field that is
/// missing reads as its default, so a reader takes what it needs from an answer that carries less (a proxy's, an
/// older node's). Use <see cref="Wire"/>.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    PropertyNameCaseInsensitive = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(PutResponse))]
[JsonSerializable(typeof(DeleteResponse))]
[JsonSerializable(typeof(ListResponse))]
[JsonSerializable(typeof(LockRequest))]
[JsonSerializable(typeof(LockResponse))]
[JsonSerializable(typeof(LockReleasedResponse))]
[JsonSerializable(typeof(LeaseGrantRequest))]
[JsonSerializable(typeof(LeaseResponse))]
[JsonSerializable(typeof(LeaseStatusResponse))]
[JsonSerializable(typeof(LeaseRevokedResponse))]
[JsonSerializable(typeof(LeasesResponse))]
[JsonSerializable(typeof(TransferResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(ClusterStatusResponse))]
[JsonSerializable(typeof(MembersResponse))]
[JsonSerializable(typeof(MemberRequest))]
[JsonSerializable(typeof(TxnRequest))]
[JsonSerializable(typeof(TxnResponse))]
[JsonSerializable(typeof(WatchEventResponse))]
[JsonSerializable(typeof(ClusterEventsResponse))]
[JsonSerializable(typeof(SnapshotTakenResponse))]
public sealed partial class ProtocolJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The context to write and read with. Its strings keep apostrophes and non-ASCII letters as they are (as
    /// README.md shows them) rather than as <c>\uXXXX</c>: the answers are <c>application/json</c>, never embedded in
    /// HTML, so the escaping <see cref="Default"/> applies for that case buys nothing and hides the text.
    /// </summary>
    public static ProtocolJsonContext Wire => LazyInitializer.EnsureInitialized(ref _wire, CreateWire);

    // Made on first use: a static initializer here would run before the generated part has made Default.
    private static ProtocolJsonContext? _wire;

    // The generated context's options carry the settings above; only the encoder differs.
    private static ProtocolJsonContext CreateWire() =>
        new(new JsonSerializerOptions(Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
