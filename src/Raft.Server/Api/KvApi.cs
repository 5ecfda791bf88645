using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>
/// The key-value routes. Writes are served by the leader and answer only once their entry is committed and
/// applied; reads are served where they arrive at the consistency asked for.
/// </summary>
internal static class KvApi
{
    private const int ListLimitDefault = 100;
    private const int ListLimitMax = 10_000;
    private const int BlockingWaitMsDefault = 60_000;
    private const int BlockingWaitMsMax = 600_000;

    public static void Map(IEndpointRouteBuilder routes)
    {
        // The route only selects the handler: each reads its key from the raw target (ApiResults.ReadName).
        routes.MapPut(ApiPaths.KvPrefix + "{**key}", PutAsync).Needs(ApiRole.Write);
        routes.MapGet(ApiPaths.KvPrefix + "{**key}", GetAsync).Needs(ApiRole.Read);
        routes.MapDelete(ApiPaths.KvPrefix + "{**key}", DeleteAsync).Needs(ApiRole.Write);
        routes.MapGet(ApiPaths.Kv, ListAsync).Needs(ApiRole.Read);
    }

    private static async Task<IResult> PutAsync(HttpContext context, string? lease, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        if (ApiResults.ReadName(context, ApiPaths.KvPrefix, options.MaxKeyBytes, out var key) is { } invalid)
        {
            return invalid;
        }

        var length = context.Request.ContentLength;
        if (length > options.MaxValueBytes)
        {
            return TooLarge(length.Value, options);
        }

        var value = await ReadBodyAsync(context.Request, options.MaxValueBytes, context.RequestAborted).ConfigureAwait(false);
        if (value is null)
        {
            return TooLarge(null, options);
        }

        if (ApiResults.ParseIfMatch(context.Request, out var expected) is { } badIfMatch)
        {
            return badIfMatch;
        }

        if (ApiResults.ParseSession(context.Request, out var session) is { } badSession)
        {
            return badSession;
        }

        if (ApiResults.ParseLease(lease, "lease", out var leaseId) is { } badLease)
        {
            return badLease;
        }

        return await routing.ServeAsync(context, node, value, 0, () =>
            leaseId != 0 && ApiResults.NeedsClusterVersion(node, KvClusterVersion.Leases, "keys bound to leases") is { } tooLow
                ? Task.FromResult(tooLow)
                : WriteAsync(context, node, options, KvCommandCodec.EncodePut(key, value, expected, session, leaseId), key, static (context, outcome) =>
                    Results.Json(new PutResponse(outcome.Result.Index, outcome.Result.Version), ProtocolJsonContext.Wire.PutResponse))).ConfigureAwait(false);
    }

    private static async Task<IResult> DeleteAsync(HttpContext context, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        if (ApiResults.ReadName(context, ApiPaths.KvPrefix, options.MaxKeyBytes, out var key) is { } invalid)
        {
            return invalid;
        }

        if (ApiResults.ParseIfMatch(context.Request, out var expected) is { } badIfMatch)
        {
            return badIfMatch;
        }

        if (ApiResults.ParseSession(context.Request, out var session) is { } badSession)
        {
            return badSession;
        }

        return await routing.ServeAsync(context, node, null, 0, () => WriteAsync(context, node, options, KvCommandCodec.EncodeDelete(key, expected, session), key, static (context, outcome) =>
            Results.Json(new DeleteResponse(outcome.Result.Index, outcome.Result.Status == KvApplyStatus.Ok), ProtocolJsonContext.Wire.DeleteResponse))).ConfigureAwait(false);
    }

    /// <summary>
    /// Proposes <paramref name="command"/> and answers once it is applied: <paramref name="answer"/> on success, the
    /// refusal (412, 409) otherwise. A deduplicated retry carries the original index, so it answers the same. Runs on
    /// the leader, inside <see cref="LeaderRouting.ServeAsync"/>, which routes a <see cref="LeaderMoved"/> answer on.
    /// </summary>
    internal static async Task<IResult> WriteAsync(HttpContext context, NodeLoop node, NodeOptions options, byte[] command, string name, Func<HttpContext, WriteOutcome<KvApplyResult>, IResult> answer)
    {
        WriteOutcome<KvApplyResult> outcome;
        try
        {
            // The node answers TimedOut after RequestTimeoutMs itself; this bound only covers a node that stalled.
            outcome = await node.ProposeAsync(command, LeaderRouting.HandOverOf(context, options), context.RequestAborted).WaitAsync(StallLimit(options), context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the write");
        }

        if (outcome.Status != WriteStatus.Applied)
        {
            return ApiResults.FromWriteFailure(context, outcome);
        }

        context.Response.Headers[ApiHeaders.Index] = outcome.Result.Index.ToString(CultureInfo.InvariantCulture);
        return ApiResults.Refused(outcome.Result, name) ?? answer(context, outcome);
    }

    /// <summary>
    /// A blocking read, as Consul's: with <c>waitIndex=N</c>, waits until this node applies a change to the key (or under
    /// the prefix) after index N, or for <c>waitMs</c> (default 60 s, at most 10 min), then reads as asked. Answers at once
    /// when this node's history no longer holds every change after N. Null when the read may go on.
    /// </summary>
    private static async Task<IResult?> WaitForChangeAsync(HttpContext context, WatchFilter filter, string? waitIndex, string? waitMs, WatchHub hub)
    {
        if (WatchApi.ReadIndex(waitIndex, "waitIndex", out var after) is { } badIndex)
        {
            return badIndex;
        }

        var wait = BlockingWaitMsDefault;
        if (waitMs is not null && (after is null || !int.TryParse(waitMs, NumberStyles.None, CultureInfo.InvariantCulture, out wait) || wait > BlockingWaitMsMax))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidWait, after is null
                ? "waitMs goes with waitIndex: a blocking read waits for a change after that index"
                : $"waitMs must be an integer in [0, {BlockingWaitMsMax}]");
        }

        if (after is { } index)
        {
            await hub.WaitForChangeAsync(filter, index, TimeSpan.FromMilliseconds(wait), context.RequestAborted).ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>How long a handler waits for the node before it gives up on it: past the node's own request timeout.</summary>
    internal static TimeSpan StallLimit(NodeOptions options) => TimeSpan.FromMilliseconds(options.RequestTimeoutMs + 1000);

    private static async Task<IResult> GetAsync(HttpContext context, string? consistency, string? waitIndex, string? waitMs, NodeLoop node, NodeOptions options, LeaderRouting routing, WatchHub hub)
    {
        if (ApiResults.ReadName(context, ApiPaths.KvPrefix, options.MaxKeyBytes, out var key) is { } invalid)
        {
            return invalid;
        }

        if (!TryParseConsistency(consistency, out var level))
        {
            return BadConsistency(consistency);
        }

        if (await WaitForChangeAsync(context, new WatchFilter(key, IsPrefix: false), waitIndex, waitMs, hub).ConfigureAwait(false) is { } badWait)
        {
            return badWait;
        }

        if (level == ReadConsistency.Lease)
        {
            return await routing.ServeAsync(context, node, null, 0, () => ReadAsync(context, key, level, node, options)).ConfigureAwait(false);
        }

        if (level == ReadConsistency.Linearizable)
        {
            // A linearizable read needs the leader's commit index, so during an election it waits for one too.
            await node.LeaderViewAsync(options, context).ConfigureAwait(false);
        }

        return await ReadAsync(context, key, level, node, options).ConfigureAwait(false);
    }

    private static async Task<IResult> ReadAsync(HttpContext context, string key, ReadConsistency level, NodeLoop node, NodeOptions options)
    {
        ReadOutcome<GetOutcome> read;
        try
        {
            read = await node.GetAsync(key, level, context.RequestAborted).WaitAsync(StallLimit(options), context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the read");
        }

        if (!read.Served)
        {
            return ApiResults.FromReadFailure(context, read.Failure, read.LeaderId);
        }

        var outcome = read.Value;
        context.Response.Headers[ApiHeaders.Index] = outcome.AppliedIndex.ToString(CultureInfo.InvariantCulture);
        if (!outcome.Found)
        {
            return ApiResults.Error(StatusCodes.Status404NotFound, ErrorCodes.NotFound, $"no key '{key}'");
        }

        context.Response.Headers[ApiHeaders.Version] = outcome.Value.Version.ToString(CultureInfo.InvariantCulture);
        context.Response.Headers[ApiHeaders.CreateIndex] = outcome.Value.CreateIndex.ToString(CultureInfo.InvariantCulture);
        if (outcome.Value.Lease != 0)
        {
            context.Response.Headers[ApiHeaders.Lease] = outcome.Value.Lease.ToString(CultureInfo.InvariantCulture);
        }

        return Results.Bytes(outcome.Value.Value, "application/octet-stream");
    }

    private static async Task<IResult> ListAsync(HttpContext context, string? limit, string? keys, string? consistency, string? waitIndex, string? waitMs, NodeLoop node, NodeOptions options, LeaderRouting routing, WatchHub hub)
    {
        if (ApiResults.ReadPrefix(context, options.MaxKeyBytes, out var prefix) is { } invalid)
        {
            return invalid;
        }

        if (ApiResults.ReadAfter(context, options.MaxKeyBytes, out var after) is { } badAfter)
        {
            return badAfter;
        }

        var count = ListLimitDefault;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > ListLimitMax))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidLimit, $"limit must be an integer in [1, {ListLimitMax}]");
        }

        var keysOnly = false;
        if (keys is not null && !TryParseFlag(keys, out keysOnly))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidKeys, $"keys must be true or false (got '{keys}')");
        }

        if (!TryParseConsistency(consistency, out var level))
        {
            return BadConsistency(consistency);
        }

        if (await WaitForChangeAsync(context, new WatchFilter(prefix, IsPrefix: true), waitIndex, waitMs, hub).ConfigureAwait(false) is { } badWait)
        {
            return badWait;
        }

        var page = new ListPage(prefix, after, count, keysOnly);
        return level == ReadConsistency.Lease
            ? await routing.ServeAsync(context, node, null, 0, () => ListHereAsync(context, page, level, node, options)).ConfigureAwait(false)
            : await ListHereAsync(context, page, level, node, options).ConfigureAwait(false);
    }

    private static async Task<IResult> ListHereAsync(HttpContext context, ListPage page, ReadConsistency level, NodeLoop node, NodeOptions options)
    {
        ReadOutcome<ListOutcome> read;
        try
        {
            read = await node.ListAsync(page.Prefix, page.After, page.Limit, level, context.RequestAborted).WaitAsync(StallLimit(options), context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the listing");
        }

        if (!read.Served)
        {
            return ApiResults.FromReadFailure(context, read.Failure, read.LeaderId);
        }

        // Values are the store's own arrays, never written again, so an item refers to them rather than copying.
        var outcome = read.Value;
        var items = new ListItem[outcome.Items.Count];
        for (var i = 0; i < items.Length; i++)
        {
            var (itemKey, value) = outcome.Items[i];
            items[i] = new ListItem(itemKey, page.KeysOnly ? null : value.Value, value.Version, value.CreateIndex) { Lease = value.Lease == 0 ? null : value.Lease };
        }

        // The store says more only past a full page, so a listing with more has a last key to go on after.
        if (outcome.More && items.Length != page.Limit)
        {
            throw new InvalidOperationException($"the store listed {items.Length} of {page.Limit} keys and said more match");
        }

        context.Response.Headers[ApiHeaders.Index] = outcome.AppliedIndex.ToString(CultureInfo.InvariantCulture);
        var response = new ListResponse(items, outcome.More, outcome.AppliedIndex) { Next = outcome.More ? items[^1].Key : null };
        return Results.Json(response, ProtocolJsonContext.Wire.ListResponse);
    }

    // true or false, in any case, as consistency names are read.
    private static bool TryParseFlag(string value, out bool flag)
    {
        flag = value.Equals("true", StringComparison.OrdinalIgnoreCase);
        return flag || value.Equals("false", StringComparison.OrdinalIgnoreCase);
    }

    internal static bool TryParseConsistency(string? value, out ReadConsistency level)
    {
        level = ReadConsistency.Linearizable;
        if (value is null || value.Equals("linearizable", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (value.Equals("lease", StringComparison.OrdinalIgnoreCase))
        {
            level = ReadConsistency.Lease;
            return true;
        }

        if (value.Equals("stale", StringComparison.OrdinalIgnoreCase))
        {
            level = ReadConsistency.Stale;
            return true;
        }

        return false;
    }

    internal static IResult BadConsistency(string? value) =>
        ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidConsistency, $"consistency must be linearizable, lease or stale (got '{value}')");

    private static IResult TooLarge(long? length, NodeOptions options) =>
        ApiResults.Error(StatusCodes.Status413PayloadTooLarge, ErrorCodes.ValueTooLarge,
            length is { } n ? $"the value has {n} bytes; at most {options.MaxValueBytes} are allowed" : $"the value exceeds {options.MaxValueBytes} bytes");

    // Reads at most maxBytes; null when the body is longer (the caller answers 413 and nothing is written).
    internal static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        var expected = request.ContentLength ?? 0;
        var buffer = new byte[Math.Min(expected > 0 ? expected : 4096, (long)maxBytes + 1)];
        var filled = 0;
        while (true)
        {
            if (filled == buffer.Length)
            {
                if (filled > maxBytes)
                {
                    return null;
                }

                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, (long)maxBytes + 1));
            }

            var read = await request.Body.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        if (filled > maxBytes)
        {
            return null;
        }

        return filled == buffer.Length ? buffer : buffer.AsSpan(0, filled).ToArray();
    }
}

/// <summary>
/// What a listing asks for: at most <see cref="Limit"/> keys under <see cref="Prefix"/> after <see cref="After"/>
/// (null: from the first), with their values unless <see cref="KeysOnly"/>.
/// </summary>
internal readonly record struct ListPage(string Prefix, string? After, int Limit, bool KeysOnly);
