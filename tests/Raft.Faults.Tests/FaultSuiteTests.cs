using System.Globalization;
using Xunit.Abstractions;

namespace Raft.Faults.Tests;

/// <summary>A fact that skips, saying why, where network namespaces cannot be made (not Linux, not root, no iproute2).</summary>
internal sealed class NetworkNamespacesFactAttribute : FactAttribute
{
    public NetworkNamespacesFactAttribute()
    {
        if (NetworkLab.WhyUnavailable() is { } why)
        {
            Skip = $"the network fault suite needs network namespaces: {why}";
        }
    }
}

public sealed class FaultSuiteTests(ITestOutputHelper output)
{
    /// <summary>
    /// A short seeded run: every fault kind at least once (partitions, the leader alone, a bridge, packet loss, kill -9,
    /// SIGSTOP) under concurrent reads, writes, compare-and-sets and session repeats, then zero anomalies.
    /// <c>FAULTS_DURATION_S</c> and <c>FAULTS_SEED</c> change its length and seed.
    /// </summary>
    [NetworkNamespacesFact]
    public async Task Partitions_kills_pauses_and_loss_leave_a_linearizable_history()
    {
        var seed = Environment.GetEnvironmentVariable("FAULTS_SEED") is { Length: > 0 } s ? ulong.Parse(s, CultureInfo.InvariantCulture) : 14UL;
        var seconds = Environment.GetEnvironmentVariable("FAULTS_DURATION_S") is { Length: > 0 } d ? double.Parse(d, CultureInfo.InvariantCulture) : 40;
        var options = new FaultRunOptions { Seed = seed, Duration = TimeSpan.FromSeconds(seconds) };

        var report = await FaultRun.RunAsync(options, output.WriteLine);
        output.WriteLine(report.ToString());

        Assert.True(report.Passed, $"seed={seed}: {report.Anomalies.Count} anomalies; history in {report.HistoryPath}\n{string.Join('\n', report.Anomalies)}");
        Assert.Equal(FaultSchedule.Kinds(report.PacketLoss).Count, report.Faults.Select(f => f.Kind).Distinct().Count());
        Assert.True(report.Answered > 0 && report.ByKind.GetValueOrDefault(ClientOpKind.CompareAndSet) > 0 && report.SessionRepeats > 0, "the workload made no progress");
        Directory.Delete(report.Directory, recursive: true);
    }
}
