namespace Raft.Simulation;

/// <summary>
/// A leader stopped (SIGSTOP, a VM freeze, a long GC pause) for longer than its lease must not serve a lease read
/// when it resumes: the others may have elected a leader and committed writes meanwhile. The host tells the driver
/// how much monotonic time passed before it serves anything; these seeds stop leaders often and read by lease.
/// </summary>
public sealed class PauseTests
{
    private const int Seeds = 300;

    /// <summary>Pauses often, the leader above all, with CheckQuorum (leases need it) and plenty of lease reads.</summary>
    internal static SimulationConfig WithPauses(SimulationConfig config) => config with
    {
        PauseRate = 0.01,
        CheckQuorum = true,
        PreVote = true,
        WatchLeaderStability = false,
    };

    [Fact]
    public void PausedLeaders_ServeNoStaleLeaseRead_WhenTheHostReportsTheTimeThatPassed()
    {
        var log = new StringWriter();

        var outcome = SeedRunner.Run(first: 50_001, count: Seeds, Program.DefaultFaultTicks, log, WithPauses, " --pauses");

        Assert.True(outcome.Failed == 0, log.ToString());
    }

    [Fact]
    public void PausedLeaders_KeepTheirLease_WhenTheHostReportsOneTick()
    {
        var log = new StringWriter();

        var outcome = SeedRunner.Run(first: 50_001, count: Seeds, Program.DefaultFaultTicks, log, config => WithPauses(config) with { ResumeWithElapsedTicks = false }, " --pauses --resume-without-elapsed");

        Assert.True(outcome.Failed > 0, "without the elapsed time, some resumed leader should still have held its lease");
        Assert.Contains("lease: leader", log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void PausedLeaders_AnswerStaleLeaseReads_WhenTheHostReportsOneTick_AndTheHistoryCheckerSeesThem()
    {
        var log = new StringWriter();

        // Without the per-tick lease invariant, what remains to catch the bug is what the clients saw. Stale reads show
        // in about one seed in 200; the key-value lease holders play no part in them and are left out, so that these
        // seeds run as they did before the holders existed.
        var outcome = SeedRunner.Run(first: 50_001, count: Seeds, Program.DefaultFaultTicks, log,
            config => WithPauses(config) with { ResumeWithElapsedTicks = false, CheckLeaseInvariant = false, Leases = LeaseWorkload.None },
            " --pauses --resume-without-elapsed --no-lease-invariant --no-lease-holders");

        Assert.True(outcome.Failed > 0, "without the elapsed time, some resumed leader should have answered a stale lease read");
        Assert.Contains("linearizability", log.ToString(), StringComparison.Ordinal);
    }
}
