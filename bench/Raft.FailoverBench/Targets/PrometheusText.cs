using System.Globalization;

namespace Raft.FailoverBench.Targets;

/// <summary>
/// The samples of a Prometheus text exposition (format 0.0.4) by name, a labelled one by its name and labels as
/// written (<c>raft_fsync_duration_seconds_bucket{le="0.1"}</c>).
/// </summary>
internal static class PrometheusText
{
    public static Dictionary<string, double> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            // name[{labels}] value [timestamp]; a label's value may hold spaces.
            var nameEnd = line.Contains('{', StringComparison.Ordinal) ? line.LastIndexOf('}') + 1 : line.IndexOf(' ', StringComparison.Ordinal);
            if (nameEnd <= 0)
            {
                continue;
            }

            var words = line[nameEnd..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length >= 1 && double.TryParse(words[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                samples[line[..nameEnd]] = value;
            }
        }

        return samples;
    }
}
