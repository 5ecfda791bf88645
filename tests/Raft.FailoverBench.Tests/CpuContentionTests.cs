using System.Diagnostics;
using Raft.FailoverBench.Harness;

namespace Raft.FailoverBench.Tests;

public sealed class CpuContentionTests
{
    [Fact]
    public void Start_RunsOneLoopPerSpinner_AndDisposeKillsEachById()
    {
        var contention = CpuContention.Start(2);
        var pids = contention.Pids;
        try
        {
            Assert.Equal(2, pids.Distinct().Count());
            Assert.All(pids, pid => Assert.Contains(CpuContention.Loop, CommandLine(pid), StringComparison.Ordinal));

            contention.Dispose();

            Assert.All(pids, pid => Assert.DoesNotContain(CpuContention.Loop, CommandLine(pid), StringComparison.Ordinal));
            Assert.Empty(contention.Pids);
        }
        finally
        {
            // Whatever the assertions found, no loop outlives the test.
            foreach (var pid in pids.Where(pid => CommandLine(pid).Contains(CpuContention.Loop, StringComparison.Ordinal)))
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
            }

            contention.Dispose();
        }
    }

    [Fact]
    public void Describe_SaysWhatRuns()
    {
        Assert.Equal("2 x /bin/sh -c 'while :; do :; done' (one per core, the bench's priority)", CpuContention.Describe(2));
    }

    // The process's command line, NUL-separated as the kernel keeps it; empty once the process is gone.
    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }
}
