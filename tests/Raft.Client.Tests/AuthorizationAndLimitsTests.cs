using System.Net;

namespace Raft.Client.Tests;

/// <summary>The client with API tokens and rate limits: the token on every request, typed refusals, and 429 honoured.</summary>
public sealed class AuthorizationAndLimitsTests
{
    private static readonly Dictionary<int, Uri> Nodes = new() { [1] = new("http://node1:5001/"), [2] = new("http://node2:5002/") };

    private static (RaftKvClient Client, InstantTimeProvider Time) Create(HttpMessageHandler handler, Action<RaftKvClientOptions>? configure = null)
    {
        var time = new InstantTimeProvider();
        var options = new RaftKvClientOptions { Handler = handler, TimeProvider = time, ClientId = "c-1" };
        configure?.Invoke(options);
        return (new RaftKvClient(Nodes, options), time);
    }

    private static HttpResponseMessage RateLimited(int retryAfterSeconds)
    {
        var response = ScriptedHandler.Json(HttpStatusCode.TooManyRequests, """{"error":"rate_limited","detail":"token 'ci' sent more requests than this node's rate limit"}""", leader: 1);
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(retryAfterSeconds));
        return response;
    }

    [Fact]
    public async Task BearerToken_GoesWithEveryRequest_AndNoneWithoutIt()
    {
        var seen = new List<string?>();
        var handler = new ScriptedHandler((request, _) =>
        {
            lock (seen)
            {
                seen.Add(request.Headers.Authorization?.ToString());
            }

            return ScriptedHandler.Put(3, 1);
        });
        var (client, _) = Create(handler, o => o.BearerToken = "ci-0123456789abcdef");
        using (client)
        {
            await client.PutAsync("k", "v");
            await client.DeleteAsync("k");
        }

        var (anonymous, _) = Create(handler);
        using (anonymous)
        {
            await anonymous.PutAsync("k", "v");
        }

        Assert.Equal(["Bearer ci-0123456789abcdef", "Bearer ci-0123456789abcdef", null], seen);
        Assert.Throws<ArgumentException>(() => new RaftKvClient(Nodes, new RaftKvClientOptions { BearerToken = "two words" }));
    }

    [Fact]
    public async Task RateLimited_WaitsTheWholeRetryAfter_AtTheSameNode_WithTheSameSequence()
    {
        var handler = new ScriptedHandler((_, n) => n < 2 ? RateLimited(3) : ScriptedHandler.Put(5, 1));
        var (client, time) = Create(handler, o => o.MaxRetryAfter = TimeSpan.FromMilliseconds(100));
        using (client)
        {
            var result = await client.PutAsync("k", "v");

            Assert.Equal(new PutResult(5, 5), result);
        }

        // Not capped by MaxRetryAfter (which bounds election hints), and not moved to another node.
        Assert.Equal([TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3)], time.Waits);
        Assert.Equal(["node1", "node1", "node1"], handler.Seen.Select(r => r.Uri.Host));
        Assert.All(handler.Seen, r => Assert.Equal("1", r.Sequence));
    }

    [Fact]
    public async Task RateLimited_BeyondTheDeadline_ThrowsRateLimitedException_AtOnce()
    {
        var handler = new ScriptedHandler((_, _) => RateLimited(60));
        var (client, time) = Create(handler, o => o.RetryDeadline = TimeSpan.FromSeconds(15));
        using (client)
        {
            var error = await Assert.ThrowsAsync<RateLimitedException>(() => client.PutAsync("k", "v"));

            Assert.Equal("rate_limited", error.ErrorCode);
            Assert.Equal(HttpStatusCode.TooManyRequests, error.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(60), error.RetryAfter);
        }

        Assert.Single(handler.Seen);
        Assert.Empty(time.Waits);
    }

    [Fact]
    public async Task Unauthenticated_And_Forbidden_AreTypedErrors_AndNeverRetried()
    {
        var handler = new ScriptedHandler((request, _) => request.Method == HttpMethod.Put
            ? ScriptedHandler.Json(HttpStatusCode.Unauthorized, """{"error":"unauthenticated","detail":"the API token is not one this node knows"}""", leader: 1)
            : ScriptedHandler.Json(HttpStatusCode.Forbidden, """{"error":"out_of_scope","detail":"token 'app' is limited to keys under 'app/'"}""", leader: 1));
        var (client, time) = Create(handler, o => o.BearerToken = "wrong-0123456789abcdef");
        using (client)
        {
            var unauthenticated = await Assert.ThrowsAsync<UnauthenticatedException>(() => client.PutAsync("k", "v"));
            Assert.Equal("unauthenticated", unauthenticated.ErrorCode);
            Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);

            var denied = await Assert.ThrowsAsync<PermissionDeniedException>(() => client.GetAsync("other/k"));
            Assert.Equal("out_of_scope", denied.ErrorCode);
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        }

        Assert.Equal(2, handler.Seen.Count);
        Assert.Empty(time.Waits);
    }
}
