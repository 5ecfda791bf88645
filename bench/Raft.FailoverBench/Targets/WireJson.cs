using System.Text.Json.Serialization;

namespace Raft.FailoverBench.Targets;

// etcd's JSON gateway shapes; our cluster's are Raft.Protocol's, shared with the server and the client.

internal sealed record EtcdPutRequest([property: JsonPropertyName("key")] byte[] Key, [property: JsonPropertyName("value")] byte[] Value);

internal sealed record EtcdRangeRequest([property: JsonPropertyName("key")] byte[] Key);

internal sealed record EtcdMoveLeaderRequest([property: JsonPropertyName("targetID")] string TargetId);

internal sealed record EtcdHeader(
    [property: JsonPropertyName("member_id")] string? MemberId,
    [property: JsonPropertyName("revision")] string? Revision);

internal sealed record EtcdPutResponse([property: JsonPropertyName("header")] EtcdHeader? Header);

internal sealed record EtcdKeyValue(
    [property: JsonPropertyName("key")] byte[]? Key,
    [property: JsonPropertyName("value")] byte[]? Value,
    [property: JsonPropertyName("create_revision")] string? CreateRevision,
    [property: JsonPropertyName("mod_revision")] string? ModRevision,
    [property: JsonPropertyName("version")] string? Version);

internal sealed record EtcdRangeResponse(
    [property: JsonPropertyName("header")] EtcdHeader? Header,
    [property: JsonPropertyName("kvs")] IReadOnlyList<EtcdKeyValue>? Kvs);

internal sealed record EtcdStatusResponse(
    [property: JsonPropertyName("header")] EtcdHeader? Header,
    [property: JsonPropertyName("leader")] string? Leader,
    [property: JsonPropertyName("raftIndex")] string? RaftIndex = null,
    [property: JsonPropertyName("raftTerm")] string? RaftTerm = null,
    [property: JsonPropertyName("raftAppliedIndex")] string? RaftAppliedIndex = null,
    [property: JsonPropertyName("dbSize")] string? DbSize = null);

internal sealed record EtcdHealthResponse([property: JsonPropertyName("health")] string? Health);

internal sealed record EtcdMemberAddRequest([property: JsonPropertyName("peerURLs")] IReadOnlyList<string> PeerUrls, [property: JsonPropertyName("isLearner")] bool IsLearner);

/// <summary>A member id, as etcd's gateway writes 64-bit numbers: a string.</summary>
internal sealed record EtcdMemberIdRequest([property: JsonPropertyName("ID")] string Id);

internal sealed record EtcdMember(
    [property: JsonPropertyName("ID")] string? Id,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("peerURLs")] IReadOnlyList<string>? PeerUrls,
    [property: JsonPropertyName("isLearner")] bool IsLearner);

internal sealed record EtcdMemberAddResponse(
    [property: JsonPropertyName("member")] EtcdMember? Member,
    [property: JsonPropertyName("members")] IReadOnlyList<EtcdMember>? Members);

/// <summary>A watch of <c>[key, range_end)</c>, from <c>start_revision</c> on (left out: after the current revision).</summary>
internal sealed record EtcdWatchCreateRequest(
    [property: JsonPropertyName("key")] byte[] Key,
    [property: JsonPropertyName("range_end")] byte[] RangeEnd,
    [property: JsonPropertyName("start_revision"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? StartRevision);

internal sealed record EtcdWatchRequest([property: JsonPropertyName("create_request")] EtcdWatchCreateRequest CreateRequest);

/// <summary>One event of a watch response: <c>type</c> is left out for a put (the enum's zero) and <c>DELETE</c> for a deletion.</summary>
internal sealed record EtcdWatchEvent(
    [property: JsonPropertyName("type")] string? Type,
    [property: JsonPropertyName("kv")] EtcdKeyValue? Kv);

internal sealed record EtcdWatchResponse(
    [property: JsonPropertyName("header")] EtcdHeader? Header,
    [property: JsonPropertyName("created")] bool Created,
    [property: JsonPropertyName("canceled")] bool Canceled,
    [property: JsonPropertyName("compact_revision")] string? CompactRevision,
    [property: JsonPropertyName("cancel_reason")] string? CancelReason,
    [property: JsonPropertyName("events")] IReadOnlyList<EtcdWatchEvent>? Events);

internal sealed record EtcdGatewayError(
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("http_code")] int? HttpCode);

/// <summary>One line of the gateway's watch stream: a response of the watch, or the error that ended the stream.</summary>
internal sealed record EtcdWatchLine(
    [property: JsonPropertyName("result")] EtcdWatchResponse? Result,
    [property: JsonPropertyName("error")] EtcdGatewayError? Error);
