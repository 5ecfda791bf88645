using System.Collections.Frozen;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>
/// The dashboard at <c>/ui</c>: one page, a script and a style sheet shipped inside this assembly, served without a
/// token (they hold no data). The page reads the cluster through the API of every member, with the token the user
/// types in, so it goes on working while the node it came from is down; for that each node lets the other members'
/// origins call its API from a browser (CORS), preflight and <c>Authorization</c> included.
/// </summary>
internal static class Dashboard
{
    private const string ResourcePrefix = "Raft.Server.Dashboard.";

    // The page may load only its own files, and may call any member (each one checks the origin itself).
    private const string ContentSecurityPolicy = "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data:; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, (string ContentType, byte[] Body)> Files = Load(
        ("index.html", "text/html; charset=utf-8"),
        ("dashboard.js", "text/javascript; charset=utf-8"),
        ("dashboard.css", "text/css; charset=utf-8"));

    public static void AddCors(IServiceCollection services) => services.AddCors();

    /// <summary>CORS for the members' origins: before authorization, so a preflight (which carries no token) is answered.</summary>
    public static void UseCors(WebApplication app) => app.UseCors(policy => policy
        .SetIsOriginAllowed(origin => IsMemberOrigin(app.Services, origin))
        .WithMethods(HttpMethods.Get, HttpMethods.Post)
        .WithHeaders(ApiHeaders.Authorization, "Content-Type")
        .WithExposedHeaders(ApiHeaders.Leader, ApiHeaders.Term, ApiHeaders.Index)
        .SetPreflightMaxAge(TimeSpan.FromMinutes(10)));

    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet(ApiPaths.Dashboard, (HttpContext context) => Serve(context, "index.html")).Needs(ApiRole.Open);
        routes.MapGet(ApiPaths.Dashboard + "/{file}", (HttpContext context, string file) => Serve(context, file)).Needs(ApiRole.Open);
    }

    /// <summary>Whether <paramref name="origin"/> (scheme, host and port) is the HTTP endpoint of a member, by the configuration in force or the options.</summary>
    public static bool IsMemberOrigin(IServiceProvider services, string origin)
    {
        var options = services.GetRequiredService<NodeOptions>();
        var membership = services.GetRequiredService<NodeLoop>().View.Membership;
        foreach (var id in membership.Ids.Concat(options.HttpEndpoints.Keys))
        {
            if (options.HttpEndpointOf(membership, id) is { } http && SameOrigin(http, origin))
            {
                return true;
            }
        }

        return false;
    }

    private static bool SameOrigin(string endpoint, string origin) =>
        Uri.TryCreate(endpoint, UriKind.Absolute, out var uri)
        && string.Equals(uri.GetLeftPart(UriPartial.Authority), origin.TrimEnd('/'), StringComparison.OrdinalIgnoreCase);

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Files.TryGetValue(file, out var found))
        {
            return ApiResults.Error(StatusCodes.Status404NotFound, ErrorCodes.NoRoute, $"the dashboard has no file '{file}'");
        }

        context.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.Headers.CacheControl = "no-cache";
        return Results.Bytes(found.Body, found.ContentType);
    }

    private static FrozenDictionary<string, (string, byte[])> Load(params (string Name, string ContentType)[] files)
    {
        var assembly = typeof(Dashboard).Assembly;
        var loaded = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal);
        foreach (var (name, contentType) in files)
        {
            using var stream = assembly.GetManifestResourceStream(ResourcePrefix + name)
                ?? throw new InvalidOperationException($"the dashboard file '{name}' is not embedded in {assembly.GetName().Name}");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            loaded[name] = (contentType, copy.ToArray());
        }

        return loaded.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
