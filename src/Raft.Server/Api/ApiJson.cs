using System.Text.Json;
using System.Text.Json.Serialization;

namespace Raft.Server.Api;

/// <summary>Every error answer: a stable machine-readable <see cref="Error"/> code and a sentence for people.</summary>
public sealed record ErrorBody(string Error, string Detail);

/// <summary>A committed and applied put: the entry's log index and the key's new version (equal to it).</summary>
public sealed record PutResponse(ulong Index, ulong Version);

/// <summary>A committed and applied delete; <see cref="Deleted"/> is false when the key did not exist.</summary>
public sealed record DeleteResponse(ulong Index, bool Deleted);

/// <summary>One key of a listing; <see cref="Value"/> is the raw value in base64.</summary>
public sealed record ListItem(string Key, byte[] Value, ulong Version, ulong CreateIndex);

/// <summary>A listing as of applied index <see cref="Index"/>; <see cref="More"/> says the limit cut it short.</summary>
public sealed record ListResponse(IReadOnlyList<ListItem> Items, bool More, ulong Index);

/// <summary>A conditional write whose expected version did not match; <see cref="CurrentVersion"/> is 0 when the key is absent.</summary>
public sealed record PreconditionFailedBody(string Error, string Detail, ulong CurrentVersion);

/// <summary>The body of a lock request: acquire and renew need both fields, release only the owner.</summary>
public sealed record LockRequest(string? Owner, long? TtlMs);

/// <summary>A held lock: its owner, the fencing token (the log index that granted it) and its expiry (Unix ms, leader time).</summary>
public sealed record LockResponse(string Name, string Owner, ulong FencingToken, long ExpiresAtMs);

/// <summary>A released lock and the token it had.</summary>
public sealed record LockReleasedResponse(string Name, ulong FencingToken, ulong Index);

/// <summary>A lock held by someone else until <see cref="ExpiresAtMs"/>.</summary>
public sealed record LockHeldBody(string Error, string Detail, string Holder, long ExpiresAtMs);

public sealed record TransferResponse(int From, int To, int LeaderId, string Detail);

public sealed record HealthResponse(string Status, int LeaderId, ulong CommitIndex, ulong AppliedIndex);

/// <summary>Source-generated serializers for every JSON shape the API reads or writes (camelCase).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(PutResponse))]
[JsonSerializable(typeof(DeleteResponse))]
[JsonSerializable(typeof(ListResponse))]
[JsonSerializable(typeof(PreconditionFailedBody))]
[JsonSerializable(typeof(LockRequest))]
[JsonSerializable(typeof(LockResponse))]
[JsonSerializable(typeof(LockReleasedResponse))]
[JsonSerializable(typeof(LockHeldBody))]
[JsonSerializable(typeof(TransferResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(ClusterStatus))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
