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
    /// <summary>Creates an exception with a default message.</summary>
    public NoLeaderException()
        : base("no leader answered within the retry budget")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public NoLeaderException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the last failure seen.</summary>
    public NoLeaderException(string message, Exception innerException)
        : base(message, innerException)
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

    /// <summary>How many requests were sent before giving up.</summary>
    public int Attempts { get; }
}

/// <summary>A compare-and-set or compare-and-delete found a version other than the expected one; nothing was written.</summary>
public sealed class PreconditionFailedException : RaftKvException
{
    /// <summary>Creates an exception with a default message.</summary>
    public PreconditionFailedException()
        : base("the key's version did not match")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public PreconditionFailedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public PreconditionFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception from the server's <c>412</c> answer.</summary>
    /// <param name="errorCode">The server's error code.</param>
    /// <param name="detail">The server's explanation.</param>
    /// <param name="currentVersion">The key's version when the write was applied; 0 when it did not exist.</param>
    public PreconditionFailedException(string errorCode, string detail, ulong currentVersion)
        : base(HttpStatusCode.PreconditionFailed, errorCode, detail)
    {
        CurrentVersion = currentVersion;
    }

    /// <summary>The key's version the write was checked against; 0 means the key did not exist.</summary>
    public ulong CurrentVersion { get; }
}

/// <summary>Another owner holds the lock.</summary>
public sealed class LockHeldException : RaftKvException
{
    /// <summary>Creates an exception with a default message.</summary>
    public LockHeldException()
        : base("the lock is held by another owner")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public LockHeldException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public LockHeldException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception from the server's <c>409</c> answer.</summary>
    /// <param name="errorCode">The server's error code.</param>
    /// <param name="detail">The server's explanation.</param>
    /// <param name="holder">The owner holding the lock, if the server named it.</param>
    /// <param name="expiresAtMs">When the holder's lease lapses, in Unix milliseconds of the cluster's clock.</param>
    public LockHeldException(string errorCode, string detail, string? holder, long expiresAtMs)
        : base(HttpStatusCode.Conflict, errorCode, detail)
    {
        Holder = holder;
        ExpiresAtMs = expiresAtMs;
    }

    /// <summary>The owner holding the lock, if the server named it.</summary>
    public string? Holder { get; }

    /// <summary>When the holder's lease lapses unless renewed, in Unix milliseconds of the cluster's clock.</summary>
    public long ExpiresAtMs { get; }

    /// <summary><see cref="ExpiresAtMs"/> as a point in time.</summary>
    public DateTimeOffset ExpiresAt => DateTimeOffset.FromUnixTimeMilliseconds(ExpiresAtMs);
}

/// <summary>
/// <c>401</c>: the cluster has API tokens and the request carried none, or one it does not know (see
/// <see cref="RaftKvClientOptions.BearerToken"/>). Nothing was done.
/// </summary>
public sealed class UnauthenticatedException : RaftKvException
{
    /// <summary>Creates an exception with a default message.</summary>
    public UnauthenticatedException()
        : base("the cluster needs an API token this client did not give")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public UnauthenticatedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public UnauthenticatedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception from the server's <c>401</c> answer.</summary>
    /// <param name="errorCode">The server's error code (<c>unauthenticated</c>).</param>
    /// <param name="detail">The server's explanation.</param>
    public UnauthenticatedException(string errorCode, string detail)
        : base(HttpStatusCode.Unauthorized, errorCode, detail)
    {
    }
}

/// <summary>
/// <c>403</c>: the token's role does not allow the request (<c>forbidden</c>), or it names a key, lock or prefix
/// outside the token's prefixes (<c>out_of_scope</c>). Nothing was read or written.
/// </summary>
public sealed class PermissionDeniedException : RaftKvException
{
    /// <summary>Creates an exception with a default message.</summary>
    public PermissionDeniedException()
        : base("the API token does not allow this request")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public PermissionDeniedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public PermissionDeniedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception from the server's <c>403</c> answer.</summary>
    /// <param name="errorCode">The server's error code (<c>forbidden</c> or <c>out_of_scope</c>).</param>
    /// <param name="detail">The server's explanation.</param>
    public PermissionDeniedException(string errorCode, string detail)
        : base(HttpStatusCode.Forbidden, errorCode, detail)
    {
    }
}

/// <summary>
/// <c>429 rate_limited</c>: the node's rate limit refused the request, and its <c>Retry-After</c> was longer than
/// what was left of <see cref="RaftKvClientOptions.RetryDeadline"/>. Nothing was done.
/// </summary>
public sealed class RateLimitedException : RaftKvException
{
    /// <summary>Creates an exception with a default message.</summary>
    public RateLimitedException()
        : base("the cluster's rate limit refused the request")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public RateLimitedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public RateLimitedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception from the server's <c>429</c> answer.</summary>
    /// <param name="detail">The server's explanation.</param>
    /// <param name="retryAfter">How long the server asked the client to wait.</param>
    public RateLimitedException(string detail, TimeSpan retryAfter)
        : base(HttpStatusCode.TooManyRequests, Raft.Protocol.ErrorCodes.RateLimited, detail)
    {
        RetryAfter = retryAfter;
    }

    /// <summary>How long the server asked the client to wait before it tries again.</summary>
    public TimeSpan RetryAfter { get; }
}
