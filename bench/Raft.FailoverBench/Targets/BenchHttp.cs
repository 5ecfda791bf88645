using System.Net;
using System.Net.Sockets;

namespace Raft.FailoverBench.Targets;

/// <summary>The one HTTP client of a run, and the translation of transport failures into <see cref="ErrorKinds"/>.</summary>
internal static class BenchHttp
{
    /// <summary>
    /// A client with at least <paramref name="connectionsPerServer"/> connections per node and no timeout of its
    /// own: every request carries its own deadline. With <paramref name="authorities"/>, HTTPS servers are trusted by
    /// those instead of the system's roots.
    /// </summary>
    public static HttpClient CreateClient(int connectionsPerServer, System.Security.Cryptography.X509Certificates.X509Certificate2Collection? authorities = null)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = Math.Max(connectionsPerServer, 8),
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        if (authorities is not null)
        {
            Raft.Protocol.HttpsTrust.TrustOnly(handler, authorities);
        }

        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>
    /// Sends the request with a deadline of <paramref name="timeout"/> and reads the whole body. A failure comes back
    /// as its kind; only cancellation of <paramref name="cancellationToken"/> throws.
    /// </summary>
    public static async Task<HttpAnswer> SendAsync(HttpClient http, HttpRequestMessage request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(request);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(deadline.Token).ConfigureAwait(false);
            return new HttpAnswer(null, response.StatusCode, response.Headers, body);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return HttpAnswer.Failed(ErrorKinds.Timeout);
        }
        catch (HttpRequestException ex)
        {
            return HttpAnswer.Failed(Classify(ex));
        }
        catch (SocketException ex)
        {
            // The handler lets a few socket errors out unwrapped: a connection reset between its connect and its
            // reading the remote address (ENOTCONN, seen when a node is killed at that moment).
            return HttpAnswer.Failed(Classify(ex));
        }
        catch (IOException)
        {
            return HttpAnswer.Failed(ErrorKinds.Reset);
        }
    }

    /// <summary>
    /// Sends a request whose answer is a stream and returns once its headers arrived, within <paramref name="timeout"/>
    /// (the body may take as long as it likes): the response, which the caller owns, when the status is 200; else
    /// the kind of failure. Only cancellation of <paramref name="cancellationToken"/> throws.
    /// </summary>
    public static async Task<(string? Error, HttpResponseMessage? Response)> OpenStreamAsync(
        HttpClient http, HttpRequestMessage request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(request);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return (null, response);
            }

            response.Dispose();
            return (ErrorKinds.Status((int)response.StatusCode), null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (ErrorKinds.Timeout, null);
        }
        catch (HttpRequestException ex)
        {
            return (Classify(ex), null);
        }
        catch (SocketException ex)
        {
            return (Classify(ex), null);
        }
        catch (IOException)
        {
            return (ErrorKinds.Reset, null);
        }
    }

    public static string Classify(HttpRequestException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (Exception? inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                return Classify(socket);
            }
        }

        return exception.HttpRequestError switch
        {
            HttpRequestError.ResponseEnded => ErrorKinds.Reset,
            HttpRequestError.ConnectionError => ErrorKinds.Connection,
            _ => ErrorKinds.BadAnswer,
        };
    }

    public static string Classify(SocketException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => ErrorKinds.Refused,
            SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown or SocketError.NotConnected => ErrorKinds.Reset,
            SocketError.TimedOut => ErrorKinds.Timeout,
            _ => ErrorKinds.Connection,
        };
    }
}

/// <summary>A whole HTTP answer, or the kind of failure that prevented one.</summary>
internal sealed record HttpAnswer(string? Error, HttpStatusCode Status, System.Net.Http.Headers.HttpResponseHeaders? Headers, byte[] Body)
{
    public static HttpAnswer Failed(string error) => new(error, 0, null, []);
}
