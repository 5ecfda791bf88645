using System.Diagnostics;
using System.Globalization;

namespace Raft.FailoverBench.Harness;

/// <summary>
/// A competitor for the processors, the same for every target: one <c>/bin/sh -c 'while :; do :; done'</c> per core,
/// each a shell loop that makes no system call and so keeps one core busy, at the bench's own priority (normally nice
/// 0, the same as the nodes'). Started before a target's cluster and killed by process id when its run ends, also when
/// the bench is interrupted (<see cref="Kill"/> may be called from any thread, more than once).
/// </summary>
internal sealed class CpuContention : IDisposable
{
    public const string Shell = "/bin/sh";

    public const string Loop = "while :; do :; done";

    private readonly Lock _gate = new();
    private readonly List<Process> _spinners = [];

    private CpuContention()
    {
    }

    /// <summary>What results.json and the tables say was running beside every target.</summary>
    public static string Describe(int spinners) =>
        string.Create(CultureInfo.InvariantCulture, $"{spinners} x {Shell} -c '{Loop}' (one per core, the bench's priority)");

    public IReadOnlyList<int> Pids
    {
        get
        {
            lock (_gate)
            {
                return [.. _spinners.Select(p => p.Id)];
            }
        }
    }

    /// <summary>Starts <paramref name="spinners"/> loops; if one cannot start, those already started are killed.</summary>
    public static CpuContention Start(int spinners)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(spinners, 1);
        if (!File.Exists(Shell))
        {
            throw new BenchException($"--contention needs {Shell}");
        }

        var contention = new CpuContention();
        try
        {
            for (var i = 0; i < spinners; i++)
            {
                var info = new ProcessStartInfo(Shell) { UseShellExecute = false };
                info.ArgumentList.Add("-c");
                info.ArgumentList.Add(Loop);
                lock (contention._gate)
                {
                    contention._spinners.Add(Process.Start(info) ?? throw new BenchException($"could not start {Shell} for --contention"));
                }
            }
        }
        catch
        {
            contention.Dispose();
            throw;
        }

        return contention;
    }

    /// <summary>kill -9 of every loop, by its id, without waiting.</summary>
    public void Kill()
    {
        lock (_gate)
        {
            foreach (var spinner in _spinners)
            {
                try
                {
                    if (!spinner.HasExited)
                    {
                        spinner.Kill();
                    }
                }
                catch (InvalidOperationException)
                {
                    // It exited in the meantime.
                }
            }
        }
    }

    /// <summary>Kills every loop and waits (up to 10 s each) until it is gone.</summary>
    public void Dispose()
    {
        Kill();
        lock (_gate)
        {
            foreach (var spinner in _spinners)
            {
                spinner.WaitForExit(TimeSpan.FromSeconds(10));
                spinner.Dispose();
            }

            _spinners.Clear();
        }
    }
}
