using System.Globalization;
using System.Text;

namespace Raft.Cli;

/// <summary>How values and times read in a table.</summary>
internal static class Text
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>A value as text when it is UTF-8 without control characters, otherwise as <c>base64:...</c>.</summary>
    public static string Show(byte[]? value)
    {
        if (value is null)
        {
            return string.Empty;
        }

        try
        {
            var text = StrictUtf8.GetString(value);
            return text.Any(char.IsControl) ? "base64:" + Convert.ToBase64String(value) : text;
        }
        catch (DecoderFallbackException)
        {
            return "base64:" + Convert.ToBase64String(value);
        }
    }

    public static string Number(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Optional(ulong? value) => value is { } v ? Number(v) : "-";

    public static string Time(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
