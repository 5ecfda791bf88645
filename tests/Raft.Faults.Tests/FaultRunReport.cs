using System.Globalization;
using System.Text;
using Raft.Checking;

namespace Raft.Faults.Tests;

/// <summary>Availability while faults of one kind were active: the operations invoked then, and how many were answered.</summary>
internal sealed record Availability(FaultKind Kind, int Faults, int Operations, int Answered, int Writes, int WritesAnswered)
{
    public double Share => Operations == 0 ? 0 : (double)Answered / Operations;

    public double WriteShare => Writes == 0 ? 0 : (double)WritesAnswered / Writes;
}

/// <summary>What a run did and found: operations by outcome, faults by kind, availability, and every anomaly.</summary>
internal sealed record FaultRunReport
{
    public required FaultRunOptions Options { get; init; }

    public required string Firewall { get; init; }

    /// <summary>Whether packet loss could be injected (iptables is there).</summary>
    public required bool PacketLoss { get; init; }

    public required int Operations { get; init; }

    /// <summary>Answered operations (a refused compare-and-set is an answer).</summary>
    public required int Answered { get; init; }

    /// <summary>Reads that got no answer: they never took effect.</summary>
    public required int Failed { get; init; }

    /// <summary>Writes whose answer never came: they may or may not have taken effect.</summary>
    public required int Indeterminate { get; init; }

    public required IReadOnlyDictionary<ClientOpKind, int> ByKind { get; init; }

    public required int SessionRepeats { get; init; }

    public required IReadOnlyList<FaultWindow> Faults { get; init; }

    public required IReadOnlyList<Availability> Availability { get; init; }

    /// <summary>The share of operations answered outside every fault window.</summary>
    public required double QuietShare { get; init; }

    public required string Linearizability { get; init; }

    public required string SessionsResult { get; init; }

    public required IReadOnlyList<string> Anomalies { get; init; }

    public required string Directory { get; init; }

    public required string HistoryPath { get; init; }

    public bool Passed => Anomalies.Count == 0;

    public static FaultRunReport From(
        FaultRunOptions options, string firewall, bool packetLoss, IReadOnlyList<ClientOpRecord> records, IReadOnlyList<FaultWindow> windows,
        RegisterCheckResult registers, SessionChecker sessions, CheckResult sessionResult, IReadOnlyList<string> anomalies, string directory, string historyPath)
    {
        static bool IsAnswered(ClientOpRecord r) => r.Outcome is RegisterOutcome.Ok or RegisterOutcome.PreconditionFailed or RegisterOutcome.NotFound;
        var checkedOps = records.Where(r => r.Kind != ClientOpKind.Repeat).ToList();
        var availability = new List<Availability>();
        foreach (var group in windows.GroupBy(w => w.Kind).OrderBy(g => g.Key))
        {
            var during = checkedOps.Where(r => group.Any(w => r.InvokedMs >= w.StartMs && r.InvokedMs < w.EndMs)).ToList();
            var writes = during.Where(r => r.Kind != ClientOpKind.Read).ToList();
            availability.Add(new Availability(group.Key, group.Count(), during.Count, during.Count(IsAnswered), writes.Count, writes.Count(IsAnswered)));
        }

        var quiet = checkedOps.Where(r => !windows.Any(w => r.InvokedMs >= w.StartMs && r.InvokedMs < w.EndMs)).ToList();
        return new FaultRunReport
        {
            Options = options,
            Firewall = firewall,
            PacketLoss = packetLoss,
            Operations = checkedOps.Count,
            Answered = checkedOps.Count(IsAnswered),
            Failed = checkedOps.Count(r => r.Outcome == RegisterOutcome.Failed),
            Indeterminate = checkedOps.Count(r => r.Outcome == RegisterOutcome.Unknown),
            ByKind = checkedOps.GroupBy(r => r.Kind).ToDictionary(g => g.Key, g => g.Count()),
            SessionRepeats = records.Count(r => r.Kind == ClientOpKind.Repeat && IsAnswered(r)),
            Faults = windows,
            Availability = availability,
            QuietShare = quiet.Count == 0 ? 0 : (double)quiet.Count(IsAnswered) / quiet.Count,
            Linearizability = registers.Verdict == CheckVerdict.Pass
                ? string.Create(CultureInfo.InvariantCulture, $"pass ({registers.Keys.Count} keys, {registers.Steps} search steps)")
                : registers.Verdict.ToString(),
            SessionsResult = sessionResult.IsPass ? string.Create(CultureInfo.InvariantCulture, $"pass ({sessions.Answers} answers, {sessions.Applied} replica states)") : sessionResult.Verdict.ToString(),
            Anomalies = anomalies,
            Directory = directory,
            HistoryPath = historyPath,
        };
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(c, $"seed={Options.Seed}  faults for {Options.Duration.TotalSeconds:0} s  {Options.Nodes} nodes, {Options.Clients} clients, {Options.Keys} keys");
        text.AppendLine(c, $"network: {Firewall}");
        text.AppendLine(c, $"operations: {Operations} ({Answered} answered, {Failed} failed reads, {Indeterminate} indeterminate writes)");
        var kinds = string.Join(", ", ByKind.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"));
        text.AppendLine(c, $"  by kind: {kinds}; session repeats answered {SessionRepeats}");
        var faults = string.Join(", ", Faults.GroupBy(f => f.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"));
        text.AppendLine(c, $"faults injected: {Faults.Count} ({faults})");
        text.AppendLine("availability while each fault was active (operations invoked then that got an answer):");
        text.AppendLine("  fault               faults  operations  answered  writes answered");
        foreach (var a in Availability)
        {
            text.AppendLine(c, $"  {a.Kind,-18} {a.Faults,7} {a.Operations,11} {a.Share,9:P1} {a.WriteShare,16:P1}");
        }

        text.AppendLine(c, $"  {"(no fault)",-18} {"",7} {"",11} {QuietShare,9:P1}");
        text.AppendLine(c, $"linearizability: {Linearizability}");
        text.AppendLine(c, $"sessions: {SessionsResult}");
        text.AppendLine(c, $"anomalies: {Anomalies.Count}");
        foreach (var anomaly in Anomalies)
        {
            text.AppendLine(c, $"  {anomaly}");
        }

        text.AppendLine(c, $"history: {HistoryPath}");
        return text.ToString();
    }
}
