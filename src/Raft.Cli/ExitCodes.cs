using System.Net;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Cli;

/// <summary>raftctl's exit codes, as README.md documents them.</summary>
internal static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;

    /// <summary>The cluster refused (a failed compare, a held lock, a missing token) or the thing asked for does not exist.</summary>
    public const int Refused = 1;

    /// <summary>The command line is wrong: an unknown command or option, a missing or malformed argument.</summary>
    public const int Usage = 2;

    /// <summary>No node answered, or none could serve the request, within the retry budget (<c>--timeout</c>).</summary>
    public const int Unavailable = 3;

    /// <summary>The exit code for an answer the client turned into <paramref name="error"/>.</summary>
    public static int For(RaftKvException error) => error switch
    {
        NoLeaderException => Unavailable,
        { ErrorCode: ErrorCodes.NodeUnreachable } => Unavailable,
        { StatusCode: null } => Unavailable,
        { StatusCode: { } status } when (int)status >= 500 || status == HttpStatusCode.TooManyRequests => Unavailable,
        _ => Refused,
    };
}

/// <summary>A command line that names something wrongly (a bad endpoint, an unreadable file, a malformed transaction); exit 2.</summary>
internal sealed class UsageException : Exception
{
    public UsageException()
    {
    }

    public UsageException(string message)
        : base(message)
    {
    }

    public UsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A refusal raftctl itself makes, not the cluster (a damaged backup, a data directory in use); exit 1.</summary>
internal sealed class RefusedException : Exception
{
    public RefusedException()
    {
    }

    public RefusedException(string message)
        : base(message)
    {
    }

    public RefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public RefusedException(string code, string message, Exception innerException)
        : base(message, innerException)
    {
        Code = code;
    }

    /// <summary>The error code printed before the message, in the API's style (<c>snapshot_corrupted</c>).</summary>
    public string Code { get; } = "refused";
}
