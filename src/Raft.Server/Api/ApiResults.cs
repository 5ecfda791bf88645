using System.Text;
using Microsoft.AspNetCore.Http;

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

    /// <summary>Maps a failure of the node loop to an answer; a leader change routes the request like a follower would.</summary>
    public static async Task<IResult> FromNodeError(HttpContext context, NodeRequestException error, LeaderRouting routing, byte[]? body)
    {
        switch (error.Code)
        {
            case NodeErrorCode.NotLeader:
                return await routing.RouteAsync(context, error.LeaderId, body).ConfigureAwait(false);
            case NodeErrorCode.NoLeader:
                return LeaderRouting.NoLeader(context);
            default:
                context.Response.Headers.RetryAfter = "1";
                return Error(StatusCodes.Status503ServiceUnavailable, CodeName(error.Code), error.Message);
        }
    }

    public static IResult Timeout(string what) =>
        Error(StatusCodes.Status504GatewayTimeout, "timeout", $"{what} did not finish within Node:RequestTimeoutMs; its outcome is unknown");

    private static string CodeName(NodeErrorCode code) => code switch
    {
        NodeErrorCode.LeadershipLost => "leadership_lost",
        NodeErrorCode.Overwritten => "not_applied",
        NodeErrorCode.Overloaded => "overloaded",
        NodeErrorCode.TransferInProgress => "transfer_in_progress",
        NodeErrorCode.ReadFailed => "read_failed",
        NodeErrorCode.ShuttingDown => "shutting_down",
        NodeErrorCode.NotLeader => "not_leader",
        _ => "no_leader",
    };
}
