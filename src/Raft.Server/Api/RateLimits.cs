using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>
/// The opt-in rate limit (<see cref="RateLimitOptions"/>): a token bucket per API token, or per client address for a
/// request without a known token (so guessing tokens is limited too). Endpoints that need no token (health, open
/// metrics) are never limited. Without tokens, a request a follower forwards was counted there and is not counted
/// again by the leader, where every client behind that follower would share one address.
/// </summary>
internal static class RateLimits
{
    public static void Add(IServiceCollection services, RateLimitOptions options)
    {
        services.AddRateLimiter(limiter =>
        {
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context => PartitionOf(context, options));
            limiter.OnRejected = RejectAsync;
        });
    }

    private static RateLimitPartition<string> PartitionOf(HttpContext context, RateLimitOptions options)
    {
        if (ApiAccess.RoleOf(context) == ApiRole.Open)
        {
            return RateLimitPartition.GetNoLimiter(string.Empty);
        }

        string key;
        if (ApiAccess.CallerOf(context) is { } caller)
        {
            key = "token:" + caller.Name;
        }
        else if (context.Request.Headers.ContainsKey(ApiHeaders.ForwardedBy) && !context.RequestServices.GetRequiredService<ApiTokens>().Enabled)
        {
            return RateLimitPartition.GetNoLimiter(string.Empty);
        }
        else
        {
            key = "address:" + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        }

        return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.EffectiveBurst,
            TokensPerPeriod = options.PermitsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }

    private static async ValueTask RejectAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var context = rejected.HttpContext;
        var wait = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var who = ApiAccess.CallerOf(context) is { } caller ? $"token '{caller.Name}'" : "this address";
        await ApiResults.Error(StatusCodes.Status429TooManyRequests, ErrorCodes.RateLimited,
            $"{who} sent more requests than this node's rate limit (Node:RateLimit); retry after {seconds} s").ExecuteAsync(context).ConfigureAwait(false);
    }
}
