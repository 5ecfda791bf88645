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

public sealed record TransferResponse(int From, int To, int LeaderId, string Detail);

public sealed record HealthResponse(string Status, int LeaderId, ulong CommitIndex, ulong AppliedIndex);

/// <summary>Source-generated serializers for every JSON shape the API reads or writes (camelCase).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(PutResponse))]
[JsonSerializable(typeof(DeleteResponse))]
[JsonSerializable(typeof(ListResponse))]
[JsonSerializable(typeof(TransferResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(ClusterStatus))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
