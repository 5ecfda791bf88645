using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>The role an endpoint needs, declared where it is mapped (<see cref="ApiAccess.Needs{TBuilder}"/>).</summary>
internal sealed record ApiAccessMetadata(ApiRole Role);

/// <summary>
/// Authorization with API tokens (<see cref="ApiTokens"/>): each endpoint declares the role it needs where it is
/// mapped; <see cref="AuthorizeAsync"/> answers <c>401</c> or <c>403</c> before the handler runs; a key, lock or
/// prefix is checked against the caller's prefixes (<see cref="CheckName"/>, <see cref="CheckPrefix"/>) where it is
/// read (<see cref="ApiResults.ReadName"/>, <see cref="ApiResults.ReadPrefix"/>, <see cref="WatchApi.ReadFilter"/>),
/// and a transaction's keys where it is parsed. With no tokens configured every check passes. A request that matched no endpoint (a 404 or 405 to be) needs a known token.
/// </summary>
internal static class ApiAccess
{
    // What CallerOf keeps for a request whose token is missing or unknown; never returned, and allowed nothing.
    private static readonly ApiCaller Nobody = new(string.Empty, ApiRole.Open, []);

    /// <summary>Declares the role the endpoint needs.</summary>
    public static TBuilder Needs<TBuilder>(this TBuilder builder, ApiRole role)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new ApiAccessMetadata(role));

    /// <summary>What this request's endpoint needs; <see cref="ApiRole.Read"/> when it matched none.</summary>
    public static ApiRole RoleOf(HttpContext context) =>
        context.GetEndpoint()?.Metadata.GetMetadata<ApiAccessMetadata>()?.Role ?? ApiRole.Read;

    /// <summary>Fails loudly at start if a route was mapped without declaring its role.</summary>
    public static void CheckEveryEndpointDeclares(IEndpointRouteBuilder routes)
    {
        foreach (var endpoint in routes.DataSources.SelectMany(source => source.Endpoints))
        {
            if (endpoint.Metadata.GetMetadata<ApiAccessMetadata>() is null)
            {
                throw new InvalidOperationException($"the endpoint '{endpoint.DisplayName}' does not declare the role it needs (ApiAccess.Needs)");
            }
        }
    }

    /// <summary>The caller named by the request's bearer token: null when tokens are off, or the token is missing or unknown.</summary>
    public static ApiCaller? CallerOf(HttpContext context)
    {
        var tokens = context.RequestServices.GetRequiredService<ApiTokens>();
        if (!tokens.Enabled)
        {
            return null;
        }

        // Read once per request (the rate limiter asks first) and kept with it; a request without a known caller keeps
        // Nobody, so its token is not hashed again. Callers are made at load, so this allocates nothing.
        var caller = context.Features.Get<ApiCaller>();
        if (caller is null)
        {
            caller = (ReadBearer(context.Request, out var token) is null ? tokens.Find(token) : null) ?? Nobody;
            context.Features.Set(caller);
        }

        return ReferenceEquals(caller, Nobody) ? null : caller;
    }

    /// <summary>
    /// Middleware: refuses a request its token does not allow, before anything reads its body. Not async: a request it
    /// lets through costs no state machine.
    /// </summary>
    public static Task AuthorizeAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var need = RoleOf(context);
        if (need == ApiRole.Open || !context.RequestServices.GetRequiredService<ApiTokens>().Enabled)
        {
            return next(context);
        }

        if (CallerOf(context) is not { } caller)
        {
            context.Response.Headers.WWWAuthenticate = ApiHeaders.BearerScheme;
            var problem = ReadBearer(context.Request, out _) ?? "the API token is not one this node knows";
            return ApiResults.Error(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthenticated, problem).ExecuteAsync(context);
        }

        if (caller.Role < need)
        {
            return ApiResults.Error(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden,
                $"token '{caller.Name}' has the {Name(caller.Role)} role; {context.Request.Method} {context.Request.Path} needs {Name(need)}").ExecuteAsync(context);
        }

        return next(context);
    }

    /// <summary><c>403 out_of_scope</c> when the caller may not touch the key or lock <paramref name="name"/>; null when it may.</summary>
    public static IResult? CheckName(HttpContext context, string name, string what = "key") =>
        CallerOf(context) is { } caller && !caller.Allows(name)
            ? OutOfScope(caller, $"the {what} '{name}'")
            : null;

    /// <summary>
    /// <c>403 out_of_scope</c> when <paramref name="prefix"/> (of a listing, a watch, a <c>deletePrefix</c>) could reach
    /// keys outside the caller's prefixes: it must start with one of them. It is refused rather than narrowed, so a
    /// caller never mistakes part of an answer for all of it.
    /// </summary>
    public static IResult? CheckPrefix(HttpContext context, string prefix) =>
        CallerOf(context) is { } caller && !caller.Allows(prefix)
            ? OutOfScope(caller, prefix.Length == 0 ? "every key" : $"the prefix '{prefix}'")
            : null;

    /// <summary><c>403 out_of_scope</c> for a request that reaches every key (<paramref name="what"/>) made with a token limited to prefixes.</summary>
    public static IResult? CheckUnscoped(HttpContext context, string what) =>
        CallerOf(context) is { IsScoped: true } caller
            ? OutOfScope(caller, what)
            : null;

    /// <summary>Whether the caller may see the key or lock <paramref name="name"/> (every name when tokens are off).</summary>
    public static bool Allows(HttpContext context, string name) => CallerOf(context)?.Allows(name) ?? true;

    private static IResult OutOfScope(ApiCaller caller, string what) =>
        ApiResults.Error(StatusCodes.Status403Forbidden, ErrorCodes.OutOfScope,
            $"token '{caller.Name}' is limited to keys under {string.Join(", ", caller.Prefixes.Select(p => $"'{p}'"))}; {what} is outside them; nothing was read or written");

    private static string Name(ApiRole role) => role.ToString().ToLowerInvariant();

    // The request's bearer token, or why it has none that could be looked up.
    private static string? ReadBearer(HttpRequest request, out ReadOnlySpan<char> token)
    {
        token = default;
        var values = request.Headers.Authorization;
        if (values.Count == 0)
        {
            return $"this node needs an API token: send {ApiHeaders.Authorization}: {ApiHeaders.BearerScheme} <token>";
        }

        var value = values.Count == 1 ? values[0].AsSpan().Trim() : default;
        var scheme = ApiHeaders.BearerScheme.Length;
        if (value.Length <= scheme || !value[..scheme].Equals(ApiHeaders.BearerScheme, StringComparison.OrdinalIgnoreCase) || value[scheme] != ' ')
        {
            return $"{ApiHeaders.Authorization} must be one '{ApiHeaders.BearerScheme} <token>'";
        }

        token = value[(scheme + 1)..].Trim();
        return null;
    }
}
