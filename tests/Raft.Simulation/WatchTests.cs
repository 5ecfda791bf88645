namespace Raft.Simulation;

/// <summary>
/// The watch checker in whole runs, against faults put into what the simulated watch clients are delivered: a change
/// lost before a later one, or a change delivered twice. Every seed given such a fault must fail on its watches, with
/// its seed and replay command; the seeds without one pass.
/// </summary>
public sealed class WatchTests
{
    private const int Seeds = 25;

    private const int FaultTicks = 1500;

    [Theory]
    [InlineData("DropOne", "but skipped 1 change(s) before it")]
    [InlineData("RepeatOne", "again or out of order")]
    public void A_lost_or_repeated_change_fails_its_seed(string faultName, string expected)
    {
        var fault = Enum.Parse<WatchFault>(faultName);
        var log = new StringWriter();

        var outcome = SeedRunner.Run(first: 70_001, count: Seeds, FaultTicks, log, config => config with { WatchFault = fault }, $" --ticks {FaultTicks} --watch-fault {fault}");

        var text = log.ToString();
        Assert.True(outcome.Watches.Faults >= Seeds, $"most watches should have been given the fault: {outcome.Watches}");
        Assert.Equal(outcome.Watches.Faults, outcome.Failures.Sum(f => f.Watches.Faults));
        Assert.All(outcome.Failures, f => Assert.StartsWith("SimulationViolation at tick ", f.Failure, StringComparison.Ordinal));
        Assert.All(outcome.Failures, f => Assert.Contains("watches: ", f.Failure, StringComparison.Ordinal));
        Assert.All(outcome.Failures, f => Assert.Contains(expected, f.Failure, StringComparison.Ordinal));
        Assert.All(outcome.Failures, f => Assert.Contains($"seed={f.Seed} FAILED", text, StringComparison.Ordinal));
        Assert.Contains($"--watch-fault {fault} --verbose", text, StringComparison.Ordinal);
    }
}
