using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Raft.Storage.CrashChild;

namespace Raft.Storage.Tests;

/// <summary>
/// A real process appends and fsyncs, several batches per fsync at times, reporting each durable index,
/// and is killed with SIGKILL at seeded random points; every index it reported must come back intact.
/// </summary>
public sealed class ProcessKillTests : IDisposable
{
    private const int Rounds = 5;
    private const long SegmentBytes = 16 * 1024;
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void Every_index_reported_durable_survives_kill_9()
    {
        var random = new Random(20_251_122);
        ulong reportedEver = 0;
        for (var round = 0; round < Rounds; round++)
        {
            // Kill once the child has reported this many more durable entries: a point inside its append loop.
            var killAfter = (ulong)random.Next(50, 3000);
            var (ready, reported) = RunAndKill(random.Next(), killAfter);
            Assert.True(ready >= reportedEver, $"round {round}: the child recovered to {ready}, below the {reportedEver} reported durable earlier");
            reportedEver = Math.Max(reportedEver, reported);

            using var log = FileLogStore.Open(_directory.Path, new FileLogOptions { SegmentBytes = SegmentBytes, EntryBytesMax = CrashPayload.BytesMax });
            Assert.True(log.LastIndex >= reportedEver, $"round {round}: recovered up to {log.LastIndex}, but the child reported {reportedEver} durable");
            for (var first = 1UL; first <= log.LastIndex;)
            {
                using var read = log.Read(first, log.LastIndex, 1 << 20);
                foreach (var entry in read.Span)
                {
                    Assert.True(entry.Data.Span.SequenceEqual(CrashPayload.For(entry.Index)), $"round {round}: entry {entry.Index} came back different");
                }

                first += (ulong)read.Count;
            }
        }

        Assert.True(reportedEver > 0);
    }

    /// <summary>Starts the child, waits until it reports <paramref name="killAfter"/> more durable entries, kills it.</summary>
    private (ulong Ready, ulong Reported) RunAndKill(int seed, ulong killAfter)
    {
        var childPath = Path.Combine(AppContext.BaseDirectory, "Raft.Storage.CrashChild.dll");
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "exec", childPath, _directory.Path, SegmentBytes.ToString(CultureInfo.InvariantCulture), seed.ToString(CultureInfo.InvariantCulture), "1000000" })
        {
            start.ArgumentList.Add(argument);
        }

        using var lines = new BlockingCollection<string>();
        using var child = new Process { StartInfo = start };
        child.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lines.Add(e.Data);
            }
        };
        var errors = new ConcurrentQueue<string>();
        child.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                errors.Enqueue(e.Data);
            }
        };

        Assert.True(child.Start());
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        ulong ready = 0;
        ulong reported = 0;
        try
        {
            var sawReady = false;
            while (!sawReady || reported < ready + killAfter)
            {
                if (!lines.TryTake(out var line, WaitLimit))
                {
                    Assert.Fail($"the child said nothing for {WaitLimit}; stderr: {string.Join('\n', errors)}");
                }

                if (line.StartsWith("ready ", StringComparison.Ordinal))
                {
                    ready = ulong.Parse(line.AsSpan(6), CultureInfo.InvariantCulture);
                    sawReady = true;
                }
                else if (line.StartsWith("durable ", StringComparison.Ordinal))
                {
                    reported = Math.Max(reported, ulong.Parse(line.AsSpan(8), CultureInfo.InvariantCulture));
                }
                else if (line == "done")
                {
                    break;
                }
            }
        }
        finally
        {
            // SIGKILL on Unix: no finalizers, no flush, no disposal.
            if (!child.HasExited)
            {
                child.Kill();
            }

            Assert.True(child.WaitForExit(WaitLimit), "the child did not die");
            child.WaitForExit();
        }

        // Lines that arrived between the last look and the kill count too: they were printed after an fsync.
        while (lines.TryTake(out var line))
        {
            if (line.StartsWith("durable ", StringComparison.Ordinal) && ulong.TryParse(line.AsSpan(8), CultureInfo.InvariantCulture, out var durable))
            {
                reported = Math.Max(reported, durable);
            }
        }

        Assert.True(errors.IsEmpty, string.Join('\n', errors));
        return (ready, reported);
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path
        : "dotnet";
}
