using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Raft.Server.Api;

namespace Raft.Server.Tests;

/// <summary>The authorization middleware runs on every request: it must not allocate per request, with tokens or without.</summary>
public sealed class ApiAccessAllocationTests
{
    private const int Requests = 10_000;
    private const int WarmUp = 100;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Authorizing_a_request_allocates_nothing(bool tokensOn)
    {
        var auth = new AuthOptions();
        if (tokensOn)
        {
            auth.Tokens.Add(new ApiTokenOptions { Name = "admin", Token = "admin-0123456789abcdef", Roles = ["admin"] });
            auth.Tokens.Add(new ApiTokenOptions { Name = "writer", Token = "writer-0123456789abcdef", Roles = ["write"] });
        }

        var errors = new List<string>();
        var tokens = ApiTokens.Load(auth, errors) ?? throw new InvalidOperationException(string.Join("; ", errors));
        var services = new ServiceCollection().AddSingleton(tokens).BuildServiceProvider();
        var context = new DefaultHttpContext { RequestServices = services };
        context.Request.Headers.Authorization = "Bearer writer-0123456789abcdef";
        context.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(new ApiAccessMetadata(ApiRole.Write)), "put"));

        // A handler is still running when the middleware returns (as a real one awaiting the log is), so a middleware
        // that awaited it would box its state machine; each handler's task is made before the count starts.
        var handlers = new TaskCompletionSource[WarmUp + Requests];
        for (var i = 0; i < handlers.Length; i++)
        {
            handlers[i] = new TaskCompletionSource();
        }

        var at = 0;
        RequestDelegate next = _ => handlers[at].Task;
        for (; at < WarmUp; at++)
        {
            await AuthorizeOnce(context, next, handlers[at]);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (; at < handlers.Length; at++)
        {
            var answer = AuthorizeOnce(context, next, handlers[at]);
            Assert.True(answer.IsCompletedSuccessfully);
        }

        var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);

        // Any object is at least 24 bytes, so fewer bytes than requests means no request allocated; a one-off (a cache
        // the runtime makes lazily) is not a request's cost.
        Assert.True(bytes < Requests, $"{bytes} bytes over {Requests} requests ({(double)bytes / Requests:F1} per request)");
    }

    private static Task AuthorizeOnce(HttpContext context, RequestDelegate next, TaskCompletionSource handler)
    {
        // What the middleware found for the last request is forgotten, as a new request's features would be.
        context.Features[typeof(ApiCaller)] = null;
        var answer = ApiAccess.AuthorizeAsync(context, next);
        Assert.Null(ApiAccess.CheckName(context, "k"));
        handler.SetResult();
        return answer;
    }
}
