using System.Text.Json;

namespace Raft.Protocol;

/// <summary>
/// The body of <c>POST /v1/cluster/members</c>: the new member's id, its two addresses, whether it joins as a learner
/// (the default), and, from a node joining on its own, the highest cluster version it supports.
/// </summary>
public sealed record MemberRequest(int Id, string PeerAddress, string HttpEndpoint, bool Learner, int? SupportsVersion = null);

/// <summary>
/// Reads a <see cref="MemberRequest"/> body field by field, so that every problem is named in the API's own words.
/// Field names match in any case; unknown fields are ignored; each known one may appear once.
/// </summary>
public static class MemberRequestReader
{
    private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 16 };

    /// <summary>The request, or null with <paramref name="problem"/> saying what is wrong with the body.</summary>
    public static MemberRequest? TryRead(ReadOnlySpan<byte> utf8, out string? problem)
    {
        int? id = null;
        string? peer = null;
        string? http = null;
        var learner = true;
        int? supports = null;
        problem = null;
        if (utf8.Trim(" \t\r\n"u8).IsEmpty)
        {
            problem = "the body must be one JSON object: {\"id\":4,\"peerAddress\":\"host:port\",\"httpEndpoint\":\"http://host:port\",\"learner\":true}";
            return null;
        }

        try
        {
            var reader = new Utf8JsonReader(utf8, Options);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                problem = "the body must be one JSON object: {\"id\":4,\"peerAddress\":\"host:port\",\"httpEndpoint\":\"http://host:port\",\"learner\":true}";
                return null;
            }

            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                reader.Read();
                if (!seen.Add(name) && IsKnown(name))
                {
                    problem ??= $"the field '{name}' appears more than once";
                }

                if (name.Equals("id", StringComparison.OrdinalIgnoreCase))
                {
                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value) && value > 0)
                    {
                        id = value;
                    }
                    else
                    {
                        problem ??= "id must be a positive integer";
                    }
                }
                else if (name.Equals("peerAddress", StringComparison.OrdinalIgnoreCase))
                {
                    peer = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    problem ??= peer is null ? "peerAddress must be a string, host:port" : null;
                }
                else if (name.Equals("httpEndpoint", StringComparison.OrdinalIgnoreCase))
                {
                    http = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    problem ??= http is null ? "httpEndpoint must be a string, an absolute http(s) URL" : null;
                }
                else if (name.Equals("supportsVersion", StringComparison.OrdinalIgnoreCase))
                {
                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value) && value > 0)
                    {
                        supports = value;
                    }
                    else
                    {
                        problem ??= "supportsVersion must be a positive integer";
                    }
                }
                else if (name.Equals("learner", StringComparison.OrdinalIgnoreCase))
                {
                    if (reader.TokenType is JsonTokenType.True or JsonTokenType.False)
                    {
                        learner = reader.GetBoolean();
                    }
                    else
                    {
                        problem ??= "learner must be true or false";
                    }
                }

                reader.Skip();
            }

            if (reader.Read())
            {
                problem ??= "the body must be one JSON object and nothing after it";
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // GetString throws InvalidOperationException for a string that is not UTF-8 or escapes a lone surrogate.
            problem = "the body is not valid JSON";
            return null;
        }

        if (problem is not null)
        {
            return null;
        }

        problem = id is null ? "id is required"
            : peer is null ? "peerAddress is required"
            : http is null ? "httpEndpoint is required"
            : AddressProblem(peer, http);
        return problem is null ? new MemberRequest(id!.Value, peer!, http!, learner, supports) : null;
    }

    /// <summary>Whether <paramref name="endpoint"/> is <c>host:port</c> with a port from 1 to 65535 and no blanks: a peer endpoint.</summary>
    public static bool IsHostPort(string? endpoint)
    {
        var colon = endpoint?.LastIndexOf(':') ?? -1;
        return colon > 0
            && int.TryParse(endpoint.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            && port is >= 1 and <= 65535 && !endpoint!.Any(char.IsWhiteSpace);
    }

    /// <summary>What is wrong with a member's addresses, or null: a host:port peer endpoint and an absolute http(s) URL, each at most 255 bytes.</summary>
    public static string? AddressProblem(string peer, string http)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(http);
        if (!IsHostPort(peer) || peer.Length > 255)
        {
            return $"peerAddress must be host:port (got '{peer}')";
        }

        if (!Uri.TryCreate(http, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || http.Length > 255 || uri.PathAndQuery != "/")
        {
            return $"httpEndpoint must be an absolute http(s) URL with no path (got '{http}')";
        }

        return null;
    }

    private static bool IsKnown(string name) =>
        name.Equals("id", StringComparison.OrdinalIgnoreCase) || name.Equals("peerAddress", StringComparison.OrdinalIgnoreCase)
        || name.Equals("httpEndpoint", StringComparison.OrdinalIgnoreCase) || name.Equals("learner", StringComparison.OrdinalIgnoreCase)
        || name.Equals("supportsVersion", StringComparison.OrdinalIgnoreCase);
}
