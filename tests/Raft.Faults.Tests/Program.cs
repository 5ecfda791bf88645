using System.Globalization;

namespace Raft.Faults.Tests;

/// <summary>
/// The long run: <c>dotnet run -c Release --project tests/Raft.Faults.Tests -- --duration 600 --seed 7</c>.
/// Options: <c>--duration</c> seconds of faults, <c>--seed</c>, <c>--nodes</c>, <c>--clients</c>, <c>--keys</c>,
/// <c>--out</c> folder. Exit code 0 when no anomaly was found, 1 otherwise, 2 where the suite cannot run here.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var options = new FaultRunOptions { Seed = 1, Duration = TimeSpan.FromSeconds(60) };
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = args[i + 1];
            options = args[i] switch
            {
                "--duration" => options with { Duration = TimeSpan.FromSeconds(double.Parse(value, CultureInfo.InvariantCulture)) },
                "--seed" => options with { Seed = ulong.Parse(value, CultureInfo.InvariantCulture) },
                "--nodes" => options with { Nodes = int.Parse(value, CultureInfo.InvariantCulture) },
                "--clients" => options with { Clients = int.Parse(value, CultureInfo.InvariantCulture) },
                "--keys" => options with { Keys = int.Parse(value, CultureInfo.InvariantCulture) },
                "--out" => options with { OutputDirectory = value },
                _ => throw new ArgumentException($"unknown option {args[i]}; known: --duration --seed --nodes --clients --keys --out"),
            };
        }

        if (NetworkLab.WhyUnavailable() is { } why)
        {
            Console.Error.WriteLine($"the network fault suite cannot run here: {why}");
            return 2;
        }

        var report = await FaultRun.RunAsync(options, line => Console.WriteLine(line));
        Console.WriteLine(report);
        if (!report.Passed)
        {
            Console.WriteLine($"FAILED: seed={options.Seed}; replay with --seed {options.Seed} --duration {options.Duration.TotalSeconds:0}");
        }

        return report.Passed ? 0 : 1;
    }
}
