using System.Net;

namespace Raft.Client;

/// <summary>An answer from the cluster that is not a success, or a failure to get one.</summary>
public class RaftKvException : Exception
{
    /// <summary>Creates an exception with a message only.</summary>
    public RaftKvException()
        : this("the key-value store refused the request")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public RaftKvException(string message)
        : base(message)
    {
        ErrorCode = "unknown";
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public RaftKvException(string message, Exception innerException)
        : base(message, innerException)
    {
        ErrorCode = "unknown";
    }

    /// <summary>Creates an exception for a server's error answer.</summary>
    /// <param name="statusCode">The HTTP status, or <see langword="null"/> when no answer arrived.</param>
    /// <param name="errorCode">The server's <c>error</c> code, such as <c>invalid_key</c>.</param>
    /// <param name="detail">The server's <c>detail</c> sentence.</param>
    /// <param name="innerException">The cause, if any.</param>
    public RaftKvException(HttpStatusCode? statusCode, string errorCode, string detail, Exception? innerException = null)
        : base($"{errorCode}: {detail}", innerException)
    {
        StatusCode = statusCode;
        ErrorCode = errorCode;
        Detail = detail;
    }

    /// <summary>The HTTP status of the answer, or <see langword="null"/> when none arrived.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>The server's machine-readable error code (the <c>error</c> field of its JSON answer).</summary>
    public string ErrorCode { get; }

    /// <summary>The server's explanation (the <c>detail</c> field), or the message when there was none.</summary>
    public string? Detail { get; }
}

/// <summary>
/// No leader answered within the retry budget: the cluster was unreachable, electing, or lost its leader repeatedly.
/// The outcome of a write that ends this way is unknown; it may have been applied.
/// </summary>
public sealed class NoLeaderException : RaftKvException
{
    /// <summary>Creates an exception with a message, for a caller that found no leader by other means (or a test double).</summary>
    /// <param name="message">What was tried.</param>
    public NoLeaderException(string message)
        : base(null, Raft.Protocol.ErrorCodes.NoLeader, message)
    {
    }

    /// <summary>Creates an exception naming the last answer seen.</summary>
    /// <param name="attempts">How many requests were sent.</param>
    /// <param name="lastStatus">The last HTTP status received, if any.</param>
    /// <param name="lastErrorCode">The last error code received, or a description of the last transport failure.</param>
    /// <param name="innerException">The last transport failure, if any.</param>
    public NoLeaderException(int attempts, HttpStatusCode? lastStatus, string lastErrorCode, Exception? innerException)
        : base(lastStatus, Raft.Protocol.ErrorCodes.NoLeader, $"no leader answered after {attempts} attempts; last: {lastErrorCode}", innerException)
    {
        Attempts = attempts;
    }

    /// <summary>How many requests were sent before giving up (0 when the exception was made from a message).</summary>
    public int Attempts { get; }
}

// The refusals below carry the server's answer and nothing of their own beyond a field or two: each is its status
// and code with a type to catch, so each has only the constructor the client calls (tests and test doubles call it
// too).

/// <summary><c>412</c>: a compare-and-set or compare-and-delete found a version other than the expected one; nothing was written.</summary>
/// <param name="errorCode">The server's error code.</param>
/// <param name="detail">The server's explanation.</param>
/// <param name="currentVersion">The key's version when the write was applied; 0 when it did not exist.</param>
public sealed class PreconditionFailedException(string errorCode, string detail, ulong currentVersion)
    : RaftKvException(HttpStatusCode.PreconditionFailed, errorCode, detail)
{
    /// <summary>The key's version the write was checked against; 0 means the key did not exist.</summary>
    public ulong CurrentVersion { get; } = currentVersion;
}

/// <summary><c>409 lock_held</c>: another owner holds the lock.</summary>
/// <param name="errorCode">The server's error code.</param>
/// <param name="detail">The server's explanation.</param>
/// <param name="holder">The owner holding the lock, if the server named it.</param>
/// <param name="expiresAtMs">When the holder's lease lapses, in Unix milliseconds of the cluster's clock.</param>
public sealed class LockHeldException(string errorCode, string detail, string? holder, long expiresAtMs)
    : RaftKvException(HttpStatusCode.Conflict, errorCode, detail)
{
    /// <summary>The owner holding the lock, if the server named it.</summary>
    public string? Holder { get; } = holder;

    /// <summary>When the holder's lease lapses unless renewed, in Unix milliseconds of the cluster's clock.</summary>
    public long ExpiresAtMs { get; } = expiresAtMs;

    /// <summary><see cref="ExpiresAtMs"/> as a point in time.</summary>
    public DateTimeOffset ExpiresAt => DateTimeOffset.FromUnixTimeMilliseconds(ExpiresAtMs);
}

/// <summary>
/// <c>401</c>: the cluster has API tokens and the request carried none, or one it does not know (see
/// <see cref="RaftKvClientOptions.BearerToken"/>). Nothing was done.
/// </summary>
/// <param name="errorCode">The server's error code (<c>unauthenticated</c>).</param>
/// <param name="detail">The server's explanation.</param>
public sealed class UnauthenticatedException(string errorCode, string detail)
    : RaftKvException(HttpStatusCode.Unauthorized, errorCode, detail);

/// <summary>
/// <c>403</c>: the token's role does not allow the request (<c>forbidden</c>), or it names a key, lock or prefix
/// outside the token's prefixes (<c>out_of_scope</c>). Nothing was read or written.
/// </summary>
/// <param name="errorCode">The server's error code (<c>forbidden</c> or <c>out_of_scope</c>).</param>
/// <param name="detail">The server's explanation.</param>
public sealed class PermissionDeniedException(string errorCode, string detail)
    : RaftKvException(HttpStatusCode.Forbidden, errorCode, detail);

/// <summary>
/// <c>429 rate_limited</c>: the node's rate limit refused the request, and its <c>Retry-After</c> was longer than
/// what was left of <see cref="RaftKvClientOptions.RetryDeadline"/>. Nothing was done.
/// </summary>
/// <param name="detail">The server's explanation.</param>
/// <param name="retryAfter">How long the server asked the client to wait.</param>
public sealed class RateLimitedException(string detail, TimeSpan retryAfter)
    : RaftKvException(HttpStatusCode.TooManyRequests, Raft.Protocol.ErrorCodes.RateLimited, detail)
{
    /// <summary>How long the server asked the client to wait before it tries again.</summary>
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary><c>404 lease_not_found</c>: the lease named does not exist or its time ran out; nothing was written.</summary>
/// <param name="detail">The server's explanation.</param>
public sealed class LeaseNotFoundException(string detail)
    : RaftKvException(HttpStatusCode.NotFound, Raft.Protocol.ErrorCodes.LeaseNotFound, detail);
