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
/// mapped; <see cref="AuthorizeAsync"/> answers <c>401</c> or <c>403</c> before the handler runs; handlers that take
/// keys check them against the caller's prefixes (<see cref="CheckName"/>, <see cref="CheckPrefix"/>). With no tokens
/// configured every check passes. A request that matched no endpoint (a 404 or 405 to be) needs a known token.
/// </summary>
internal static class ApiAccess
{
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
    public static ApiCaller? CallerOf(HttpContext context) => Identify(context).Caller;

    /// <summary>Middleware: refuses a request its token does not allow, before anything reads its body.</summary>
    public static async Task AuthorizeAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var need = RoleOf(context);
        var identity = Identify(context);
        if (identity.Enabled && need != ApiRole.Open)
        {
            if (identity.Caller is not { } caller)
            {
                context.Response.Headers.WWWAuthenticate = ApiHeaders.BearerScheme;
                await ApiResults.Error(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthenticated, identity.Problem!).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            if (caller.Role < need)
            {
                await ApiResults.Error(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden,
                    $"token '{caller.Name}' has the {Name(caller.Role)} role; {context.Request.Method} {context.Request.Path} needs {Name(need)}").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
        }

        await next(context).ConfigureAwait(false);
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

    // Read once per request (the rate limiter asks too) and kept with it.
    private static Identity Identify(HttpContext context)
    {
        if (context.Features.Get<Identity>() is { } known)
        {
            return known;
        }

        var tokens = context.RequestServices.GetRequiredService<ApiTokens>();
        var identity = tokens.Enabled ? Read(context.Request, tokens) : Identity.Off;
        context.Features.Set(identity);
        return identity;
    }

    private static Identity Read(HttpRequest request, ApiTokens tokens)
    {
        var values = request.Headers.Authorization;
        if (values.Count == 0)
        {
            return new Identity(true, null, $"this node needs an API token: send {ApiHeaders.Authorization}: {ApiHeaders.BearerScheme} <token>");
        }

        var value = values.Count == 1 ? values[0].AsSpan().Trim() : default;
        var scheme = ApiHeaders.BearerScheme.Length;
        if (value.Length <= scheme || !value[..scheme].Equals(ApiHeaders.BearerScheme, StringComparison.OrdinalIgnoreCase) || value[scheme] != ' ')
        {
            return new Identity(true, null, $"{ApiHeaders.Authorization} must be one '{ApiHeaders.BearerScheme} <token>'");
        }

        return tokens.Find(value[(scheme + 1)..].Trim()) is { } caller
            ? new Identity(true, caller, null)
            : new Identity(true, null, "the API token is not one this node knows");
    }

    /// <summary>Whether tokens are on, and who called (or why nobody known did).</summary>
    private sealed record Identity(bool Enabled, ApiCaller? Caller, string? Problem)
    {
        // Without tokens every request shares this one, so an open API allocates nothing here.
        public static Identity Off { get; } = new(false, null, null);
    }
}
