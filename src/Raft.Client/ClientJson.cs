using System.Text.Json.Serialization;

namespace Raft.Client;

internal sealed record PutBody(ulong Index, ulong Version);

internal sealed record DeleteBody(ulong Index, bool Deleted);

internal sealed record ListItemBody(string Key, byte[]? Value, ulong Version, ulong CreateIndex);

internal sealed record ListBody(IReadOnlyList<ListItemBody>? Items, bool More, ulong Index);

/// <summary>Every error answer; the fields past <c>detail</c> appear only with the errors that carry them.</summary>
internal sealed record ErrorBody(string? Error, string? Detail, ulong? CurrentVersion, string? Holder, long? ExpiresAtMs);

internal sealed record LockBody(string? Name, string? Owner, ulong FencingToken, long ExpiresAtMs);

internal sealed record LockRequestBody(string Owner, long? TtlMs);

internal sealed record MemberBody(int Id, string? Http);

internal sealed record ClusterBody(IReadOnlyList<MemberBody>? Members);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PutBody))]
[JsonSerializable(typeof(DeleteBody))]
[JsonSerializable(typeof(ListBody))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(LockBody))]
[JsonSerializable(typeof(LockRequestBody))]
[JsonSerializable(typeof(ClusterBody))]
internal sealed partial class ClientJsonContext : JsonSerializerContext;
