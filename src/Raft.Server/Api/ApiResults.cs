using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Raft.KeyValue;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server.Api;

internal static class ApiResults
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static IResult Error(int status, string error, string detail) =>
        Json(status, new ErrorBody(error, detail));

    public static IResult Json(int status, ErrorBody body) =>
        Results.Json(body, ProtocolJsonContext.Wire.ErrorBody, statusCode: status);

    /// <summary>
    /// The key or lock name of this request: what follows <paramref name="prefix"/> in the request target as the
    /// client sent it, decoded by <see cref="ResourceName"/>'s rule. The route has matched already, on Kestrel's
    /// decoding of the path, which keeps <c>%2F</c> as three characters and turns <c>%252F</c> into the same three,
    /// so it cannot tell the two apart; the raw target can. Null when valid and the caller's token may touch it
    /// (<see cref="ApiAccess.CheckName"/>): every handler that acts on a name reads it here.
    /// </summary>
    public static IResult? ReadName(HttpContext context, string prefix, int maxBytes, out string name)
    {
        name = string.Empty;
        var path = RawPath(context);
        if (!path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            // Kestrel resolved . or .. segments (or escapes in the prefix) to reach this route.
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidKey, $"the path must start with {prefix} as written, and a name may not have . or .. segments");
        }

        var problem = ResourceName.TryUnescape(path.AsSpan(prefix.Length), plusIsSpace: false, checkSegments: true, out name);
        return NameProblem(problem, ErrorCodes.InvalidKey) ?? CheckKey(name, maxBytes)
            ?? ApiAccess.CheckName(context, name, prefix == ApiPaths.LocksPrefix ? "lock" : "key");
    }

    /// <summary>
    /// The listing prefix from the raw query string (<c>+</c> is a space there), checked like a key but allowed empty,
    /// and against the caller's token (<see cref="ApiAccess.CheckPrefix"/>).
    /// </summary>
    public static IResult? ReadPrefix(HttpContext context, int maxBytes, out string prefix)
    {
        var problem = ReadQueryName(context, "prefix", ErrorCodes.InvalidKey, out var read);
        prefix = read ?? string.Empty;
        return problem ?? CheckKey(prefix, maxBytes, allowEmpty: true) ?? ApiAccess.CheckPrefix(context, prefix);
    }

    /// <summary>
    /// The listing's <c>after</c> from the raw query string, read as the prefix is; null when absent. It must be a
    /// key (the last one of a page), and anything else about it is <c>400 invalid_after</c>, its length included.
    /// </summary>
    public static IResult? ReadAfter(HttpContext context, int maxBytes, out string? after)
    {
        if (ReadQueryName(context, "after", ErrorCodes.InvalidAfter, out after) is { } problem)
        {
            return problem;
        }

        return after is null || CheckKey(after, maxBytes) is null
            ? null
            : Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidAfter, $"after must be a key: not empty, no control characters, valid Unicode, at most {maxBytes} bytes of UTF-8");
    }

    // A name given as a query parameter, percent-decoded once (+ is a space there); null when the query lacks it.
    public static IResult? ReadQueryName(HttpContext context, string parameter, string invalidCode, out string? name)
    {
        name = null;
        var query = context.Request.QueryString.Value.AsSpan().TrimStart('?');
        foreach (var range in query.Split('&'))
        {
            var pair = query[range];
            var equals = pair.IndexOf('=');
            if (!(equals < 0 ? pair : pair[..equals]).SequenceEqual(parameter))
            {
                continue;
            }

            if (name is not null)
            {
                return Error(StatusCodes.Status400BadRequest, invalidCode, $"{parameter} is given more than once");
            }

            if (NameProblem(ResourceName.TryUnescape(equals < 0 ? default : pair[(equals + 1)..], plusIsSpace: true, checkSegments: false, out var decoded), invalidCode) is { } bad)
            {
                return bad;
            }

            name = decoded;
        }

        return null;
    }

    /// <summary>The path and query as the client sent them (an absolute-form target loses its scheme and authority).</summary>
    public static string RawTarget(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw))
        {
            return context.Request.Path.ToUriComponent() + context.Request.QueryString.ToUriComponent();
        }

        if (raw[0] == '/')
        {
            return raw;
        }

        var authority = raw.IndexOf("://", StringComparison.Ordinal);
        var path = authority < 0 ? -1 : raw.IndexOfAny(['/', '?'], authority + 3);
        return path < 0 ? "/" : raw[path] == '?' ? "/" + raw[path..] : raw[path..];
    }

    private static string RawPath(HttpContext context)
    {
        var target = RawTarget(context);
        var query = target.IndexOf('?', StringComparison.Ordinal);
        return query < 0 ? target : target[..query];
    }

    private static IResult? NameProblem(NameProblem problem, string code) => problem switch
    {
        Protocol.NameProblem.BadEscape => Error(StatusCodes.Status400BadRequest, code, "a % in a name must be followed by two hexadecimal digits"),
        Protocol.NameProblem.NotUtf8 => Error(StatusCodes.Status400BadRequest, code, "the name is not valid UTF-8 once its escapes are decoded"),
        Protocol.NameProblem.DotSegment => Error(StatusCodes.Status400BadRequest, code, "a name may not have . or .. segments: HTTP clients resolve them before sending"),
        _ => null,
    };

    /// <summary>
    /// Checks a key (or, with <paramref name="allowEmpty"/>, a prefix): non-empty, no control characters, valid
    /// UTF-16 (so valid UTF-8 on the wire), at most <paramref name="maxBytes"/> bytes of UTF-8. Null when valid.
    /// </summary>
    public static IResult? CheckKey(string? key, int maxBytes, bool allowEmpty = false) => KeyProblem(key, maxBytes, allowEmpty) switch
    {
        null => null,
        var (tooLong, detail) => tooLong
            ? Error(StatusCodes.Status414UriTooLong, ErrorCodes.KeyTooLong, detail)
            : Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidKey, detail),
    };

    /// <summary>What <see cref="CheckKey"/> finds wrong with a key, and whether that is its length; null when valid.</summary>
    public static (bool TooLong, string Detail)? KeyProblem(string? key, int maxBytes, bool allowEmpty = false)
    {
        if (string.IsNullOrEmpty(key))
        {
            return allowEmpty ? null : (false, "the key is empty");
        }

        foreach (var c in key)
        {
            if (char.IsControl(c))
            {
                return (false, "the key contains a control character");
            }
        }

        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(key);
        }
        catch (EncoderFallbackException)
        {
            return (false, "the key is not valid Unicode");
        }

        return bytes > maxBytes ? (true, $"the key has {bytes} bytes of UTF-8; at most {maxBytes} are allowed") : null;
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
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidSession, $"{ApiHeaders.ClientId} and {ApiHeaders.ClientSeq} come together, once each");
        }

        var id = ids[0]!;
        if (CheckKey(id, KvCommandCodec.ClientIdBytesMax) is not null)
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidSession, $"{ApiHeaders.ClientId} must be 1 to {KvCommandCodec.ClientIdBytesMax} bytes of UTF-8 without control characters");
        }

        if (!ulong.TryParse(seqs[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq) || seq == 0)
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidSession, $"{ApiHeaders.ClientSeq} must be an integer in [1, {ulong.MaxValue}]");
        }

        session = new KvSession(id, seq);
        return null;
    }

    /// <summary>
    /// Reads a lease id (a positive integer) from <paramref name="text"/>, where <paramref name="what"/> names it; null
    /// text is no lease (0). Null when valid or absent.
    /// </summary>
    public static IResult? ParseLease(string? text, string what, out ulong lease)
    {
        lease = 0;
        if (text is null)
        {
            return null;
        }

        if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out lease) || lease == 0)
        {
            lease = 0;
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidLease, $"{what} must be a lease id, a positive integer (got '{text}')");
        }

        return null;
    }

    /// <summary>409 <c>cluster_version_too_low</c> when the node has not applied <paramref name="version"/>, which <paramref name="what"/> needs; null otherwise.</summary>
    public static IResult? NeedsClusterVersion(NodeLoop node, int version, string what) => node.ClusterVersion >= version
        ? null
        : Error(StatusCodes.Status409Conflict, ErrorCodes.ClusterVersionTooLow,
            $"{what} need cluster version {version}; the cluster runs version {node.ClusterVersion} until every voter's server supports {version} (GET {ApiPaths.Cluster} on each shows supportsVersion)");

    /// <summary>Reads <c>If-Match: &lt;version&gt;</c> (quotes allowed; 0 means "must not exist"). Null when valid or absent.</summary>
    public static IResult? ParseIfMatch(HttpRequest request, out ulong? expectedVersion)
    {
        expectedVersion = null;
        if (!request.Headers.TryGetValue(ApiHeaders.IfMatch, out var values))
        {
            return null;
        }

        var text = values.Count == 1 ? values[0].AsSpan().Trim().Trim('"') : default;
        if (values.Count != 1 || !ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidIfMatch, "If-Match must be one version number (0: the key must not exist)");
        }

        expectedVersion = version;
        return null;
    }

    /// <summary>The answer for an applied command the state machine refused, or null when it succeeded.</summary>
    public static IResult? Refused(KvApplyResult result, string name) => result.Status switch
    {
        KvApplyStatus.PreconditionFailed => Json(StatusCodes.Status412PreconditionFailed,
            new ErrorBody(ErrorCodes.PreconditionFailed, $"'{name}' is at version {result.Version}; nothing was written") { CurrentVersion = result.Version }),
        KvApplyStatus.StaleSequence => Error(StatusCodes.Status409Conflict, ErrorCodes.StaleSequence,
            $"this client already applied sequence {result.Version}; a lower sequence is never applied"),
        KvApplyStatus.LockHeld => Json(StatusCodes.Status409Conflict,
            new ErrorBody(ErrorCodes.LockHeld, $"'{name}' is held by '{result.Holder}'") { Holder = result.Holder ?? string.Empty, ExpiresAtMs = result.ExpiresAtMs }),
        KvApplyStatus.LeaseNotFound => Error(StatusCodes.Status404NotFound, ErrorCodes.LeaseNotFound,
            $"lease {result.Lease} does not exist or its time ran out; nothing was written"),
        KvApplyStatus.TooManyLeases => Error(StatusCodes.Status409Conflict, ErrorCodes.TooManyLeases,
            "the cluster holds as many leases as it allows (Node:LeasesMax); revoke one or let one expire"),
        KvApplyStatus.Invalid =>
            // Only a bug could get here: the command was encoded by this process from checked input.
            Error(StatusCodes.Status500InternalServerError, ErrorCodes.InvalidCommand, $"entry {result.Index} was refused by the state machine"),
        _ => null,
    };

    /// <summary>
    /// The answer for a write the node did not apply. <c>NotLeader</c>, <c>NoLeader</c> and <c>HandedOver</c> become
    /// <see cref="LeaderMoved"/>, which the leader path (<see cref="LeaderRouting.ServeAsync"/>) takes as "serve this
    /// elsewhere"; anywhere else it answers 503 itself.
    /// </summary>
    public static IResult FromWriteFailure(HttpContext context, in WriteOutcome<KvApplyResult> outcome)
    {
        switch (outcome.Status)
        {
            case WriteStatus.NotLeader:
                return new LeaderMoved(outcome.LeaderId);
            case WriteStatus.NoLeader:
                return new LeaderMoved(0);
            case WriteStatus.HandedOver:
                return new LeaderMoved(outcome.LeaderId) { HandOver = true };
            case WriteStatus.TimedOut:
                return Timeout("the write");
        }

        context.Response.Headers.RetryAfter = "1";
        return outcome.Status switch
        {
            WriteStatus.LeadershipLost => Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.LeadershipLost,
                "leadership was lost before the write was applied and its outcome is not known yet; it may still be committed"),
            WriteStatus.NotApplied => Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.NotApplied,
                $"entry {outcome.Index} went to term {outcome.Term}'s leader: the write was not applied"),
            WriteStatus.Overloaded => Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.Overloaded,
                "too much is waiting to be committed or handed over; nothing was written; retry shortly"),
            WriteStatus.DiskFull => DiskFull(),
            _ => Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.ShuttingDown,
                "the node is stopping; a write it had proposed may or may not be applied"),
        };
    }

    /// <summary>The answer for a read the node could not serve; a lease read on a follower becomes <see cref="LeaderMoved"/>.</summary>
    public static IResult FromReadFailure(HttpContext context, ReadFailure failure, int leaderId)
    {
        switch (failure)
        {
            case ReadFailure.NotLeader:
                return new LeaderMoved(leaderId);
            case ReadFailure.NoLeader:
                return new LeaderMoved(0);
            case ReadFailure.TimedOut:
                return Timeout("the read");
        }

        context.Response.Headers.RetryAfter = "1";
        return failure switch
        {
            ReadFailure.NotConfirmed => Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.ReadFailed,
                "the leader could not confirm the read (leadership changed or it did not answer); retry"),
            ReadFailure.Overloaded => Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.Overloaded, "too many reads are waiting; retry shortly"),
            _ => Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.ShuttingDown, "the node is stopping"),
        };
    }

    /// <summary>503 <c>disk_full</c>: this node cannot append to its log.</summary>
    public static IResult DiskFull() => Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.DiskFull,
        "this node's disk is full: nothing was written; it resumes by itself once space is freed in its data directory, and another node takes over if it led");

    public static IResult Timeout(string what) =>
        Error(StatusCodes.Status504GatewayTimeout, ErrorCodes.Timeout, $"{what} did not finish within Node:RequestTimeoutMs; its outcome is unknown");
}

/// <summary>
/// This node could not serve a leader-only request because it does not lead (any more): <see cref="LeaderId"/>
/// leads, or 0 when none is known. The leader path routes the request on; executed as a result (outside that
/// path), it answers <c>503 not_leader</c> naming the leader, or <c>503 no_leader</c>.
/// </summary>
internal sealed class LeaderMoved(int leaderId) : IResult
{
    public int LeaderId { get; } = leaderId;

    /// <summary>This node leads, and is handing leadership to <see cref="LeaderId"/>: the write goes there (<see cref="WriteStatus.HandedOver"/>).</summary>
    public bool HandOver { get; init; }

    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        if (LeaderId == 0)
        {
            return LeaderRouting.NoLeader(httpContext).ExecuteAsync(httpContext);
        }

        httpContext.Response.Headers[ApiHeaders.Leader] = LeaderId.ToString(CultureInfo.InvariantCulture);
        return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.NotLeader, $"node {LeaderId} is the leader").ExecuteAsync(httpContext);
    }
}
