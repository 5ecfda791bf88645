using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Raft.Client;
using Raft.Protocol;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a <see cref="RaftKvClient"/> in a service collection.</summary>
public static class RaftKvClientServiceCollectionExtensions
{
    /// <summary>The name of the HTTP client whose handlers carry the client's requests.</summary>
    public const string HttpClientName = "Raft.Client";

    /// <summary>
    /// Registers one <see cref="RaftKvClient"/>, as a singleton, for <see cref="RaftKvClient"/> and
    /// <see cref="IRaftKvClient"/>; its options come from <see cref="IOptions{TOptions}"/> of
    /// <see cref="RaftKvClientOptions"/> (bind them from configuration, and/or pass <paramref name="configure"/>), and
    /// are checked when the client is first resolved: an invalid option, or no endpoint, throws
    /// <see cref="OptionsValidationException"/> naming it.
    /// </summary>
    /// <remarks>
    /// Requests go through the handler pipeline of the named HTTP client <see cref="HttpClientName"/>, taken from the
    /// factory (<see cref="System.Net.Http.IHttpMessageHandlerFactory"/>) for each request, so handlers are rotated as
    /// the factory decides and handlers added with the returned builder see every request. Its primary handler follows
    /// no redirects (the client follows them, to learn the leader) and trusts
    /// <see cref="RaftKvClientOptions.TrustedAuthorities"/> when set. The client sets its own timeouts and bearer token;
    /// <c>ConfigureHttpClient</c> settings on the builder do not apply. Options for the transport itself
    /// (<see cref="RaftKvClientOptions.Handler"/>) are replaced by the factory's.
    /// </remarks>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets options, after any bound from configuration; <see langword="null"/> for none.</param>
    /// <returns>The builder of the named HTTP client, to add handlers to.</returns>
    public static IHttpClientBuilder AddRaftKvClient(this IServiceCollection services, Action<RaftKvClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<RaftKvClientOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RaftKvClientOptions>, Validator>());
        services.TryAddSingleton(provider =>
        {
            var settings = provider.GetRequiredService<IOptions<RaftKvClientOptions>>().Value;
            return new RaftKvClient(settings.Endpoints, WithHandler(settings, new FactoryHandler(provider.GetRequiredService<IHttpMessageHandlerFactory>())));
        });
        services.TryAddSingleton<IRaftKvClient>(provider => provider.GetRequiredService<RaftKvClient>());
        return services.AddHttpClient(HttpClientName).ConfigurePrimaryHttpMessageHandler(provider =>
        {
            var handler = new SocketsHttpHandler { AllowAutoRedirect = false };
            var trusted = provider.GetRequiredService<IOptions<RaftKvClientOptions>>().Value.TrustedAuthorities;
            if (trusted.Count > 0)
            {
                HttpsTrust.TrustOnly(handler, trusted);
            }

            return handler;
        });
    }

    /// <summary>
    /// The checks a client makes when it is created, made when the options are first read, with a message that names
    /// the option: <c>RaftKvClientOptions.MaxAttempts: ...</c>.
    /// </summary>
    private sealed class Validator : IValidateOptions<RaftKvClientOptions>
    {
        public ValidateOptionsResult Validate(string? name, RaftKvClientOptions options)
        {
            if (options.Endpoints.Count == 0)
            {
                return ValidateOptionsResult.Fail("RaftKvClientOptions.Endpoints: at least one endpoint is needed (a node's http:// or https:// address)");
            }

            try
            {
                options.Validate();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException ex)
            {
                return ValidateOptionsResult.Fail($"RaftKvClientOptions.{ex.ParamName}: {ex.Message}");
            }
        }
    }

    // The client gets a copy of every option with the factory's handler: the shared options instance is left as
    // configured.
    private static RaftKvClientOptions WithHandler(RaftKvClientOptions source, HttpMessageHandler handler)
    {
        var copy = source.Copy();
        copy.Handler = handler;
        copy.DisposeHandler = true;
        return copy;
    }

    /// <summary>Sends each request through the named client's current handler pipeline from the factory.</summary>
    private sealed class FactoryHandler(IHttpMessageHandlerFactory factory) : HttpMessageHandler
    {
        // The factory hands out the same pipeline until it rotates it, so one invoker serves it until then; it only
        // borrows the pipeline (the factory disposes it). A rotated-out pipeline stays referenced until the next request.
        private volatile Borrowed? _current;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var handler = factory.CreateHandler(HttpClientName);
            var current = _current;
            if (current is null || !ReferenceEquals(current.Handler, handler))
            {
                current = new Borrowed(handler, new HttpMessageInvoker(handler, disposeHandler: false));
                _current = current;
            }

            return current.Invoker.SendAsync(request, cancellationToken);
        }

        private sealed record Borrowed(HttpMessageHandler Handler, HttpMessageInvoker Invoker);
    }
}
