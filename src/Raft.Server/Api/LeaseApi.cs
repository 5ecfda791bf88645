using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.KeyValue;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>
/// Leases: a time to live that keys (<c>PUT /v1/kv/{key}?lease=id</c>) and locks (an acquire with <c>lease</c>) are
/// bound to. Grants, keep-alives and revokes are log commands carrying the leader's time, so every replica agrees on
/// when a lease ends; the leader ends one whose time ran out with one entry that deletes its keys and releases its
/// locks, and a new leader first moves every live lease on by the time the cluster spent without a leader.
/// Needs cluster version <see cref="KvClusterVersion.Leases"/>.
/// </summary>
internal static class LeaseApi
{
    /// <summary>The shortest time to live a lease may be granted: a keep-alive every third of it must be practical.</summary>
    public const long TtlMsMin = 1_000;

    /// <summary>The longest time to live a lease may be granted.</summary>
    public const long TtlMsMax = 24L * 60 * 60 * 1000;

    private const int BodyBytesMax = 1024;
    private const int ListLimitDefault = 1_000;
    private const int ListLimitMax = 10_000;
    private const string KeepAliveSuffix = "/keepalive";

    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapPost(ApiPaths.Leases, GrantAsync).Needs(ApiRole.Write);
        routes.MapGet(ApiPaths.Leases, ListAsync).Needs(ApiRole.Read);
        routes.MapGet(ApiPaths.LeasesPrefix + "{id}", GetAsync).Needs(ApiRole.Read);
        routes.MapDelete(ApiPaths.LeasesPrefix + "{id}", RevokeAsync).Needs(ApiRole.Write);
        routes.MapPost(ApiPaths.LeasesPrefix + "{id}" + KeepAliveSuffix, KeepAliveAsync).Needs(ApiRole.Write);
    }

    private static async Task<IResult> GrantAsync(HttpContext context, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        if (ApiResults.ParseSession(context.Request, out var session) is { } badSession)
        {
            return badSession;
        }

        if (context.Request.ContentLength > BodyBytesMax)
        {
            return TooLarge();
        }

        var body = await KvApi.ReadBodyAsync(context.Request, BodyBytesMax, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            return TooLarge();
        }

        const string What = "{\"ttlMs\": integer}";
        LeaseGrantRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(body, ProtocolJsonContext.Wire.LeaseGrantRequest);
        }
        catch (JsonException)
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidJson, $"the body must be one JSON object {What}, with ttlMs a JSON integer");
        }

        if (request?.TtlMs is not { } ttl || ttl is < TtlMsMin or > TtlMsMax)
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidTtl, $"the body must be {What} with ttlMs in [{TtlMsMin}, {TtlMsMax}]");
        }

        return await routing.ServeAsync(context, node, body, 0, () => WriteLeaseAsync(context, node, options, KvCommandCodec.EncodeLeaseGrant(ttl, session))).ConfigureAwait(false);
    }

    private static async Task<IResult> KeepAliveAsync(HttpContext context, string id, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        if (ApiResults.ParseLease(id, "the lease id in the path", out var lease) is { } badLease)
        {
            return badLease;
        }

        if (ApiResults.ParseSession(context.Request, out var session) is { } badSession)
        {
            return badSession;
        }

        return await routing.ServeAsync(context, node, null, 0, () =>
            WriteLeaseAsync(context, node, options, KvCommandCodec.EncodeLease(KvCommandType.LeaseKeepAlive, lease, session))).ConfigureAwait(false);
    }

    private static async Task<IResult> RevokeAsync(HttpContext context, string id, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        if (ApiResults.ParseLease(id, "the lease id in the path", out var lease) is { } badLease)
        {
            return badLease;
        }

        if (ApiResults.ParseSession(context.Request, out var session) is { } badSession)
        {
            return badSession;
        }

        return await routing.ServeAsync(context, node, null, 0, async () =>
            ApiResults.NeedsClusterVersion(node, KvClusterVersion.Leases, "leases") ??
            await KvApi.WriteAsync(context, node, options, KvCommandCodec.EncodeLease(KvCommandType.LeaseRevoke, lease, session), "the lease", static (_, outcome) =>
                Results.Json(new LeaseRevokedResponse(outcome.Result.Lease, outcome.Result.Index), ProtocolJsonContext.Wire.LeaseRevokedResponse)).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private static async Task<IResult> GetAsync(HttpContext context, string id, string? consistency, NodeLoop node, NodeOptions options, LeaderRouting routing, TimeProvider time)
    {
        if (ApiResults.ParseLease(id, "the lease id in the path", out var lease) is { } badLease)
        {
            return badLease;
        }

        if (!KvApi.TryParseConsistency(consistency, out var level))
        {
            return KvApi.BadConsistency(consistency);
        }

        return level == ReadConsistency.Lease
            ? await routing.ServeAsync(context, node, null, 0, () => ReadLeaseAsync(context, lease, level, node, options, time)).ConfigureAwait(false)
            : await ReadLeaseAsync(context, lease, level, node, options, time).ConfigureAwait(false);
    }

    // Live or not is judged at max(the store's time, this node's clock when the read was made), as a lock's is.
    private static async Task<IResult> ReadLeaseAsync(HttpContext context, ulong id, ReadConsistency level, NodeLoop node, NodeOptions options, TimeProvider time)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var read = await ReadAsync(context, node, options, store => (store.TryGetLease(id, now, out var lease) ? lease : null, store.AppliedIndex, Math.Max(now, store.ClockMs)), level).ConfigureAwait(false);
        if (read.Failed is { } failed)
        {
            return failed;
        }

        var (found, index, at) = read.Value;
        context.Response.Headers[ApiHeaders.Index] = index.ToString(CultureInfo.InvariantCulture);
        return found is null
            ? NotFound(id)
            : Results.Json(new LeaseStatusResponse(found.Id, found.TtlMs, found.ExpiresAtMs, found.ExpiresAtMs - at, Visible(context, found.Keys), Visible(context, found.Locks), index), ProtocolJsonContext.Wire.LeaseStatusResponse);
    }

    // A token limited to prefixes sees the keys and locks of a lease that are under them only.
    private static IReadOnlyList<string> Visible(HttpContext context, IReadOnlyList<string> names) =>
        ApiAccess.CallerOf(context) is { IsScoped: true } ? [.. names.Where(name => ApiAccess.Allows(context, name))] : names;

    private static async Task<IResult> ListAsync(HttpContext context, string? limit, string? consistency, NodeLoop node, NodeOptions options, LeaderRouting routing, TimeProvider time)
    {
        var count = ListLimitDefault;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > ListLimitMax))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidLimit, $"limit must be an integer in [1, {ListLimitMax}]");
        }

        if (!KvApi.TryParseConsistency(consistency, out var level))
        {
            return KvApi.BadConsistency(consistency);
        }

        async Task<IResult> ListHereAsync()
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var read = await ReadAsync(context, node, options, store =>
            {
                var ids = new List<ulong>();
                var more = store.ListLeases(now, count, ids);
                return new LeasesResponse(ids, more, store.AppliedIndex);
            }, level).ConfigureAwait(false);
            if (read.Failed is { } failed)
            {
                return failed;
            }

            context.Response.Headers[ApiHeaders.Index] = read.Value.Index.ToString(CultureInfo.InvariantCulture);
            return Results.Json(read.Value, ProtocolJsonContext.Wire.LeasesResponse);
        }

        return level == ReadConsistency.Lease
            ? await routing.ServeAsync(context, node, null, 0, ListHereAsync).ConfigureAwait(false)
            : await ListHereAsync().ConfigureAwait(false);
    }

    private static async Task<(T Value, IResult? Failed)> ReadAsync<T>(HttpContext context, NodeLoop node, NodeOptions options, Func<KvStore, T> query, ReadConsistency level)
    {
        ReadOutcome<T> read;
        try
        {
            read = await node.QueryAsync(query, level, context.RequestAborted).WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return (default!, ApiResults.Timeout("the read"));
        }

        return read.Served ? (read.Value, null) : (default!, ApiResults.FromReadFailure(context, read.Failure, read.LeaderId));
    }

    // A grant or keep-alive, on the leader: the lease as the command left it.
    private static async Task<IResult> WriteLeaseAsync(HttpContext context, NodeLoop node, NodeOptions options, byte[] command) =>
        ApiResults.NeedsClusterVersion(node, KvClusterVersion.Leases, "leases") ??
        await KvApi.WriteAsync(context, node, options, command, "the lease", static (_, outcome) =>
            Results.Json(new LeaseResponse(outcome.Result.Lease, outcome.Result.TtlMs, outcome.Result.ExpiresAtMs), ProtocolJsonContext.Wire.LeaseResponse)).ConfigureAwait(false);

    private static IResult NotFound(ulong id) =>
        ApiResults.Error(StatusCodes.Status404NotFound, ErrorCodes.LeaseNotFound, $"lease {id} does not exist or its time ran out");

    private static IResult TooLarge() =>
        ApiResults.Error(StatusCodes.Status413PayloadTooLarge, ErrorCodes.BodyTooLarge, $"a lease request has at most {BodyBytesMax} bytes");
}
