namespace Raft.Client;

/// <summary>How a <see cref="RaftKvClient"/> talks to the cluster and how long it keeps trying.</summary>
/// <remarks>
/// Every property has a default that works against a cluster started by <c>run-cluster.sh</c>; each one's is in its
/// summary. Read once, when a client is created: changing the options afterwards does not change that client.
/// </remarks>
public sealed class RaftKvClientOptions
{
    /// <summary>The longest <see cref="ClientId"/> the cluster accepts, in bytes of UTF-8.</summary>
    public const int ClientIdBytesMax = 128;

    /// <summary>
    /// The HTTP endpoints of some or all nodes (<c>http://127.0.0.1:5001</c>) for a client registered with
    /// <c>services.AddRaftKvClient</c>, which needs at least one; the constructors, given endpoints of their own, ignore
    /// these. One follower is enough: the client learns the others from the cluster. Default: empty.
    /// </summary>
    public IList<Uri> Endpoints { get; } = [];

    /// <summary>How long one HTTP request may take before it counts as failed and is retried elsewhere. Default 5 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A watch that hears nothing for this long, not even a progress line (a node sends one every 5 s while quiet), goes
    /// on through another node. Default 20 s.
    /// </summary>
    public TimeSpan WatchIdleTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How long one operation keeps retrying through failover before it gives up with
    /// <see cref="NoLeaderException"/>. Default 15 s, several election timeouts.
    /// </summary>
    public TimeSpan RetryDeadline { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The most requests one operation sends, counting redirects. Default 200.</summary>
    public int MaxAttempts { get; set; } = 200;

    /// <summary>The first wait after a failed attempt; each further failure doubles it up to <see cref="BackoffMax"/>. Default 10 ms.</summary>
    public TimeSpan BackoffBase { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>The longest wait between two attempts that backoff alone chooses. Default 500 ms.</summary>
    public TimeSpan BackoffMax { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The longest a server's <c>Retry-After</c> may delay the next attempt. The server's hint is coarse (whole
    /// seconds) while an election takes milliseconds, so a cap keeps failover fast. Default 1 s.
    /// </summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The session id sent as <c>X-Client-Id</c> with every write; <see langword="null"/> (the default) gives each
    /// client a new random id, so clients that share these options still have sessions of their own. Reuse an id in
    /// a new client only together with a <see cref="FirstSequence"/> above every sequence it has sent, and never in
    /// two clients at once: the cluster keeps one result per id.
    /// </summary>
    public string? ClientId { get; set; }

    /// <summary>The <c>X-Client-Seq</c> of this client's first write; later writes count up from it. Default 1.</summary>
    public ulong FirstSequence { get; set; } = 1;

    /// <summary>
    /// The API token sent as <c>Authorization: Bearer</c> with every request, for a cluster with tokens configured;
    /// <see langword="null"/> (the default) sends none. A request the token does not allow fails with
    /// <see cref="UnauthenticatedException"/> or <see cref="PermissionDeniedException"/>, never retried.
    /// </summary>
    public string? BearerToken { get; set; }

    /// <summary>The handler under the client's <see cref="HttpClient"/>, for tests or custom transports. Default: a new <see cref="SocketsHttpHandler"/>.</summary>
    public HttpMessageHandler? Handler { get; set; }

    /// <summary>
    /// Certificate authorities to trust for https:// endpoints instead of the system's (a cluster started with
    /// <c>--tls</c>: <see cref="Protocol.HttpsTrust.LoadAuthorities"/> of its <c>tls/ca.pem</c>). Used by the default
    /// handler only; empty (the default) trusts the system's roots.
    /// </summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2Collection TrustedAuthorities { get; set; } = [];

    /// <summary>Whether disposing the client disposes <see cref="Handler"/>. Default <see langword="true"/>.</summary>
    public bool DisposeHandler { get; set; } = true;

    /// <summary>The clock for backoff waits and the retry deadline. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// A copy of every option, so a client is not changed by later changes to the instance it was given. Shallow: the
    /// copy shares <see cref="Endpoints"/>, <see cref="TrustedAuthorities"/>, <see cref="Handler"/> and
    /// <see cref="TimeProvider"/>, which a client reads only when it is created or never changes.
    /// </summary>
    internal RaftKvClientOptions Copy() => (RaftKvClientOptions)MemberwiseClone();

    /// <summary>Checks every option, as each client does when it is created.</summary>
    /// <exception cref="ArgumentException">An option is out of range or malformed; the message names it.</exception>
    public void Validate()
    {
        foreach (var endpoint in Endpoints)
        {
            if (endpoint is null || !endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"'{endpoint}' is not an absolute http or https URI", nameof(Endpoints));
            }
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestTimeout, TimeSpan.Zero, nameof(RequestTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(WatchIdleTimeout, TimeSpan.Zero, nameof(WatchIdleTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryDeadline, TimeSpan.Zero, nameof(RetryDeadline));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1, nameof(MaxAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThan(BackoffBase, TimeSpan.Zero, nameof(BackoffBase));
        ArgumentOutOfRangeException.ThrowIfLessThan(BackoffMax, BackoffBase, nameof(BackoffMax));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRetryAfter, TimeSpan.Zero, nameof(MaxRetryAfter));
        if (ClientId is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(ClientId, nameof(ClientId));
            if (System.Text.Encoding.UTF8.GetByteCount(ClientId) > ClientIdBytesMax)
            {
                throw new ArgumentException($"a client id has at most {ClientIdBytesMax} bytes of UTF-8", nameof(ClientId));
            }
        }
        ArgumentOutOfRangeException.ThrowIfZero(FirstSequence, nameof(FirstSequence));
        if (BearerToken is not null && (BearerToken.Length == 0 || BearerToken.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))))
        {
            throw new ArgumentException("a bearer token is not empty and has no spaces or control characters", nameof(BearerToken));
        }

        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
    }
}
