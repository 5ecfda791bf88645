using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.KeyValue;
using Raft.Protocol;
using Raft.Server.Api;
using Raft.Transport;

namespace Raft.Server;

/// <summary>Makes the peer transport of a node; the node loop is its sink.</summary>
public delegate IPeerTransport PeerTransportFactory(NodeOptions options, IPeerMessageSink sink);

/// <summary>The configuration is unusable; the message lists every problem.</summary>
public sealed class NodeConfigurationException : Exception
{
    public NodeConfigurationException()
    {
    }

    public NodeConfigurationException(string message)
        : base(message)
    {
    }

    public NodeConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Runs one node: configuration, storage, transport, the node loop and the HTTP API.</summary>
public static class NodeHost
{
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        WebApplication app;
        try
        {
            app = Build(args);
        }
        catch (NodeConfigurationException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return 2;
        }

        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.RunAsync().ConfigureAwait(false);

                // The node loop failed (a failed fsync, a storage error) and stopped the host: the process says so.
                if (app.Services.GetRequiredService<NodeLoop>().Failure is not null)
                {
                    return 1;
                }
            }
            catch (NodeStartRefusedException ex)
            {
                await Console.Error.WriteLineAsync($"node refused to start: {ex.Message}").ConfigureAwait(false);
                return 2;
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
            {
                // Unreadable or damaged data, or a port already taken: say what, without a stack trace.
                await Console.Error.WriteLineAsync($"node failed to start: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
        }

        return Environment.ExitCode;
    }

    /// <summary>
    /// Builds the node's web application from ASP.NET Core configuration (appsettings.json, environment, command
    /// line; section <c>Node</c>). Throws <see cref="NodeConfigurationException"/> before anything is opened when
    /// the configuration is unusable. Peers talk over <see cref="TcpPeerTransport"/> unless
    /// <paramref name="transportFactory"/> supplies another transport (tests run several nodes in one process).
    /// </summary>
    public static WebApplication Build(string[] args, PeerTransportFactory? transportFactory = null) => Build(args, transportFactory, diskIo: null);

    /// <summary>As the public overload; the node's log and hard state change the disk through <paramref name="diskIo"/> (tests inject faults).</summary>
    internal static WebApplication Build(string[] args, PeerTransportFactory? transportFactory, Storage.IDiskIo? diskIo)
    {
        // The configuration is read once (the node's options cannot change while it runs), so nothing watches the
        // content root: a reloadable appsettings.json puts a recursive file watcher on the working directory, and
        // when the data directory lies under it (./data, the default) every log write wakes every node's watcher.
        var builder = WebApplication.CreateBuilder([.. args, "--hostBuilder:reloadConfigOnChange=false"]);

        // Defaults with the lowest precedence: appsettings, environment and command line all override them.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",

                // One line per event with a UTC timestamp to the millisecond: failover is read off these logs.
                ["Logging:Console:FormatterName"] = "simple",
                ["Logging:Console:FormatterOptions:SingleLine"] = "true",
                ["Logging:Console:FormatterOptions:UseUtcTimestamp"] = "true",
                ["Logging:Console:FormatterOptions:TimestampFormat"] = "HH:mm:ss.fff ",
            },
        });
        NodeOptions options;
        try
        {
            options = builder.Configuration.GetSection(NodeOptions.Section).Get<NodeOptions>() ?? new NodeOptions();
        }
        catch (InvalidOperationException ex)
        {
            // The binder names the key and the value it could not convert (a number or a follower mode).
            throw new NodeConfigurationException($"invalid configuration: {ex.Message} {ex.InnerException?.Message}", ex);
        }

        var errors = options.Validate();
        var tokens = ApiTokens.Load(options.Auth, errors);
        if (errors.Count > 0)
        {
            throw new NodeConfigurationException("invalid configuration:\n  " + string.Join("\n  ", errors));
        }

        var security = NodeSecurity.Load(options);
        var url = options.HttpEndpoints[options.Id];
        builder.WebHost.UseUrls(url);

        // An https:// endpoint serves Kestrel's own default certificate when its configuration gives one, else Node:Tls's.
        var kestrelCertificate = builder.Configuration.GetSection("Kestrel:Certificates:Default").Exists();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (security.PeerTls is { } tls && !kestrelCertificate)
            {
                kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = tls.Certificate);
            }

            // The handler enforces MaxValueBytes with a JSON 413; Kestrel only has to let such bodies reach it.
            kestrel.Limits.MaxRequestBodySize = Math.Max(30L << 20, (long)options.MaxValueBytes + 1);

            // Likewise for what Kestrel refuses with an empty body before the API runs: headers (the API answers
            // 431 in JSON below its own limit) and the request line, which must fit a key of MaxKeyBytes with every
            // byte escaped (the API answers 414 key_too_long for longer keys).
            kestrel.Limits.MaxRequestHeadersTotalSize = ErrorAnswers.KestrelHeaderBytesMax;
            kestrel.Limits.MaxRequestLineSize = Math.Max(kestrel.Limits.MaxRequestLineSize, (3 * options.MaxKeyBytes) + 4096);
            kestrel.Limits.MaxConcurrentConnections = options.HttpConnectionsMax;
        });
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ProtocolJsonContext.Wire));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(tokens!);
        builder.Services.AddSingleton(security);
        if (options.RateLimit.PermitsPerSecond > 0)
        {
            RateLimits.Add(builder.Services, options.RateLimit);
        }

        if (options.Tracing.Enabled)
        {
            NodeTracing.AddExporter(builder.Services, options);
        }

        Dashboard.AddCors(builder.Services);
        builder.Services.AddSingleton<NodeMetrics>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<LockChanges>();
        builder.Services.AddSingleton(new WatchHub(options.WatchHistoryChanges, options.WatchHistoryBytes, options.WatchersMax));
        builder.Services.AddSingleton(services => new NodeLoop(
            options,
            sink => transportFactory is null ? CreateTcpTransport(options, security, services.GetRequiredService<NodeMetrics>(), sink, services.GetRequiredService<ILoggerFactory>()) : transportFactory(options, sink),
            services.GetRequiredService<NodeMetrics>(),
            services.GetRequiredService<ILoggerFactory>(),
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<LockChanges>().Raise,
            services.GetRequiredService<WatchHub>(),
            diskIo));
        builder.Services.AddSingleton(_ =>
        {
            var handler = security.CreateHandler();
            handler.ConnectTimeout = TimeSpan.FromMilliseconds(Math.Max(100, options.ElectionTimeoutMs));
            // Each forwarded request sets its own deadline (a lock acquire may wait longer than a write).
            return new LeaderRouting(options, new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan });
        });
        builder.Services.AddHostedService<NodeService>();
        builder.Services.AddHostedService<JoinService>();
        builder.Services.AddHostedService<ClusterVersionService>();

        var app = builder.Build();
        app.Use(RaftHeadersAndMetrics);
        Dashboard.UseCors(app);
        app.Use(ErrorAnswers.CatchAsync);
        app.UseStatusCodePages(ErrorAnswers.StatusCodePageAsync);

        // Limited before authorized, so requests with unknown tokens are limited (by address) too.
        if (options.RateLimit.PermitsPerSecond > 0)
        {
            app.UseRateLimiter();
        }

        app.Use(ApiAccess.AuthorizeAsync);
        KvApi.Map(app);
        LockApi.Map(app);
        ClusterApi.Map(app);
        MembersApi.Map(app);
        SnapshotApi.Map(app);
        TxnApi.Map(app);
        LeaseApi.Map(app);
        WatchApi.Map(app);
        Dashboard.Map(app);
        ApiAccess.CheckEveryEndpointDeclares(app);
        return app;
    }

    // Every response carries the node's view of index, term and leader; a handler's more specific value
    // (a write's entry index, a forwarded answer's headers) wins. Requests are counted by route and status.
    private static async Task RaftHeadersAndMetrics(HttpContext context, RequestDelegate next)
    {
        var node = context.RequestServices.GetRequiredService<NodeLoop>();
        context.Response.OnStarting(static state =>
        {
            var (context, node) = ((HttpContext, NodeLoop))state;
            var view = node.View;
            var headers = context.Response.Headers;
            headers.TryAdd(ApiHeaders.Index, view.AppliedIndex.ToString(CultureInfo.InvariantCulture));
            headers.TryAdd(ApiHeaders.Term, view.Term.ToString(CultureInfo.InvariantCulture));
            headers.TryAdd(ApiHeaders.Leader, view.LeaderId.ToString(CultureInfo.InvariantCulture));
            return Task.CompletedTask;
        }, (context, node));

        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            context.RequestServices.GetRequiredService<NodeMetrics>().CountRequest(route, context.Request.Method, context.Response.StatusCode);
        }
    }

    private static TcpPeerTransport CreateTcpTransport(NodeOptions options, NodeSecurity security, NodeMetrics metrics, IPeerMessageSink sink, ILoggerFactory loggers)
    {
        // Listen on this node's own peer address; a host name (not an IP literal) listens on every interface.
        var own = options.Peers[options.Id];
        var listen = IPEndPoint.TryParse(own, out var ip) && ip.Port != 0
            ? ip
            : new IPEndPoint(IPAddress.IPv6Any, int.Parse(own.AsSpan(own.LastIndexOf(':') + 1), NumberStyles.None, CultureInfo.InvariantCulture));
        var transport = new TcpPeerTransport(
            new TcpPeerTransportOptions
            {
                NodeId = options.Id,
                ClusterId = options.ClusterId,
                ListenEndPoint = listen,
                // A frame carries at least one whole entry, so the largest put allowed must fit in one; a snapshot goes in
                // chunks, whatever its size.
                FrameBytesMax = options.EffectivePeerFrameBytesMax,
                // Timeouts follow the Raft timing, so a dead peer is given up on within an election timeout.
                ConnectTimeout = TimeSpan.FromMilliseconds(Math.Max(50, options.ElectionTimeoutMs)),
                ReconnectBackoffMax = TimeSpan.FromMilliseconds(Math.Max(50, options.ElectionTimeoutMs)),
                Tls = security.PeerTls,
                ClusterSecret = security.ClusterSecret,
                HandshakeFailed = metrics.PeerHandshakeFailed,
            },
            sink,
            loggers.CreateLogger("Raft.Transport"));

        metrics.TransportStats = transport.PeerStats;

        // The node loop gives the transport its peers: the members of the configuration in force, with their addresses.
        return transport;
    }
}

/// <summary>
/// Starts the node loop with the host, and on shutdown hands leadership over before stopping it. If the loop
/// fails (a storage error), the whole host stops rather than serve HTTP without a node; the process then exits with 1
/// (<see cref="NodeHost.RunAsync"/>).
/// </summary>
internal sealed class NodeService(NodeLoop node, NodeOptions options, NodeSecurity security, IHostApplicationLifetime lifetime, ILogger<NodeService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (security.PeersUnauthenticated)
        {
            NodeLog.PeersUnauthenticated(logger, options.Id);
        }

        await node.StartAsync(cancellationToken).ConfigureAwait(false);
        _ = node.Stopped.ContinueWith(
            _ =>
            {
                if (node.Failure is not null)
                {
                    lifetime.StopApplication();
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (node.View.Role == Core.RaftRole.Leader && node.View.Membership.Voters.Length > 1 && options.ShutdownTransferTimeoutMs > 0)
        {
            try
            {
                var outcome = await node.TransferLeadershipAsync(0, cancellationToken)
                    .WaitAsync(TimeSpan.FromMilliseconds(options.ShutdownTransferTimeoutMs), cancellationToken).ConfigureAwait(false);
                if (outcome.Status == Node.TransferStatus.Moved)
                {
                    NodeLog.StoppingAfterTransfer(logger, options.Id, outcome.Detail, outcome.LeaderId);
                }
                else
                {
                    NodeLog.StoppingWithoutTransfer(logger, options.Id, outcome.Detail);
                }
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                NodeLog.StoppingWithoutTransfer(logger, options.Id, ex.Message);
            }
        }

        await node.DisposeAsync().ConfigureAwait(false);
    }
}
