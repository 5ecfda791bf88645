using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Server.Api;

/// <summary>
/// Locks with fencing tokens. Acquire, renew and release are log commands carrying the leader's time, so every
/// replica agrees on who holds a lock and until when; the token is the index of the entry that granted it.
/// </summary>
internal static class LockApi
{
    /// <summary>The longest lease a lock may be given.</summary>
    public const long TtlMsMax = 24L * 60 * 60 * 1000;

    /// <summary>The longest an acquire may wait for a held lock.</summary>
    public const int WaitMsMax = 60_000;

    private const int BodyBytesMax = 16 * 1024;

    // How often a waiting acquire tries again while the holder's lease has longer to run (a release frees it early).
    private const int RetryIntervalMsMax = 100;

    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/locks/{**name}", AcquireAsync);
        routes.MapPut("/v1/locks/{**name}", RenewAsync);
        routes.MapDelete("/v1/locks/{**name}", ReleaseAsync);
        routes.MapGet("/v1/locks/{**name}", GetAsync);
    }

    private static async Task<IResult> AcquireAsync(HttpContext context, string? name, string? waitMs, NodeLoop node, NodeOptions options, LeaderRouting routing, TimeProvider time)
    {
        var wait = 0;
        if (waitMs is not null && (!int.TryParse(waitMs, NumberStyles.None, CultureInfo.InvariantCulture, out wait) || wait > WaitMsMax))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, "invalid_wait", $"waitMs must be an integer in [0, {WaitMsMax}]");
        }

        var (request, body, invalid) = await ReadRequestAsync(context, name, options, needTtl: true).ConfigureAwait(false);
        if (invalid is not null)
        {
            return invalid;
        }

        if (await node.LeaderViewAsync(options, context).ConfigureAwait(false) is { Role: not RaftRole.Leader } view)
        {
            return await routing.RouteAsync(context, view.LeaderId, body, wait).ConfigureAwait(false);
        }

        var deadline = time.GetTimestamp() + (long)(wait * (double)time.TimestampFrequency / 1000);
        while (true)
        {
            // A fresh array per attempt: the loop stamps its time into the array it proposes, which the log keeps.
            var command = KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, name!, request.Owner, request.TtlMs, request.Session);
            var answer = await KvApi.WriteAsync(context, node, options, routing, command, body, name!, (_, outcome) =>
                Granted(name!, request.Owner, outcome.Result)).ConfigureAwait(false);
            if (!IsLockHeld(answer, out var expiresAtMs))
            {
                return answer;
            }

            var remainingMs = (long)time.GetElapsedTime(time.GetTimestamp(), deadline).TotalMilliseconds;
            if (remainingMs <= 0)
            {
                return answer;
            }

            // Try again when the holder's lease runs out, or sooner: a release frees the lock early.
            var leaseLeftMs = expiresAtMs - time.GetUtcNow().ToUnixTimeMilliseconds();
            var pauseMs = Math.Min(remainingMs, Math.Clamp(leaseLeftMs, 1, RetryIntervalMsMax));
            await Task.Delay(TimeSpan.FromMilliseconds(pauseMs), time, context.RequestAborted).ConfigureAwait(false);
            if (await node.LeaderViewAsync(options, context).ConfigureAwait(false) is { Role: not RaftRole.Leader } now)
            {
                return await routing.RouteAsync(context, now.LeaderId, body, (int)remainingMs).ConfigureAwait(false);
            }
        }
    }

    private static async Task<IResult> RenewAsync(HttpContext context, string? name, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        var (request, body, invalid) = await ReadRequestAsync(context, name, options, needTtl: true).ConfigureAwait(false);
        if (invalid is not null)
        {
            return invalid;
        }

        if (await node.LeaderViewAsync(options, context).ConfigureAwait(false) is { Role: not RaftRole.Leader } view)
        {
            return await routing.RouteAsync(context, view.LeaderId, body).ConfigureAwait(false);
        }

        var command = KvCommandCodec.EncodeLock(KvCommandType.LockRenew, name!, request.Owner, request.TtlMs, request.Session);
        return await KvApi.WriteAsync(context, node, options, routing, command, body, name!, (_, outcome) =>
            outcome.Result.Status == KvApplyStatus.NotFound ? NotHeld(name!) : Granted(name!, request.Owner, outcome.Result)).ConfigureAwait(false);
    }

    private static async Task<IResult> ReleaseAsync(HttpContext context, string? name, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        var (request, body, invalid) = await ReadRequestAsync(context, name, options, needTtl: false).ConfigureAwait(false);
        if (invalid is not null)
        {
            return invalid;
        }

        if (await node.LeaderViewAsync(options, context).ConfigureAwait(false) is { Role: not RaftRole.Leader } view)
        {
            return await routing.RouteAsync(context, view.LeaderId, body).ConfigureAwait(false);
        }

        var command = KvCommandCodec.EncodeLock(KvCommandType.LockRelease, name!, request.Owner, 0, request.Session);
        return await KvApi.WriteAsync(context, node, options, routing, command, body, name!, (_, outcome) =>
            outcome.Result.Status == KvApplyStatus.NotFound
                ? NotHeld(name!)
                : Results.Json(new LockReleasedResponse(name!, outcome.Result.FencingToken, outcome.Result.Index), ApiJsonContext.Default.LockReleasedResponse)).ConfigureAwait(false);
    }

    private static async Task<IResult> GetAsync(HttpContext context, string? name, string? consistency, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        if (ApiResults.CheckKey(name, options.MaxKeyBytes) is { } invalid)
        {
            return invalid;
        }

        if (!KvApi.TryParseConsistency(consistency, out var level))
        {
            return KvApi.BadConsistency(consistency);
        }

        if (level == ReadConsistency.Lease && await node.LeaderViewAsync(options, context).ConfigureAwait(false) is { Role: not RaftRole.Leader } view)
        {
            return await routing.RouteAsync(context, view.LeaderId, null).ConfigureAwait(false);
        }

        ReadOutcome<LockOutcome> read;
        try
        {
            read = await node.GetLockAsync(name!, level, context.RequestAborted).WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the read");
        }

        if (!read.Served)
        {
            return await ApiResults.FromReadFailure(context, read.Failure, read.LeaderId, routing).ConfigureAwait(false);
        }

        var outcome = read.Value;
        context.Response.Headers[ApiHeaders.Index] = outcome.AppliedIndex.ToString(CultureInfo.InvariantCulture);
        return outcome.Held
            ? Results.Json(new LockResponse(name!, outcome.Lock.Owner, outcome.Lock.FencingToken, outcome.Lock.ExpiresAtMs), ApiJsonContext.Default.LockResponse)
            : NotHeld(name!);
    }

    /// <summary>Checks the name, the session headers and the JSON body; on any problem answers 400 (or 413) and nothing is proposed.</summary>
    private static async Task<(ParsedRequest Request, byte[]? Body, IResult? Invalid)> ReadRequestAsync(HttpContext context, string? name, NodeOptions options, bool needTtl)
    {
        if (ApiResults.CheckKey(name, options.MaxKeyBytes) is { } badName)
        {
            return (default, null, badName);
        }

        if (ApiResults.ParseSession(context.Request, out var session) is { } badSession)
        {
            return (default, null, badSession);
        }

        if (context.Request.ContentLength > BodyBytesMax)
        {
            return (default, null, TooLarge());
        }

        var body = await KvApi.ReadBodyAsync(context.Request, BodyBytesMax, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            return (default, null, TooLarge());
        }

        LockRequest? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(body, ApiJsonContext.Default.LockRequest);
        }
        catch (JsonException ex)
        {
            return (default, null, ApiResults.Error(StatusCodes.Status400BadRequest, "invalid_json", $"the body is not a lock request: {ex.Message}"));
        }

        var what = needTtl ? "{\"owner\": string, \"ttlMs\": integer}" : "{\"owner\": string}";
        if (parsed?.Owner is not { Length: > 0 } owner || ApiResults.CheckKey(owner, KvCommandCodec.OwnerBytesMax) is not null)
        {
            return (default, null, ApiResults.Error(StatusCodes.Status400BadRequest, "invalid_owner",
                $"the body must be {what}; owner has 1 to {KvCommandCodec.OwnerBytesMax} bytes of UTF-8 without control characters"));
        }

        long ttl = 0;
        if (needTtl)
        {
            if (parsed.TtlMs is not { } value || value is < 1 or > TtlMsMax)
            {
                return (default, null, ApiResults.Error(StatusCodes.Status400BadRequest, "invalid_ttl", $"the body must be {what} with ttlMs in [1, {TtlMsMax}]"));
            }

            ttl = value;
        }

        return (new ParsedRequest(owner, ttl, session), body, null);
    }

    private static IResult Granted(string name, string owner, KvApplyResult result) =>
        Results.Json(new LockResponse(name, owner, result.FencingToken, result.ExpiresAtMs), ApiJsonContext.Default.LockResponse);

    private static IResult NotHeld(string name) =>
        ApiResults.Error(StatusCodes.Status404NotFound, "lock_not_held", $"nobody holds '{name}'");

    private static IResult TooLarge() =>
        ApiResults.Error(StatusCodes.Status413PayloadTooLarge, "body_too_large", $"a lock request has at most {BodyBytesMax} bytes");

    private static bool IsLockHeld(IResult answer, out long expiresAtMs)
    {
        if (answer is IStatusCodeHttpResult { StatusCode: StatusCodes.Status409Conflict } and IValueHttpResult { Value: LockHeldBody held })
        {
            expiresAtMs = held.ExpiresAtMs;
            return true;
        }

        expiresAtMs = 0;
        return false;
    }

    private readonly record struct ParsedRequest(string Owner, long TtlMs, KvSession Session);
}
