using System.Text.Json;

namespace Raft.Protocol;

/// <summary>What is wrong with a lock request body, if anything.</summary>
public enum LockRequestProblem
{
    /// <summary>The body is a JSON object (or <c>null</c>) whose fields have the right types.</summary>
    None,

    /// <summary>Not one JSON value: empty, malformed, not UTF-8, or followed by more.</summary>
    NotJson,

    /// <summary>A JSON value other than an object (or <c>null</c>).</summary>
    NotAnObject,

    /// <summary>A field appears more than once, so which one counts would be a guess.</summary>
    DuplicateField,

    /// <summary><c>owner</c> is not a string.</summary>
    OwnerNotAString,

    /// <summary><c>ttlMs</c> is not a JSON integer (a string such as <c>"10000"</c>, a fraction, or beyond 64 bits).</summary>
    TtlNotAnInteger,

    /// <summary><c>lease</c> is not a JSON integer in [0, 2^64).</summary>
    LeaseNotAnInteger,
}

/// <summary>
/// Reads a <see cref="LockRequest"/> body field by field, so that each problem can be named in the API's own
/// words (a serializer's message names .NET types and byte positions). Field names match in any case, as the
/// serializer's do; unknown fields are ignored.
/// </summary>
public static class LockRequestReader
{
    private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 16 };

    /// <summary>Reads <paramref name="utf8"/>; on <see cref="LockRequestProblem.None"/> the fields found are set (null when absent or null).</summary>
    public static LockRequestProblem TryRead(ReadOnlySpan<byte> utf8, out string? owner, out long? ttlMs) => TryRead(utf8, out owner, out ttlMs, out _);

    /// <summary>Reads <paramref name="utf8"/> with its <c>lease</c> field too (an acquire may name one instead of <c>ttlMs</c>).</summary>
    public static LockRequestProblem TryRead(ReadOnlySpan<byte> utf8, out string? owner, out long? ttlMs, out ulong? lease)
    {
        owner = null;
        ttlMs = null;
        lease = null;

        try
        {
            var reader = new Utf8JsonReader(utf8, Options);
            if (!reader.Read())
            {
                return LockRequestProblem.NotJson;
            }

            LockRequestProblem problem;
            switch (reader.TokenType)
            {
                case JsonTokenType.Null:
                    problem = LockRequestProblem.None;
                    break;
                case JsonTokenType.StartObject:
                    problem = ReadFields(ref reader, out owner, out ttlMs, out lease);
                    break;
                default:
                    reader.Skip();
                    problem = LockRequestProblem.NotAnObject;
                    break;
            }

            // One value and nothing after it: the reader throws on anything but whitespace.
            if (reader.Read())
            {
                return LockRequestProblem.NotJson;
            }

            if (problem != LockRequestProblem.None)
            {
                owner = null;
                ttlMs = null;
                lease = null;
            }

            return problem;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // GetString throws InvalidOperationException for a string that is not UTF-8 or escapes a lone surrogate.
            owner = null;
            ttlMs = null;
            lease = null;
            return LockRequestProblem.NotJson;
        }
    }

    private static LockRequestProblem ReadFields(ref Utf8JsonReader reader, out string? owner, out long? ttlMs, out ulong? lease)
    {
        owner = null;
        ttlMs = null;
        lease = null;
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var duplicate = false;
        var wrongType = LockRequestProblem.None;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            duplicate |= !seen.Add(name);
            reader.Read();
            if (name.Equals("owner", StringComparison.OrdinalIgnoreCase))
            {
                if (reader.TokenType == JsonTokenType.String)
                {
                    owner = reader.GetString();
                }
                else if (reader.TokenType != JsonTokenType.Null && wrongType == LockRequestProblem.None)
                {
                    wrongType = LockRequestProblem.OwnerNotAString;
                }
            }
            else if (name.Equals("ttlMs", StringComparison.OrdinalIgnoreCase))
            {
                if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
                {
                    ttlMs = value;
                }
                else if (reader.TokenType != JsonTokenType.Null && wrongType == LockRequestProblem.None)
                {
                    wrongType = LockRequestProblem.TtlNotAnInteger;
                }
            }
            else if (name.Equals("lease", StringComparison.OrdinalIgnoreCase))
            {
                if (reader.TokenType == JsonTokenType.Number && reader.TryGetUInt64(out var value))
                {
                    lease = value;
                }
                else if (reader.TokenType != JsonTokenType.Null && wrongType == LockRequestProblem.None)
                {
                    wrongType = LockRequestProblem.LeaseNotAnInteger;
                }
            }

            // Nested values (of unknown fields, or of a wrongly typed one) are read past whole.
            reader.Skip();
        }

        // An ambiguous body is reported as such before the type of any of its fields.
        return duplicate ? LockRequestProblem.DuplicateField : wrongType;
    }
}
