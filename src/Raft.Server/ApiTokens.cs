using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace Raft.Server;

/// <summary>What a request needs (on an endpoint), or what a token allows. Each role includes the ones before it.</summary>
public enum ApiRole
{
    /// <summary>Needs no token: the health checks, and the metrics when <see cref="AuthOptions.OpenMetrics"/>.</summary>
    Open,

    /// <summary>Reads: keys, listings, watches, locks, leases, the cluster's status and members.</summary>
    Read,

    /// <summary>Writes: keys, locks, leases, transactions.</summary>
    Write,

    /// <summary>Operations on the cluster: members, leadership transfer, backups.</summary>
    Admin,
}

/// <summary>
/// A known caller: the token's name, its role, and the key prefixes it is limited to (empty: every key).
/// </summary>
internal sealed class ApiCaller(string name, ApiRole role, string[] prefixes)
{
    public string Name { get; } = name;

    public ApiRole Role { get; } = role;

    public IReadOnlyList<string> Prefixes { get; } = prefixes;

    public bool IsScoped => Prefixes.Count > 0;

    /// <summary>A key or lock name this caller may touch: under one of its prefixes.</summary>
    public bool Allows(string name)
    {
        foreach (var prefix in Prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return !IsScoped;
    }
}

/// <summary>
/// The tokens a node accepts, kept only as SHA-256 hashes. A presented token is hashed and compared with every known
/// hash in constant time (<see cref="CryptographicOperations.FixedTimeEquals"/>), all of them each time, so neither
/// how much of a token matched nor which entry matched shows in the time an answer takes.
/// </summary>
internal sealed class ApiTokens
{
    /// <summary>The shortest token accepted in clear: guessing one must be hopeless.</summary>
    public const int TokenCharsMin = 16;

    private readonly (byte[] Hash, ApiCaller Caller)[] _entries;

    private ApiTokens((byte[] Hash, ApiCaller Caller)[] entries, string? nodeCredential)
    {
        _entries = entries;
        NodeCredential = nodeCredential;
    }

    /// <summary>No tokens: the API is open (<see cref="Find"/> is never asked).</summary>
    public static ApiTokens None { get; } = new([], null);

    /// <summary>Requests need a token.</summary>
    public bool Enabled => _entries.Length > 0;

    /// <summary>The token this node sends to other nodes (null when tokens are off).</summary>
    public string? NodeCredential { get; }

    /// <summary>The caller <paramref name="token"/> belongs to, or null.</summary>
    public ApiCaller? Find(ReadOnlySpan<char> token)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        HashOf(token, hash);
        ApiCaller? found = null;
        foreach (var (known, caller) in _entries)
        {
            // Every entry is compared, with no early exit: hashes are unique (checked at load), so at most one matches.
            if (CryptographicOperations.FixedTimeEquals(known, hash))
            {
                found = caller;
            }
        }

        return found;
    }

    /// <summary>Sets the node's credential on <paramref name="client"/>'s requests, when tokens are on.</summary>
    public void Authorize(HttpClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (NodeCredential is { } token)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(Protocol.ApiHeaders.BearerScheme, token);
        }
    }

    /// <summary>
    /// The tokens of <paramref name="options"/> and its <see cref="AuthOptions.TokensFile"/>, or null with every problem
    /// in <paramref name="errors"/>.
    /// </summary>
    public static ApiTokens? Load(AuthOptions options, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(errors);
        var given = options.Tokens.Select((t, i) => (Token: t, Where: $"Node:Auth:Tokens:{i}")).ToList();
        if (!string.IsNullOrWhiteSpace(options.TokensFile))
        {
            if (ReadFile(options.TokensFile, errors) is not { } fromFile)
            {
                return null;
            }

            given.AddRange(fromFile.Select((t, i) => (t, $"{options.TokensFile}: tokens[{i}]")));
        }

        var entries = new List<(byte[] Hash, ApiCaller Caller)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        string? firstAdmin = null;
        foreach (var (token, where) in given)
        {
            var before = errors.Count;
            var name = token.Name?.Trim();
            if (string.IsNullOrEmpty(name))
            {
                errors.Add($"{where}: a token needs a name");
            }
            else if (!names.Add(name))
            {
                errors.Add($"{where}: the name '{name}' is given to another token too");
            }

            var hash = HashOf(token, where, errors);
            var role = RoleOf(token.Roles, where, errors);
            if (token.Prefixes.Any(string.IsNullOrEmpty))
            {
                errors.Add($"{where}: a prefix may not be empty (give no prefixes for every key)");
            }

            if (errors.Count > before)
            {
                continue;
            }

            if (entries.Any(e => e.Hash.AsSpan().SequenceEqual(hash)))
            {
                errors.Add($"{where}: the same token is given to another name too");
                continue;
            }

            entries.Add((hash!, new ApiCaller(name!, role, [.. token.Prefixes.Distinct(StringComparer.Ordinal)])));
            if (firstAdmin is null && role == ApiRole.Admin && token.Prefixes.Count == 0 && !string.IsNullOrEmpty(token.Token))
            {
                firstAdmin = token.Token;
            }
        }

        if (errors.Count > 0)
        {
            return null;
        }

        if (entries.Count == 0)
        {
            return None;
        }

        var table = new ApiTokens([.. entries], options.NodeToken ?? firstAdmin);
        if (table.NodeCredential is null)
        {
            errors.Add("Node:Auth:NodeToken must be set (or one admin token without prefixes given in clear): with tokens on, a node needs one to call other nodes' APIs");
        }
        else if (table.Find(table.NodeCredential) is not { Role: ApiRole.Admin, IsScoped: false })
        {
            errors.Add("Node:Auth:NodeToken must be one of the tokens, with the admin role and no prefixes");
        }

        return errors.Count > 0 ? null : table;
    }

    private static List<ApiTokenOptions>? ReadFile(string path, List<string> errors)
    {
        try
        {
            var file = new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(path), optional: false, reloadOnChange: false).Build();
            return file.Get<TokenFile>()?.Tokens ?? [];
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or FormatException or InvalidOperationException or UnauthorizedAccessException)
        {
            errors.Add($"Node:Auth:TokensFile '{path}' could not be read: {ex.Message}");
            return null;
        }
    }

    private static byte[]? HashOf(ApiTokenOptions token, string where, List<string> errors)
    {
        if (string.IsNullOrEmpty(token.Token) == string.IsNullOrEmpty(token.Sha256))
        {
            errors.Add($"{where}: give exactly one of token and sha256");
            return null;
        }

        if (token.Token is { Length: > 0 } clear)
        {
            if (clear.Length < TokenCharsMin || clear.Any(char.IsWhiteSpace) || clear.Any(char.IsControl))
            {
                errors.Add($"{where}: a token has at least {TokenCharsMin} characters, none of them spaces or control characters");
                return null;
            }

            var hash = new byte[SHA256.HashSizeInBytes];
            HashOf(clear, hash);
            return hash;
        }

        try
        {
            var hash = Convert.FromHexString(token.Sha256!);
            if (hash.Length == SHA256.HashSizeInBytes)
            {
                return hash;
            }
        }
        catch (FormatException)
        {
            // Reported below, as a wrong length is.
        }

        errors.Add($"{where}: sha256 must be {2 * SHA256.HashSizeInBytes} hexadecimal digits (the SHA-256 of the token's UTF-8 bytes)");
        return null;
    }

    private static ApiRole RoleOf(List<string> roles, string where, List<string> errors)
    {
        var role = ApiRole.Open;
        foreach (var name in roles)
        {
            ApiRole? parsed = name?.Trim().ToLowerInvariant() switch
            {
                "read" => ApiRole.Read,
                "write" => ApiRole.Write,
                "admin" => ApiRole.Admin,
                _ => null,
            };
            if (parsed is null)
            {
                errors.Add($"{where}: role '{name}' is not read, write or admin");
                continue;
            }

            role = (ApiRole)Math.Max((int)role, (int)parsed.Value);
        }

        if (roles.Count == 0)
        {
            errors.Add($"{where}: a token needs a role: read, write or admin");
        }

        return role;
    }

    private static void HashOf(ReadOnlySpan<char> token, Span<byte> hash)
    {
        // A token is short (the headers' limit bounds it); its UTF-8 fits the stack, or the heap past that.
        var bytes = Encoding.UTF8.GetMaxByteCount(token.Length) <= 1024
            ? stackalloc byte[1024]
            : new byte[Encoding.UTF8.GetMaxByteCount(token.Length)];
        var length = Encoding.UTF8.GetBytes(token, bytes);
        SHA256.HashData(bytes[..length], hash);
        CryptographicOperations.ZeroMemory(bytes[..length]);
    }

    internal sealed class TokenFile
    {
        public List<ApiTokenOptions> Tokens { get; set; } = [];
    }
}
