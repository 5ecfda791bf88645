using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>
/// Turns the answers the framework would give without a body into the API's JSON errors: no route (404), a route
/// without this method (405, with <c>Allow</c>), a body the HTTP layer cannot read (400, 408, 413), headers over the
/// limit (431), and a failure in a handler (500).
/// </summary>
/// <remarks>
/// Kestrel answers some requests before any of this runs, with an empty body: a malformed request line or header,
/// a missing <c>Host</c>, a request line over its limit (414), headers over its own limit (431), headers that came
/// too slowly (408). Its limits are set above the API's (see <see cref="KestrelHeaderBytesMax"/>) so that requests
/// the API refuses still reach it and are refused in JSON.
/// </remarks>
internal static class ErrorAnswers
{
    /// <summary>The headers a request may carry, in total; beyond this the API answers 431 in JSON.</summary>
    public const int HeaderBytesMax = 32 * 1024;

    /// <summary>Kestrel's own limit, which it enforces with an empty 431 before the API sees the request.</summary>
    public const int KestrelHeaderBytesMax = 2 * HeaderBytesMax;

    /// <summary>Checks the headers' size, then runs the request; a failure to read the body, or a bug, is answered in JSON.</summary>
    public static async Task CatchAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (HeaderBytes(context.Request) > HeaderBytesMax)
        {
            await WriteAsync(context, StatusCodes.Status431RequestHeaderFieldsTooLarge, ErrorCodes.HeadersTooLarge,
                $"the request's headers exceed {HeaderBytesMax / 1024} KiB").ConfigureAwait(false);
            return;
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            // Thrown while a handler reads the body: a malformed chunk, a body that came too slowly or is too large.
            var (code, detail) = ex.StatusCode switch
            {
                StatusCodes.Status408RequestTimeout => (ErrorCodes.RequestTimeout, "the request's body came too slowly"),
                StatusCodes.Status413PayloadTooLarge => (ErrorCodes.BodyTooLarge, "the request's body is larger than the server takes"),
                StatusCodes.Status431RequestHeaderFieldsTooLarge => (ErrorCodes.HeadersTooLarge, "the request's headers are larger than the server takes"),
                _ => (ErrorCodes.BadRequest, "the request could not be read as HTTP (its body's framing is malformed)"),
            };
            await WriteAsync(context, ex.StatusCode, code, detail).ConfigureAwait(false);
        }
        catch (Exception ex) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested && ex is not OperationCanceledException)
        {
            NodeLog.RequestFailed(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Raft.Server.Api"), ex, context.Request.Method, context.Request.Path.ToString());
            await WriteAsync(context, StatusCodes.Status500InternalServerError, ErrorCodes.InternalError,
                "the server failed while answering; the outcome of a write is unknown").ConfigureAwait(false);
        }
    }

    /// <summary>For <c>UseStatusCodePages</c>: an answer the framework left without a body gets the API's JSON error.</summary>
    public static Task StatusCodePageAsync(StatusCodeContext status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var context = status.HttpContext;
        var (code, detail) = context.Response.StatusCode switch
        {
            StatusCodes.Status404NotFound => (ErrorCodes.NoRoute, $"no route matches {context.Request.Path}; see the HTTP API in README.md"),
            StatusCodes.Status405MethodNotAllowed => (ErrorCodes.MethodNotAllowed,
                $"{context.Request.Method} is not allowed on {context.Request.Path}; allowed: {context.Response.Headers.Allow}"),
            StatusCodes.Status400BadRequest => (ErrorCodes.BadRequest, "the request could not be read"),
            _ => (ErrorCodes.InternalError, $"the server answered {context.Response.StatusCode} without saying why"),
        };
        return WriteAsync(context, context.Response.StatusCode, code, detail);
    }

    private static Task WriteAsync(HttpContext context, int status, string code, string detail)
    {
        context.Response.StatusCode = status;
        return ApiResults.Error(status, code, detail).ExecuteAsync(context);
    }

    // About as the headers stand on the wire: name, value, and the ": " and CRLF around them.
    private static long HeaderBytes(HttpRequest request)
    {
        long bytes = 0;
        foreach (var (name, values) in request.Headers)
        {
            foreach (var value in values)
            {
                bytes += name.Length + (value?.Length ?? 0) + 4;
            }
        }

        return bytes;
    }
}
