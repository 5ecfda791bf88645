using System.Net;
using System.Text;

namespace Raft.Client.Tests;

/// <summary>One request as the scripted server saw it.</summary>
internal sealed record SeenRequest(HttpMethod Method, Uri Uri, string? ClientId, string? Sequence, string? IfMatch, string Body);

/// <summary>
/// An in-process stand-in for the cluster: every request is recorded and answered by the script, which sees the
/// request and how many came before it. No socket is opened.
/// </summary>
internal sealed class ScriptedHandler(Func<HttpRequestMessage, int, CancellationToken, Task<HttpResponseMessage>> script) : HttpMessageHandler
{
    private readonly List<SeenRequest> _seen = [];

    public ScriptedHandler(Func<HttpRequestMessage, int, HttpResponseMessage> script)
        : this((request, n, _) => Task.FromResult(script(request, n)))
    {
    }

    public IReadOnlyList<SeenRequest> Seen
    {
        get
        {
            lock (_seen)
            {
                return [.. _seen];
            }
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        int n;
        lock (_seen)
        {
            n = _seen.Count;
            _seen.Add(new SeenRequest(request.Method, request.RequestUri!, Header(request, "X-Client-Id"), Header(request, "X-Client-Seq"), Header(request, "If-Match"), body));
        }

        var response = await script(request, n, cancellationToken);
        response.RequestMessage = request;
        return response;
    }

    private static string? Header(HttpRequestMessage request, string name) =>
        request.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    public static HttpResponseMessage Json(HttpStatusCode status, string json, int leader = 0)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (leader >= 0)
        {
            response.Headers.Add("X-Raft-Leader", leader.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return response;
    }

    public static HttpResponseMessage Put(ulong index, int leader) => Json(HttpStatusCode.OK, $$"""{"index":{{index}},"version":{{index}}}""", leader);

    public static HttpResponseMessage NotLeader(int leader) => Json(HttpStatusCode.ServiceUnavailable, """{"error":"not_leader","detail":"another node leads"}""", leader);

    public static HttpResponseMessage NoLeader(int retryAfterSeconds = 1)
    {
        var response = Json(HttpStatusCode.ServiceUnavailable, """{"error":"no_leader","detail":"an election is under way"}""");
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(retryAfterSeconds));
        return response;
    }
}

/// <summary>
/// A clock whose timers fire at once and move the clock forward by their due time, so backoff and Retry-After waits
/// take no real time while the waits asked for are recorded.
/// </summary>
internal sealed class InstantTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<TimeSpan> _waits = [];
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public IReadOnlyList<TimeSpan> Waits
    {
        get
        {
            lock (_lock)
            {
                return [.. _waits];
            }
        }
    }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _now;
        }
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>Moves the clock on without a wait, as time passing between two calls.</summary>
    public void Advance(TimeSpan by)
    {
        lock (_lock)
        {
            _now += by;
        }
    }

    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            lock (_lock)
            {
                _waits.Add(dueTime);
                _now += dueTime;
            }

            _ = Task.Run(async () =>
            {
                await Task.Yield();
                callback(state);
            });
        }

        return new NoTimer();
    }

    private sealed class NoTimer : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => false;

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
