using System.Diagnostics;
using System.Text;

namespace Raft.FailoverBench.Targets;

/// <summary>
/// Command-line tools a target runs (a backup, a restore), each killed by its id if it outlives its time limit, or
/// when <see cref="KillAll"/> is called as the run ends. Its output is kept, up to the last few kilobytes.
/// </summary>
internal sealed class ToolProcesses
{
    private const int OutputCharsKept = 4096;

    private readonly Lock _gate = new();
    private readonly HashSet<Process> _running = [];

    public async Task<ToolOutcome> RunAsync(ProcessStartInfo info, TimeSpan limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        info.UseShellExecute = false;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        var output = new StringBuilder();
        void Keep(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(line);
                if (output.Length > 2 * OutputCharsKept)
                {
                    output.Remove(0, output.Length - OutputCharsKept);
                }
            }
        }

        Process process;
        lock (_gate)
        {
            process = Process.Start(info) ?? throw new BenchException($"could not start {info.FileName}");
            _running.Add(process);
        }

        try
        {
            process.OutputDataReceived += (_, e) => Keep(e.Data);
            process.ErrorDataReceived += (_, e) => Keep(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(limit);
            try
            {
                await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Kill(process);
                await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                Keep($"killed after {limit.TotalSeconds:F0} s");
                return new ToolOutcome(-1, Tail(output));
            }

            // WaitForExitAsync has also waited for the redirected output to reach its end.
            return new ToolOutcome(process.ExitCode, Tail(output));
        }
        finally
        {
            lock (_gate)
            {
                _running.Remove(process);
            }

            process.Dispose();
        }
    }

    /// <summary>kill -9 every tool still running, without waiting.</summary>
    public void KillAll()
    {
        lock (_gate)
        {
            foreach (var process in _running)
            {
                Kill(process);
            }
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // It exited in the meantime.
        }
    }

    private static string Tail(StringBuilder output)
    {
        lock (output)
        {
            var text = output.ToString();
            return text.Length <= OutputCharsKept ? text.TrimEnd() : text[^OutputCharsKept..].TrimEnd();
        }
    }
}
