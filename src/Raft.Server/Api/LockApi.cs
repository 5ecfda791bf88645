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

    public static void Map(IEndpointRouteBuilder routes)
    {
        // The route only selects the handler: each reads its name from the raw target (ApiResults.ReadName).
        routes.MapPost(ApiPaths.LocksPrefix + "{**name}", AcquireAsync).Needs(ApiRole.Write);
        routes.MapPut(ApiPaths.LocksPrefix + "{**name}", RenewAsync).Needs(ApiRole.Write);
        routes.MapDelete(ApiPaths.LocksPrefix + "{**name}", ReleaseAsync).Needs(ApiRole.Write);
        routes.MapGet(ApiPaths.LocksPrefix + "{**name}", GetAsync).Needs(ApiRole.Read);
    }

    private static async Task<IResult> AcquireAsync(HttpContext context, string? waitMs, NodeLoop node, NodeOptions options, LeaderRouting routing, LockChanges changes, TimeProvider time)
    {
        var wait = 0;
        if (waitMs is not null && (!int.TryParse(waitMs, NumberStyles.None, CultureInfo.InvariantCulture, out wait) || wait > WaitMsMax))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidWait, $"waitMs must be an integer in [0, {WaitMsMax}]");
        }

        var (request, body, invalid) = await ReadRequestAsync(context, options, needTtl: true, leaseAllowed: true).ConfigureAwait(false);
        if (invalid is not null)
        {
            return invalid;
        }

        var deadline = time.GetTimestamp() + (long)(wait * (double)time.TimestampFrequency / 1000);
        return await routing.ServeAsync(context, node, body, wait, () => AcquireHereAsync(context, request, deadline, node, options, changes, time)).ConfigureAwait(false);
    }

    /// <summary>
    /// Acquires on the leader. Refused while another owner holds the lock, it waits until <paramref name="deadline"/>
    /// for the lock to change, for the holder's lease to end by this node's clock (the leader's, which stamps every
    /// command, so an attempt after that instant finds the lease over), or for leadership to move; then it tries once
    /// more. A change that leaves the lock held (a renewal) only moves the lease end, which a local read shows
    /// without a log entry. So a wait costs a log entry per attempt, not per interval.
    /// </summary>
    private static async Task<IResult> AcquireHereAsync(HttpContext context, ParsedRequest request, long deadline, NodeLoop node, NodeOptions options, LockChanges changes, TimeProvider time)
    {
        // Watched before each attempt: a release applied between the attempt's refusal and the wait still wakes it.
        var watch = changes.Watch(request.Name);
        try
        {
            while (true)
            {
                if (request.Lease != 0 && ApiResults.NeedsClusterVersion(node, KvClusterVersion.Leases, "locks bound to leases") is { } tooLow)
                {
                    return tooLow;
                }

                // A fresh array per attempt: the loop stamps its time into the array it proposes, which the log keeps.
                var command = KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, request.Name, request.Owner, request.TtlMs, request.Session, request.Lease);
                var answer = await KvApi.WriteAsync(context, node, options, command, request.Name, (_, outcome) =>
                    Granted(request.Name, request.Owner, outcome.Result)).ConfigureAwait(false);
                if (!IsLockHeld(answer, out var expiresAtMs))
                {
                    return answer;
                }

                while (true)
                {
                    var remaining = time.GetElapsedTime(time.GetTimestamp(), deadline);
                    if (remaining <= TimeSpan.Zero)
                    {
                        return answer;
                    }

                    if (watch.Changed.IsCompleted)
                    {
                        watch.Dispose();
                        watch = changes.Watch(request.Name);
                        if (await HeldByAnotherAsync(context, request, node, options).ConfigureAwait(false) is not { } lease)
                        {
                            break;
                        }

                        expiresAtMs = lease.ExpiresAtMs;
                        continue;
                    }

                    var leaseLeft = TimeSpan.FromMilliseconds(expiresAtMs - time.GetUtcNow().ToUnixTimeMilliseconds());
                    if (leaseLeft <= TimeSpan.Zero || node.View.Role != RaftRole.Leader)
                    {
                        break;
                    }

                    // Returns when another node is known to lead, or after the pause; the watch may complete first.
                    using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
                    var pause = node.LeaderOtherThanAsync(options.Id, remaining < leaseLeft ? remaining : leaseLeft, stop.Token).AsTask();
                    await Task.WhenAny(watch.Changed, pause).ConfigureAwait(false);
                    await stop.CancelAsync().ConfigureAwait(false);
                    context.RequestAborted.ThrowIfCancellationRequested();
                }

                watch.Dispose();
                watch = changes.Watch(request.Name);
            }
        }
        finally
        {
            watch.Dispose();
        }
    }

    /// <summary>The lock as this node has applied it, if another owner holds it; null when it is free, ours, or unreadable (then trying decides).</summary>
    private static async Task<KvLock?> HeldByAnotherAsync(HttpContext context, ParsedRequest request, NodeLoop node, NodeOptions options)
    {
        try
        {
            var read = await node.GetLockAsync(request.Name, ReadConsistency.Stale, context.RequestAborted)
                .WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
            var seen = read.Value;
            return read.Served && seen.Held && !string.Equals(seen.Lock.Owner, request.Owner, StringComparison.Ordinal) ? seen.Lock : null;
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    private static async Task<IResult> RenewAsync(HttpContext context, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        var (request, body, invalid) = await ReadRequestAsync(context, options, needTtl: true).ConfigureAwait(false);
        if (invalid is not null)
        {
            return invalid;
        }

        return await routing.ServeAsync(context, node, body, 0, () =>
        {
            var command = KvCommandCodec.EncodeLock(KvCommandType.LockRenew, request.Name, request.Owner, request.TtlMs, request.Session);
            return KvApi.WriteAsync(context, node, options, command, request.Name, (_, outcome) =>
                outcome.Result.Status == KvApplyStatus.NotFound ? NotHeld(request.Name) : Granted(request.Name, request.Owner, outcome.Result));
        }).ConfigureAwait(false);
    }

    private static async Task<IResult> ReleaseAsync(HttpContext context, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        var (request, body, invalid) = await ReadRequestAsync(context, options, needTtl: false).ConfigureAwait(false);
        if (invalid is not null)
        {
            return invalid;
        }

        return await routing.ServeAsync(context, node, body, 0, () =>
        {
            var command = KvCommandCodec.EncodeLock(KvCommandType.LockRelease, request.Name, request.Owner, 0, request.Session);
            return KvApi.WriteAsync(context, node, options, command, request.Name, (_, outcome) =>
                outcome.Result.Status == KvApplyStatus.NotFound
                    ? NotHeld(request.Name)
                    : Results.Json(new LockReleasedResponse(request.Name, outcome.Result.FencingToken, outcome.Result.Index), ProtocolJsonContext.Wire.LockReleasedResponse));
        }).ConfigureAwait(false);
    }

    private static async Task<IResult> GetAsync(HttpContext context, string? consistency, NodeLoop node, NodeOptions options, LeaderRouting routing)
    {
        if (ApiResults.ReadName(context, ApiPaths.LocksPrefix, options.MaxKeyBytes, out var name) is { } invalid)
        {
            return invalid;
        }

        if (!KvApi.TryParseConsistency(consistency, out var level))
        {
            return KvApi.BadConsistency(consistency);
        }

        return level == ReadConsistency.Lease
            ? await routing.ServeAsync(context, node, null, 0, () => ReadHereAsync(context, name, level, node, options)).ConfigureAwait(false)
            : await ReadHereAsync(context, name, level, node, options).ConfigureAwait(false);
    }

    private static async Task<IResult> ReadHereAsync(HttpContext context, string name, ReadConsistency level, NodeLoop node, NodeOptions options)
    {
        ReadOutcome<LockOutcome> read;
        try
        {
            read = await node.GetLockAsync(name, level, context.RequestAborted).WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
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
        return outcome.Held
            ? Results.Json(new LockResponse(name, outcome.Lock.Owner, outcome.Lock.FencingToken, outcome.Lock.ExpiresAtMs) { Lease = outcome.Lease == 0 ? null : outcome.Lease }, ProtocolJsonContext.Wire.LockResponse)
            : NotHeld(name);
    }

    /// <summary>Checks the name, the session headers and the JSON body; on any problem answers 400 (or 413) and nothing is proposed.</summary>
    private static async Task<(ParsedRequest Request, byte[]? Body, IResult? Invalid)> ReadRequestAsync(HttpContext context, NodeOptions options, bool needTtl, bool leaseAllowed = false)
    {
        if (ApiResults.ReadName(context, ApiPaths.LocksPrefix, options.MaxKeyBytes, out var name) is { } badName)
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

        var what = leaseAllowed ? "{\"owner\": string, \"ttlMs\": integer} or {\"owner\": string, \"lease\": id}"
            : needTtl ? "{\"owner\": string, \"ttlMs\": integer}" : "{\"owner\": string}";
        var problem = LockRequestReader.TryRead(body, out var owner, out var ttlMs, out var lease);
        var refusal = problem switch
        {
            LockRequestProblem.NotJson => (ErrorCodes.InvalidJson, $"the body is not JSON; it must be {what}"),
            LockRequestProblem.NotAnObject => (ErrorCodes.InvalidJson, $"the body must be a JSON object: {what}"),
            LockRequestProblem.DuplicateField => (ErrorCodes.InvalidJson, $"the body names a field more than once; it must be {what}"),
            LockRequestProblem.OwnerNotAString => (ErrorCodes.InvalidOwner, $"owner must be a JSON string; the body must be {what}"),
            LockRequestProblem.TtlNotAnInteger => (ErrorCodes.InvalidTtl, $"ttlMs must be a JSON integer in [1, {TtlMsMax}], not a string or a fraction"),
            LockRequestProblem.LeaseNotAnInteger => (ErrorCodes.InvalidLease, "lease must be a lease id, a positive JSON integer"),
            _ => default((string, string)?),
        };
        if (refusal is var (code, detail))
        {
            return (default, null, ApiResults.Error(StatusCodes.Status400BadRequest, code, detail));
        }

        if (owner is not { Length: > 0 } || ApiResults.CheckKey(owner, KvCommandCodec.OwnerBytesMax) is not null)
        {
            return (default, null, ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidOwner,
                $"the body must be {what}; owner has 1 to {KvCommandCodec.OwnerBytesMax} bytes of UTF-8 without control characters"));
        }

        if (lease is not null && (!leaseAllowed || lease == 0 || ttlMs is not null))
        {
            return (default, null, ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidLease, !leaseAllowed
                ? "only an acquire names a lease: a lock bound to one is renewed by the lease's keep-alives"
                : lease == 0 ? "lease must be a lease id, a positive integer" : $"the body must be {what}: a lock bound to a lease has no ttlMs of its own"));
        }

        long ttl = 0;
        if (needTtl && lease is null)
        {
            if (ttlMs is not { } value || value is < 1 or > TtlMsMax)
            {
                return (default, null, ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidTtl, $"the body must be {what} with ttlMs in [1, {TtlMsMax}]"));
            }

            ttl = value;
        }

        return (new ParsedRequest(name, owner, ttl, session, lease ?? 0), body, null);
    }

    private static IResult Granted(string name, string owner, KvApplyResult result) =>
        Results.Json(new LockResponse(name, owner, result.FencingToken, result.ExpiresAtMs) { Lease = result.Lease == 0 ? null : result.Lease }, ProtocolJsonContext.Wire.LockResponse);

    private static IResult NotHeld(string name) =>
        ApiResults.Error(StatusCodes.Status404NotFound, ErrorCodes.LockNotHeld, $"nobody holds '{name}'");

    private static IResult TooLarge() =>
        ApiResults.Error(StatusCodes.Status413PayloadTooLarge, ErrorCodes.BodyTooLarge, $"a lock request has at most {BodyBytesMax} bytes");

    private static bool IsLockHeld(IResult answer, out long expiresAtMs)
    {
        if (answer is IStatusCodeHttpResult { StatusCode: StatusCodes.Status409Conflict }
            and IValueHttpResult { Value: ErrorBody { Error: ErrorCodes.LockHeld, ExpiresAtMs: { } expires } })
        {
            expiresAtMs = expires;
            return true;
        }

        expiresAtMs = 0;
        return false;
    }

    private readonly record struct ParsedRequest(string Name, string Owner, long TtlMs, KvSession Session, ulong Lease);
}
