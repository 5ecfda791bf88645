using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Cli;

/// <summary>How output is written.</summary>
internal enum OutputFormat
{
    /// <summary>Aligned columns for people (a value read by <c>get</c> as its bytes).</summary>
    Table,

    /// <summary>One JSON document per answer (one per line for <c>watch</c>), in the API's shapes where it has them.</summary>
    Json,
}

/// <summary>
/// Where the cluster is and how to talk to it, from the first place that says: the command line, the environment
/// (<c>RAFTCTL_ENDPOINTS</c>, <c>RAFT_TOKEN</c>, <c>RAFTCTL_CACERT</c>, <c>RAFTCTL_OUTPUT</c>), the config file (<c>--config</c>,
/// <c>RAFTCTL_CONFIG</c>, or <c>~/.config/raftctl/config.json</c> when it exists), then the defaults (the three nodes
/// <c>run-cluster.sh</c> starts).
/// </summary>
internal sealed record CliSettings(IReadOnlyList<Uri> Endpoints, string? Token, X509Certificate2Collection? Authorities, OutputFormat Output, TimeSpan Timeout)
{
    public const string EndpointsVariable = "RAFTCTL_ENDPOINTS";
    public const string TokenVariable = ApiHeaders.TokenVariable;
    public const string CaCertVariable = "RAFTCTL_CACERT";
    public const string OutputVariable = "RAFTCTL_OUTPUT";
    public const string ConfigVariable = "RAFTCTL_CONFIG";
    public const string DefaultEndpoints = "http://127.0.0.1:5001,http://127.0.0.1:5002,http://127.0.0.1:5003";

    /// <summary>The longest one request may take: a dead node is passed over after this, within the whole <see cref="Timeout"/>.</summary>
    private static readonly TimeSpan RequestTimeoutMax = TimeSpan.FromSeconds(5);

    public static CliSettings Resolve(string? endpoints, string? token, string? caCert, string? output, string? configPath, double? timeoutSeconds, Func<string, string?> environment)
    {
        var config = ReadConfig(configPath ?? environment(ConfigVariable), explicitPath: configPath is not null || environment(ConfigVariable) is not null);
        var endpointList = endpoints ?? environment(EndpointsVariable) ?? (config?.Endpoints is { Count: > 0 } e ? string.Join(',', e) : null) ?? DefaultEndpoints;
        var format = (output ?? environment(OutputVariable) ?? config?.Output ?? "table").ToLowerInvariant() switch
        {
            "table" => OutputFormat.Table,
            "json" => OutputFormat.Json,
            var other => throw new UsageException($"--output must be table or json (got '{other}')"),
        };
        var seconds = timeoutSeconds ?? config?.TimeoutSeconds ?? 15;
        if (seconds <= 0 || seconds > 3600)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--timeout must be between 0 and 3600 seconds (got {seconds})"));
        }

        var chosenToken = token ?? environment(TokenVariable) ?? config?.Token;
        var authorityPath = caCert ?? environment(CaCertVariable) ?? config?.CaCert;
        return new CliSettings(ParseEndpoints(endpointList), string.IsNullOrEmpty(chosenToken) ? null : chosenToken, LoadAuthorities(authorityPath), format, TimeSpan.FromSeconds(seconds));
    }

    // The CA(s) an https:// node's certificate must chain to, instead of the system's roots (a cluster started with --tls).
    private static X509Certificate2Collection? LoadAuthorities(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        try
        {
            return HttpsTrust.LoadAuthorities(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or CryptographicException)
        {
            throw new UsageException($"--cacert '{path}' is not a readable PEM certificate: {ex.Message}", ex);
        }
    }

    /// <summary>Comma-separated URLs, as etcdctl takes them; <c>127.0.0.1:5001</c> without a scheme is taken as http.</summary>
    public static IReadOnlyList<Uri> ParseEndpoints(string list)
    {
        var endpoints = new List<Uri>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var text = part.Contains("://", StringComparison.Ordinal) ? part : "http://" + part;
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new UsageException($"'{part}' is not an http or https URL");
            }

            endpoints.Add(uri);
        }

        return endpoints.Count > 0 ? endpoints : throw new UsageException("--endpoints names no endpoint");
    }

    public RaftKvClient CreateClient() => new(Endpoints, new RaftKvClientOptions
    {
        BearerToken = Token,
        TrustedAuthorities = Authorities ?? [],
        RetryDeadline = Timeout,
        RequestTimeout = Timeout < RequestTimeoutMax ? Timeout : RequestTimeoutMax,
    });

    private static ConfigFile? ReadConfig(string? path, bool explicitPath)
    {
        path ??= Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "raftctl", "config.json");
        if (!File.Exists(path))
        {
            return explicitPath ? throw new UsageException($"no config file '{path}'") : null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), CliJsonContext.Default.ConfigFile);
        }
        catch (JsonException ex)
        {
            throw new UsageException($"the config file '{path}' is not the JSON raftctl reads: {ex.Message}", ex);
        }
    }
}

/// <summary>The config file: <c>{"endpoints":["https://10.0.0.1:5001",...],"token":"...","caCert":"ca.pem","output":"table","timeoutSeconds":15}</c>.</summary>
internal sealed record ConfigFile(IReadOnlyList<string>? Endpoints, string? Token, string? CaCert, string? Output, double? TimeoutSeconds);

/// <summary>The one row per member that <c>status</c> prints.</summary>
internal sealed record StatusRow(int Id, string Endpoint, string Role, ulong Term, int LeaderId, ulong CommitIndex, ulong AppliedIndex, ulong? Lag, int Version, bool Voter, string? Error);

/// <summary>What <c>status --output json</c> prints.</summary>
internal sealed record StatusReport(int LeaderId, int ClusterVersion, IReadOnlyList<StatusRow> Members);

/// <summary>One member's health, as <c>check</c> prints it.</summary>
internal sealed record CheckRow(int Id, string Endpoint, bool Ready, string Status, int LeaderId, ulong CommitIndex, ulong AppliedIndex, string? Detail);

/// <summary>What <c>check --output json</c> prints.</summary>
internal sealed record CheckReport(bool Healthy, bool LeaderAgreed, int LeaderId, bool CommitAgreed, ulong CommitIndex, IReadOnlyList<CheckRow> Members);

/// <summary>What <c>leader --output json</c> prints.</summary>
internal sealed record LeaderReport(int LeaderId, string? Endpoint);

/// <summary>What <c>snapshot save --output json</c> prints.</summary>
internal sealed record SnapshotReport(string File, ulong Index, ulong Term, long Bytes);

/// <summary>What <c>snapshot restore --output json</c> prints: the backup, where it went, with which members, and each file written.</summary>
internal sealed record RestoreReport(string File, string DataDirectory, ulong Index, ulong Term, IReadOnlyList<RestoreMember> Members, IReadOnlyList<RestoreFileReport> Files);

/// <summary>A member of a restored data directory's configuration (empty addresses when the configuration gives none).</summary>
internal sealed record RestoreMember(int Id, string PeerAddress, string HttpEndpoint, bool Voter);

/// <summary>A file <c>snapshot restore</c> wrote.</summary>
internal sealed record RestoreFileReport(string Path, long Bytes);

/// <summary>What <c>lease revoke --output json</c> prints.</summary>
internal sealed record RevokeReport(ulong Id, bool Revoked);

/// <summary>What <c>lock</c> prints once its command has run.</summary>
internal sealed record LockReport(string Name, string Owner, ulong FencingToken, int ExitCode);

/// <summary>
/// raftctl's own JSON: the config file and the reports that have no shape in the API (the API's answers are written
/// with <c>Raft.Protocol</c>'s context). camelCase, nulls left out, as the API's.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ConfigFile))]
[JsonSerializable(typeof(StatusReport))]
[JsonSerializable(typeof(CheckReport))]
[JsonSerializable(typeof(LeaderReport))]
[JsonSerializable(typeof(SnapshotReport))]
[JsonSerializable(typeof(RestoreReport))]
[JsonSerializable(typeof(RevokeReport))]
[JsonSerializable(typeof(LockReport))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
