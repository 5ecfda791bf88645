using System.Globalization;

namespace Raft.FailoverBench.Harness;

/// <summary>A process's memory as the kernel counts it in <c>/proc/PID/status</c>, in bytes.</summary>
/// <param name="RssBytes">VmRSS: resident now, anonymous and file-backed (an mmapped database counts here).</param>
/// <param name="RssAnonBytes">RssAnon: resident anonymous memory (heaps, stacks), what the process itself allocated.</param>
/// <param name="PeakRssBytes">VmHWM: the most VmRSS has been since the process started.</param>
internal sealed record ProcessMemory(int Node, int Pid, long RssBytes, long RssAnonBytes, long PeakRssBytes)
{
    /// <summary>Node <paramref name="node"/>'s process <paramref name="pid"/> as it is now; null once it is gone.</summary>
    public static ProcessMemory? Read(int node, int pid)
    {
        try
        {
            return Parse(node, pid, File.ReadAllText($"/proc/{pid}/status"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static ProcessMemory Parse(int node, int pid, string status)
    {
        ArgumentNullException.ThrowIfNull(status);
        long rss = 0, anon = 0, peak = 0;
        foreach (var line in status.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            // "VmRSS:	  123456 kB"
            var words = line[(colon + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length != 2 || words[1] != "kB" || !long.TryParse(words[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
            {
                continue;
            }

            switch (line[..colon])
            {
                case "VmRSS":
                    rss = kib * 1024;
                    break;
                case "RssAnon":
                    anon = kib * 1024;
                    break;
                case "VmHWM":
                    peak = kib * 1024;
                    break;
            }
        }

        return new ProcessMemory(node, pid, rss, anon, peak);
    }
}
