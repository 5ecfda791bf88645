using System.Diagnostics;
using Xunit.Abstractions;

namespace Raft.Simulation;

public sealed class SimulationTests(ITestOutputHelper output)
{
    /// <summary>Seeds 1..2000, each a 3000-tick fault phase then healing; a failure names its replay command.</summary>
    [Fact]
    public void TwoThousandSeeds_KeepEverySafetyAndLivenessProperty()
    {
        var log = new StringWriter();
        var stopwatch = Stopwatch.StartNew();

        var outcome = SeedRunner.Run(first: 1, count: 2000, Program.DefaultFaultTicks, log);

        output.WriteLine(log.ToString());
        output.WriteLine($"{outcome.Passed} seeds passed, {outcome.Failed} failed; {outcome.Ticks} ticks, {outcome.Elections} elections, {outcome.Writes} writes and {outcome.Reads} reads checked, {outcome.Snapshots}, {outcome.Membership}, {outcome.Watches}, {outcome.Leases}, in {stopwatch.Elapsed.TotalSeconds:F1} s");
        Assert.True(outcome.Failed == 0, log.ToString());
        Assert.Equal(2000, outcome.Passed);
        Assert.True(outcome.Writes > 100_000 && outcome.Reads > 100_000, "the workload must exercise the cluster");

        // Snapshots must go through everything that can go wrong with them: damaged, lost, duplicated chunks, and
        // senders and receivers that crash halfway.
        var snapshots = outcome.Snapshots;
        Assert.True(snapshots.Installed > 1_000 && snapshots.Chunks > 10 * snapshots.Transfers, $"the seeds must stream many snapshots in many chunks: {snapshots}");
        Assert.True(snapshots.Damaged > 100 && snapshots.Refused > snapshots.Damaged && snapshots.CutByCrash > 100, $"the seeds must damage and cut transfers: {snapshots}");

        // Members come and go through the driver's own requests, some refused, and leadership goes back to a
        // preferred leader under every fault.
        var membership = outcome.Membership;
        Assert.True(membership.Committed > 500 && membership.Refused > 100 && membership.Failbacks > 100, $"the seeds must change members and fail back: {membership}");

        // Watches must resume on other nodes, after crashes and restarts among others, be ended for falling behind,
        // and re-read after compaction, every change they got checked against the committed log.
        var watches = outcome.Watches;
        Assert.True(watches.Delivered > 300_000 && watches.Resumed > 20_000 && watches.AfterCrash > 2_000, $"the seeds must deliver changes to watches that resume elsewhere: {watches}");
        Assert.True(watches.Dropped > 2_000 && watches.Rereads > 2_000 && watches.Refused > 1_000, $"the seeds must drop, compact and refuse watches: {watches}");
        // Leases end both ways, every replica's end is checked against the first, and holders contend for a lock
        // bound to their leases.
        var leases = outcome.Leases;
        Assert.True(leases.Expired > 2_000 && leases.Revoked > 500 && leases.KeysDeleted > 2_000 && leases.ReplicaEnds > leases.Expired + leases.Revoked, $"the seeds must grant, keep alive and end leases: {leases}");
        Assert.True(leases.LockGrants > 500 && leases.LockRefusals > 100, $"holders must contend for the lock bound to their leases: {leases}");
    }

    [Fact]
    public void SameSeed_SameRun()
    {
        var first = Simulator.Run(424242, 1500);
        var second = Simulator.Run(424242, 1500);

        Assert.Equal(first, second);
    }

    [Fact]
    public void Trace_ReplaysEveryEvent()
    {
        var trace = new StringWriter();

        var result = Simulator.Run(7, 300, trace);

        Assert.True(result.Passed, result.Failure);
        var text = trace.ToString();
        Assert.Contains("config nodes=", text, StringComparison.Ordinal);
        Assert.Contains("deliver ", text, StringComparison.Ordinal);
        Assert.Contains(" leads term ", text, StringComparison.Ordinal);
    }
}
