using System.Globalization;
using System.Text;

namespace Raft.FailoverBench.Report;

internal static partial class Tables
{
    /// <summary>The startup mode's table: start times and idle memory, targets side by side, with ratios to ours.</summary>
    public static string Startup(IReadOnlyList<StartupResult> startup, IReadOnlyList<string> targets)
    {
        ArgumentNullException.ThrowIfNull(startup);
        ArgumentNullException.ThrowIfNull(targets);
        var ratioTargets = RatioTargets(targets);
        var byTarget = targets.ToDictionary(t => t, t => startup.FirstOrDefault(r => r.Target == t));
        var starts = string.Join(", ", targets.Select(t => $"{t} {byTarget[t]?.ReadyMs.Count ?? 0}"));
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"startup (follower starts: {starts})\n\n");
        text.Append("| metric | ").AppendJoin(" | ", targets);
        foreach (var t in ratioTargets)
        {
            text.Append(CultureInfo.InvariantCulture, $" | {t} ÷ ours");
        }

        text.Append(" |\n| --- |").Append(string.Concat(Enumerable.Repeat(" --: |", targets.Count + ratioTargets.Count))).Append('\n');
        Row(text, "cluster start to leader (ms)", targets, ratioTargets, targets.ToDictionary(t => t, t => byTarget[t]?.ClusterStartMs));
        Row(text, "follower start to serving p50 (ms)", targets, ratioTargets, targets.ToDictionary(t => t, t => byTarget[t]?.ReadyP50Ms));
        Row(text, "follower start to serving max (ms)", targets, ratioTargets, targets.ToDictionary(t => t, t => byTarget[t]?.ReadyMaxMs));
        var nodes = startup.Count == 0 ? 0 : startup.Max(r => r.Memory.Count == 0 ? 0 : r.Memory.Max(m => m.Node));
        for (var node = 1; node <= nodes; node++)
        {
            var n = node;
            Row(text, $"idle resident node {n} (MiB)", targets, ratioTargets, targets.ToDictionary(t => t, t => Mib(byTarget[t]?.Memory.FirstOrDefault(m => m.Node == n)?.RssBytes)));
        }

        Row(text, "idle resident anonymous, most of a node (MiB)", targets, ratioTargets, targets.ToDictionary(t => t, t => Mib(byTarget[t]?.Memory.Select(m => (long?)m.RssAnonBytes).Max())));
        return text.Append('\n').ToString();

        static double? Mib(long? bytes) => bytes / (1024.0 * 1024.0);
    }
}
