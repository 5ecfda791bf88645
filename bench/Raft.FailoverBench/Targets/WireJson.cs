using System.Text.Json.Serialization;

namespace Raft.FailoverBench.Targets;

/// <summary>Our <c>PUT /v1/kv/{key}</c> answer.</summary>
internal sealed record OurPutResponse(ulong Index, ulong Version);

/// <summary>The part of our <c>GET /v1/cluster</c> the bench reads: the node's own role.</summary>
internal sealed record OurHealth(int LeaderId);

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
    [property: JsonPropertyName("leader")] string? Leader);
