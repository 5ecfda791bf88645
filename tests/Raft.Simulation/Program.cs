using System.Diagnostics;
using System.Globalization;

namespace Raft.Simulation;

/// <summary>
/// The simulator as a console: <c>dotnet run -c Release --project tests/Raft.Simulation -- --seeds 500 --first-seed 1000</c>
/// runs seeds 1000..1499; <c>-- --seed N --verbose</c> replays one seed with a trace of every event.
/// </summary>
public static class Program
{
    public const int DefaultFaultTicks = 3000;

    public static int Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        ulong first = 1;
        var count = 100;
        var ticks = DefaultFaultTicks;
        var verbose = false;
        var replayArguments = string.Empty;
        Func<SimulationConfig, SimulationConfig> adjust = config => config;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seed":
                    first = ulong.Parse(args[++i], CultureInfo.InvariantCulture);
                    count = 1;
                    break;
                case "--first-seed":
                    first = ulong.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--seeds":
                    count = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--ticks":
                    ticks = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--verbose":
                    verbose = true;
                    break;
                case "--pauses":
                    // Every seed stops its leader often, with leases on: what the pause tests run.
                    adjust = PauseTests.WithPauses;
                    replayArguments += " --pauses";
                    break;
                case "--no-lease-invariant":
                    var before = adjust;
                    adjust = config => before(config) with { CheckLeaseInvariant = false };
                    replayArguments += " --no-lease-invariant";
                    break;
                case "--watch-fault":
                    var fault = Enum.Parse<WatchFault>(args[++i], ignoreCase: true);
                    var unfaulted = adjust;
                    adjust = config => unfaulted(config) with { WatchFault = fault };
                    replayArguments += $" --watch-fault {fault}";
                    break;
                case "--resume-without-elapsed":
                    var inner = adjust;
                    adjust = config => inner(config) with { ResumeWithElapsedTicks = false };
                    replayArguments += " --resume-without-elapsed";
                    break;
                case "--no-lease-holders":
                    var withHolders = adjust;
                    adjust = config => withHolders(config) with { Leases = LeaseWorkload.None };
                    replayArguments += " --no-lease-holders";
                    break;
                case "--lease-clock-step":
                    // Leaders' clocks jump ahead beyond the allowed skew: what the lease tests break on purpose.
                    var stepMs = long.Parse(args[++i], CultureInfo.InvariantCulture);
                    var unstepped = adjust;
                    adjust = config => LeaseTests.WithClockSteps(unstepped(config), stepMs);
                    replayArguments += $" --lease-clock-step {stepMs}";
                    break;
                default:
                    Console.Error.WriteLine($"unknown argument {args[i]}; use --seeds N --first-seed S [--ticks T] or --seed S [--verbose], with --pauses, --resume-without-elapsed and --watch-fault DropOne|RepeatOne to change every seed's faults");
                    return 2;
            }
        }

        if (verbose)
        {
            var traced = Simulator.Run(adjust(SimulationConfig.FromSeed(first, ticks)), Console.Out);
            Console.WriteLine(traced.Passed ? $"seed={first} passed" : $"seed={first} FAILED: {traced.Failure}");
            return traced.Passed ? 0 : 1;
        }

        var stopwatch = Stopwatch.StartNew();
        var outcome = SeedRunner.Run(first, count, ticks, Console.Out, adjust, replayArguments);
        Console.WriteLine($"{outcome.Ticks} ticks simulated in {stopwatch.Elapsed.TotalSeconds:F1} s: {outcome.Elections} elections, {outcome.Writes} acknowledged writes and {outcome.Reads} reads checked, {outcome.Snapshots}, {outcome.Membership}, {outcome.Watches}, {outcome.Leases}");
        Console.WriteLine($"{outcome.Passed} seeds passed, {outcome.Failed} failed");
        return outcome.Failed == 0 ? 0 : 1;
    }
}

/// <summary>Runs a range of seeds on every core and reports each failure with the command that replays it.</summary>
internal static class SeedRunner
{
    public sealed record Outcome(int Passed, int Failed, long Ticks, long Elections, long Writes, long Reads, SnapshotCounts Snapshots, IReadOnlyList<SimulationResult> Failures)
    {
        public MembershipCounts Membership { get; init; } = new();

        public WatchCounts Watches { get; init; } = new();
        public LeaseCounts Leases { get; init; } = new();
    }

    public static Outcome Run(ulong first, int count, int faultTicks, TextWriter output, Func<SimulationConfig, SimulationConfig>? adjust = null, string replayArguments = "")
    {
        var failures = new List<SimulationResult>();
        var passed = 0;
        long ticks = 0, elections = 0, writes = 0, reads = 0;
        var snapshots = new SnapshotCounts();
        var membership = new MembershipCounts();
        var watches = new WatchCounts();
        var leases = new LeaseCounts();
        var gate = new object();
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var seed = first + (ulong)i;
            var config = SimulationConfig.FromSeed(seed, faultTicks);
            var result = Simulator.Run(adjust is null ? config : adjust(config));
            lock (gate)
            {
                ticks += result.Ticks;
                elections += result.Elections;
                writes += result.Writes;
                reads += result.Reads;
                snapshots = snapshots.Add(result.Snapshots);
                membership = membership.Add(result.Membership);
                watches = watches.Add(result.Watches);
                leases = leases.Add(result.Leases);
                if (result.Passed)
                {
                    passed++;
                }
                else
                {
                    failures.Add(result);
                    output.WriteLine($"seed={seed} FAILED: {result.Failure}");
                    output.WriteLine($"  {result.Config}");
                    output.WriteLine($"  replay: dotnet run -c Release --project tests/Raft.Simulation -- --seed {seed}{replayArguments} --verbose");
                }
            }
        });

        return new Outcome(passed, failures.Count, ticks, elections, writes, reads, snapshots, failures) { Membership = membership, Watches = watches, Leases = leases };
    }
}
