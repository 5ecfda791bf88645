using System.Text.Json.Serialization;

namespace Raft.DotNextNode;

/// <summary>
/// The HTTP API of a DotNext node, the small one the failover bench drives (its <c>DotNextClusterTarget</c> speaks it):
/// <list type="bullet">
/// <item><c>PUT /kv/{key}</c>, the value as the body: 200 <see cref="PutAnswer"/> once applied on the leader; on a
/// follower, or when the write fails, 503 with <see cref="LeaderHeader"/> naming the leader it knows.</item>
/// <item><c>GET /kv/{key}</c>: a linearizable read (DotNext's read barrier, on any node): 200 <see cref="GetAnswer"/>,
/// 404 <see cref="GetAnswer"/> without a value, or 503 with <see cref="LeaderHeader"/>.</item>
/// <item><c>GET /leader</c>: <see cref="LeaderAnswer"/>, what this node believes, without a trip through the cluster.</item>
/// <item><c>POST /resign</c>: the leader steps down (DotNext's resign; it has no transfer to a chosen node): 200 when it
/// did, 409 when this node did not lead.</item>
/// <item><c>GET /ready</c>: 200 once the node is started and knows a leader, else 503.</item>
/// </list>
/// </summary>
public static class NodeApi
{
    public const string KvPrefix = "/kv/";
    public const string Leader = "/leader";
    public const string Resign = "/resign";
    public const string Ready = "/ready";

    /// <summary>On a refusal: the number of the node this one believes leads (absent when it knows none).</summary>
    public const string LeaderHeader = "X-Leader-Node";
}

/// <param name="Index">The log index the write was applied at.</param>
public sealed record PutAnswer(long Index);

/// <param name="Index">The log index this node had applied when it read (a 404 carries it too).</param>
/// <param name="CreateIndex">The log index of the key's first write.</param>
/// <param name="ModIndex">The log index of the key's last write.</param>
/// <param name="Version">How many writes the key has had.</param>
public sealed record GetAnswer(long Index, string? Value, long CreateIndex, long ModIndex, long Version);

/// <param name="Leader">Whether this node believes it leads.</param>
/// <param name="LeaderNode">The node it believes leads, 0 for none.</param>
public sealed record LeaderAnswer(bool Leader, int LeaderNode, long Term);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(PutAnswer))]
[JsonSerializable(typeof(GetAnswer))]
[JsonSerializable(typeof(LeaderAnswer))]
public sealed partial class NodeApiJsonContext : JsonSerializerContext;
