namespace Raft.Server;

/// <summary>
/// The section <c>Node:Auth</c>: the API tokens this node accepts. With none (the default) the API is open to anyone
/// who can reach it, as before tokens existed. With any, every request but the health checks (and, if
/// <see cref="OpenMetrics"/>, the metrics) needs <c>Authorization: Bearer &lt;token&gt;</c> naming a token whose role
/// allows it. Every node of a cluster should accept the same tokens: a follower passes the caller's token on with a
/// request it forwards, and the leader checks it again.
/// </summary>
public sealed class AuthOptions
{
    /// <summary>Tokens given in the configuration itself (<c>Node:Auth:Tokens:0:Name</c>, ...).</summary>
    public List<ApiTokenOptions> Tokens { get; set; } = [];

    /// <summary>
    /// A JSON file of more tokens, read once at start: <c>{"tokens":[{"name","token" or "sha256","roles","prefixes"}]}</c>,
    /// the same fields as <see cref="Tokens"/>.
    /// </summary>
    public string? TokensFile { get; set; }

    /// <summary>
    /// The token this node sends when it calls other nodes' APIs itself (joining, asking to be promoted, reading their
    /// <c>/v1/cluster</c> to agree on the cluster version). It must be one of the tokens, with the <c>admin</c> role
    /// and no prefixes. Unset, the node uses the first such token given in clear.
    /// </summary>
    public string? NodeToken { get; set; }

    /// <summary>Serve <c>/metrics</c> without a token (for a scraper without one); otherwise it needs the <c>read</c> role.</summary>
    public bool OpenMetrics { get; set; }
}

/// <summary>One API token: who it is, what it may do, and over which keys.</summary>
public sealed class ApiTokenOptions
{
    /// <summary>Names the caller in answers, logs and rate-limit partitions; unique.</summary>
    public string? Name { get; set; }

    /// <summary>The token in clear (at least <see cref="ApiTokens.TokenCharsMin"/> characters); or give <see cref="Sha256"/>.</summary>
    public string? Token { get; set; }

    /// <summary>The SHA-256 of the token's UTF-8 bytes, in hex: a file that holds only hashes holds no secret.</summary>
    public string? Sha256 { get; set; }

    /// <summary><c>read</c>, <c>write</c> or <c>admin</c>; each includes the ones before it, and the highest given counts.</summary>
    public List<string> Roles { get; set; } = [];

    /// <summary>
    /// Key prefixes the token is limited to (none: every key). Keys and locks must start with one of them; a listing,
    /// watch or transaction's <c>deletePrefix</c> must name a prefix that does.
    /// </summary>
    public List<string> Prefixes { get; set; } = [];
}

/// <summary>
/// The section <c>Node:RateLimit</c>: off unless <see cref="PermitsPerSecond"/> is set. Each token (or, for requests
/// without a known one, each client address) gets a bucket of <see cref="Burst"/> requests, refilled with
/// <see cref="PermitsPerSecond"/> every second; a request that finds it empty is answered <c>429 rate_limited</c>
/// with <c>Retry-After</c>. Limits are per node.
/// </summary>
public sealed class RateLimitOptions
{
    /// <summary>Requests per second per token or address (0: no limit).</summary>
    public int PermitsPerSecond { get; set; }

    /// <summary>The most requests a quiet caller may send at once (0: <see cref="PermitsPerSecond"/>).</summary>
    public int Burst { get; set; }

    /// <summary>The bucket size: <see cref="Burst"/>, or one second's worth of permits.</summary>
    public int EffectiveBurst => Burst > 0 ? Burst : PermitsPerSecond;

    /// <summary>Problems with these settings, each naming its key.</summary>
    public IEnumerable<string> Validate()
    {
        if (PermitsPerSecond is < 0 or > 1_000_000)
        {
            yield return $"Node:RateLimit:PermitsPerSecond must lie in [0, 1000000] (got {PermitsPerSecond})";
        }

        if (Burst is < 0 or > 1_000_000)
        {
            yield return $"Node:RateLimit:Burst must lie in [0, 1000000] (got {Burst})";
        }
    }
}
