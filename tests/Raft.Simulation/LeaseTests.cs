namespace Raft.Simulation;

/// <summary>
/// The lease checker against a cluster broken on purpose: leaders whose wall clocks jump ahead, beyond the skew the
/// checker allows for, end leases that their holders kept alive through another leader before the holders may stop
/// counting on them; the checker must say so, and name the seed and the command that replays it.
/// </summary>
public sealed class LeaseTests
{
    private const long StepMs = 2000;

    /// <summary>Every few hundred ticks the current leader's clock jumps <paramref name="stepMs"/> ahead.</summary>
    internal static SimulationConfig WithClockSteps(SimulationConfig config, long stepMs) =>
        config with { Leases = (config.Leases ?? LeaseWorkload.FromSeed(config)) with { ClockStepMs = stepMs } };

    [Fact]
    public void Leader_clocks_that_jump_beyond_the_allowed_skew_end_leases_early_and_the_checker_names_the_seed()
    {
        var log = new StringWriter();

        var outcome = SeedRunner.Run(first: 1, count: 40, Program.DefaultFaultTicks, log, config => WithClockSteps(config, StepMs), $" --lease-clock-step {StepMs}");

        var text = log.ToString();
        Assert.True(outcome.Failed >= 5, $"only {outcome.Failed} of 40 seeds caught an early expiry:{Environment.NewLine}{text}");
        Assert.Contains("before its holder could stop believing it live", text, StringComparison.Ordinal);
        Assert.Contains($"--lease-clock-step {StepMs} --verbose", text, StringComparison.Ordinal);
        Assert.All(outcome.Failures, failure => Assert.Contains("leases: ", failure.Failure, StringComparison.Ordinal));
    }
}
