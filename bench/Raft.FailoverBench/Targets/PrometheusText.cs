using System.Globalization;

namespace Raft.FailoverBench.Targets;

/// <summary>The samples without labels of a Prometheus text exposition (format 0.0.4), by name.</summary>
internal static class PrometheusText
{
    public static Dictionary<string, double> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#' || line.Contains('{', StringComparison.Ordinal))
            {
                continue;
            }

            // name value [timestamp]
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length >= 2 && double.TryParse(words[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                samples[words[0]] = value;
            }
        }

        return samples;
    }
}
