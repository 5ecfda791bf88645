using System.Buffers;
using System.Text;

namespace Raft.Protocol;

/// <summary>What is wrong with an escaped name, if anything.</summary>
public enum NameProblem
{
    /// <summary>The name decoded.</summary>
    None,

    /// <summary>A <c>%</c> not followed by two hexadecimal digits.</summary>
    BadEscape,

    /// <summary>The bytes after percent-decoding are not UTF-8.</summary>
    NotUtf8,

    /// <summary>A <c>.</c> or <c>..</c> segment between slashes, which HTTP clients resolve away before sending.</summary>
    DotSegment,
}

/// <summary>
/// How a key or lock name is written in a path. The name is the percent-decoding of everything after the route's
/// prefix, as UTF-8, with <c>%2F</c> decoded like any other escape: <c>jobs/nightly</c> and <c>jobs%2Fnightly</c> are
/// the same name. Clients escape a name as one segment (<see cref="Escape"/>), curl users write slashes as they
/// are, and both reach the same key or lock. A name with a <c>.</c> or <c>..</c> segment is refused: curl, browsers
/// and <see cref="Uri"/> resolve such segments before a request is sent, so one name would reach the server as
/// another depending on the caller.
/// </summary>
public static class ResourceName
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Escapes <paramref name="name"/> for a path: every character outside RFC 3986's unreserved set, <c>/</c> and <c>%</c> included.</summary>
    public static string Escape(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Uri.EscapeDataString(name);
    }

    /// <summary>
    /// Decodes an escaped name (<paramref name="plusIsSpace"/>: a query value, where <c>+</c> is a space).
    /// <paramref name="checkSegments"/> refuses <c>.</c> and <c>..</c> segments (names in paths).
    /// </summary>
    public static NameProblem TryUnescape(ReadOnlySpan<char> escaped, bool plusIsSpace, bool checkSegments, out string name)
    {
        name = string.Empty;
        var rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(escaped.Length));
        try
        {
            var length = 0;
            for (var i = 0; i < escaped.Length; i++)
            {
                var c = escaped[i];
                if (c == '%')
                {
                    if (i + 2 >= escaped.Length || !IsHex(escaped[i + 1]) || !IsHex(escaped[i + 2]))
                    {
                        return NameProblem.BadEscape;
                    }

                    rented[length++] = (byte)((HexValue(escaped[i + 1]) << 4) | HexValue(escaped[i + 2]));
                    i += 2;
                }
                else if (c == '+' && plusIsSpace)
                {
                    rented[length++] = (byte)' ';
                }
                else if (c < 0x80)
                {
                    rented[length++] = (byte)c;
                }
                else
                {
                    // A request target is ASCII by HTTP's rules: a character beyond it was sent unescaped, and which
                    // bytes it stood for is a guess.
                    return NameProblem.NotUtf8;
                }
            }

            try
            {
                name = StrictUtf8.GetString(rented, 0, length);
            }
            catch (DecoderFallbackException)
            {
                return NameProblem.NotUtf8;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        return checkSegments && HasDotSegment(name) ? NameProblem.DotSegment : NameProblem.None;
    }

    /// <summary>Whether <paramref name="name"/> has a <c>.</c> or <c>..</c> segment between slashes.</summary>
    public static bool HasDotSegment(string name)
    {
        foreach (var segment in name.AsSpan().Split('/'))
        {
            if (name.AsSpan(segment) is "." or "..")
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
