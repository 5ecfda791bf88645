using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Server.Api;

internal static class ApiResults
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static IResult Error(int status, string error, string detail) =>
        Results.Json(new ErrorBody(error, detail), ApiJsonContext.Default.ErrorBody, statusCode: status);

    /// <summary>
    /// Checks a key (or, with <paramref name="allowEmpty"/>, a prefix): non-empty, no control characters, valid
    /// UTF-16 (so valid UTF-8 on the wire), at most <paramref name="maxBytes"/> bytes of UTF-8. Null when valid.
    /// </summary>
    public static IResult? CheckKey(string? key, int maxBytes, bool allowEmpty = false)
    {
        if (string.IsNullOrEmpty(key))
        {
            return allowEmpty ? null : Error(StatusCodes.Status400BadRequest, "invalid_key", "the key is empty");
        }

        foreach (var c in key)
        {
            if (char.IsControl(c))
            {
                return Error(StatusCodes.Status400BadRequest, "invalid_key", "the key contains a control character");
            }
        }

        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(key);
        }
        catch (EncoderFallbackException)
        {
            return Error(StatusCodes.Status400BadRequest, "invalid_key", "the key is not valid Unicode");
        }

        return bytes > maxBytes
            ? Error(StatusCodes.Status414UriTooLong, "key_too_long", $"the key has {bytes} bytes of UTF-8; at most {maxBytes} are allowed")
            : null;
    }

    /// <summary>
    /// Reads <c>X-Client-Id</c> and <c>X-Client-Seq</c>: both or neither; an id of 1 to 128 bytes of UTF-8 without
    /// control characters and a sequence in [1, 2^64). Null when valid (<paramref name="session"/> empty without them).
    /// </summary>
    public static IResult? ParseSession(HttpRequest request, out KvSession session)
    {
        session = default;
        var hasId = request.Headers.TryGetValue(ApiHeaders.ClientId, out var ids);
        var hasSeq = request.Headers.TryGetValue(ApiHeaders.ClientSeq, out var seqs);
        if (!hasId && !hasSeq)
        {
            return null;
        }

        if (!hasId || !hasSeq || ids.Count != 1 || seqs.Count != 1)
        {
            return Error(StatusCodes.Status400BadRequest, "invalid_session", $"{ApiHeaders.ClientId} and {ApiHeaders.ClientSeq} come together, once each");
        }

        var id = ids[0]!;
        if (CheckKey(id, KvCommandCodec.ClientIdBytesMax) is not null)
        {
            return Error(StatusCodes.Status400BadRequest, "invalid_session", $"{ApiHeaders.ClientId} must be 1 to {KvCommandCodec.ClientIdBytesMax} bytes of UTF-8 without control characters");
        }

        if (!ulong.TryParse(seqs[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq) || seq == 0)
        {
            return Error(StatusCodes.Status400BadRequest, "invalid_session", $"{ApiHeaders.ClientSeq} must be an integer in [1, {ulong.MaxValue}]");
        }

        session = new KvSession(id, seq);
        return null;
    }

    /// <summary>Reads <c>If-Match: &lt;version&gt;</c> (quotes allowed; 0 means "must not exist"). Null when valid or absent.</summary>
    public static IResult? ParseIfMatch(HttpRequest request, out ulong? expectedVersion)
    {
        expectedVersion = null;
        if (!request.Headers.TryGetValue("If-Match", out var values))
        {
            return null;
        }

        var text = values.Count == 1 ? values[0].AsSpan().Trim().Trim('"') : default;
        if (values.Count != 1 || !ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            return Error(StatusCodes.Status400BadRequest, "invalid_if_match", "If-Match must be one version number (0: the key must not exist)");
        }

        expectedVersion = version;
        return null;
    }

    /// <summary>The answer for an applied command the state machine refused, or null when it succeeded.</summary>
    public static IResult? Refused(KvApplyResult result, string name) => result.Status switch
    {
        KvApplyStatus.PreconditionFailed => Results.Json(
            new PreconditionFailedBody("precondition_failed", $"'{name}' is at version {result.Version}; nothing was written", result.Version),
            ApiJsonContext.Default.PreconditionFailedBody, statusCode: StatusCodes.Status412PreconditionFailed),
        KvApplyStatus.StaleSequence => Error(StatusCodes.Status409Conflict, "stale_sequence",
            $"this client already applied sequence {result.Version}; a lower sequence is never applied"),
        KvApplyStatus.LockHeld => Results.Json(
            new LockHeldBody("lock_held", $"'{name}' is held by '{result.Holder}'", result.Holder ?? string.Empty, result.ExpiresAtMs),
            ApiJsonContext.Default.LockHeldBody, statusCode: StatusCodes.Status409Conflict),
        KvApplyStatus.Invalid =>
            // Only a bug could get here: the command was encoded by this process from checked input.
            Error(StatusCodes.Status500InternalServerError, "invalid_command", $"entry {result.Index} was refused by the state machine"),
        _ => null,
    };

    /// <summary>The answer for a write the node did not apply; a write this node cannot serve is routed as a follower would.</summary>
    public static async Task<IResult> FromWriteFailure(HttpContext context, WriteOutcome<KvApplyResult> outcome, LeaderRouting routing, byte[]? body)
    {
        switch (outcome.Status)
        {
            case WriteStatus.NotLeader:
                return await routing.RouteAsync(context, outcome.LeaderId, body).ConfigureAwait(false);
            case WriteStatus.NoLeader:
                return LeaderRouting.NoLeader(context);
            case WriteStatus.TimedOut:
                return Timeout("the write");
            default:
                context.Response.Headers.RetryAfter = "1";
                return outcome.Status switch
                {
                    WriteStatus.LeadershipLost => Error(StatusCodes.Status503ServiceUnavailable, "leadership_lost",
                        "leadership was lost before the write was applied and its outcome is not known yet; it may still be committed"),
                    WriteStatus.NotApplied => Error(StatusCodes.Status503ServiceUnavailable, "not_applied",
                        $"entry {outcome.Index} went to term {outcome.Term}'s leader: the write was not applied"),
                    WriteStatus.Overloaded => Error(StatusCodes.Status503ServiceUnavailable, "overloaded", "too much is waiting to be committed; nothing was written; retry shortly"),
                    _ => Error(StatusCodes.Status503ServiceUnavailable, "shutting_down", "the node is stopping; the write's outcome is unknown if it had been proposed"),
                };
        }
    }

    /// <summary>The answer for a read the node could not serve; a lease read on a follower is routed to the leader.</summary>
    public static async Task<IResult> FromReadFailure(HttpContext context, ReadFailure failure, int leaderId, LeaderRouting routing)
    {
        switch (failure)
        {
            case ReadFailure.NotLeader:
                return await routing.RouteAsync(context, leaderId, null).ConfigureAwait(false);
            case ReadFailure.NoLeader:
                return LeaderRouting.NoLeader(context);
            case ReadFailure.TimedOut:
                return Timeout("the read");
            default:
                context.Response.Headers.RetryAfter = "1";
                return failure switch
                {
                    ReadFailure.NotConfirmed => Error(StatusCodes.Status503ServiceUnavailable, "read_failed", "the leader could not confirm the read (leadership changed or it did not answer); retry"),
                    ReadFailure.Overloaded => Error(StatusCodes.Status503ServiceUnavailable, "overloaded", "too many reads are waiting; retry shortly"),
                    _ => Error(StatusCodes.Status503ServiceUnavailable, "shutting_down", "the node is stopping"),
                };
        }
    }

    public static IResult Timeout(string what) =>
        Error(StatusCodes.Status504GatewayTimeout, "timeout", $"{what} did not finish within Node:RequestTimeoutMs; its outcome is unknown");
}
