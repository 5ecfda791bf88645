using System.Diagnostics;
using Raft.Server.Launcher;

namespace Raft.FailoverBench.Targets;

/// <summary>
/// The node processes a target starts itself (etcd, DotNext): one slot per node number, each process's output appended
/// to its log file, killed by its own id. The slots are guarded, so <see cref="KillAll"/> may run from Ctrl+C while a
/// trial starts or replaces a node.
/// </summary>
internal sealed class NodeProcesses(string target, int slots) : IAsyncDisposable
{
    private readonly Process?[] _slots = new Process?[slots];
    private readonly Lock _gate = new();

    /// <summary>Starts node <paramref name="node"/>'s process, its standard output and error appended to <paramref name="logPath"/>.</summary>
    public void Start(int node, ProcessStartInfo info, string logPath)
    {
        lock (_gate)
        {
            _slots[node - 1] = NodeProcess.Start(info, logPath);
        }
    }

    public bool IsRunning(int node)
    {
        lock (_gate)
        {
            return _slots[node - 1] is { HasExited: false };
        }
    }

    public int Pid(int node)
    {
        lock (_gate)
        {
            return _slots[node - 1]?.Id ?? throw new InvalidOperationException($"{target} node {node} was never started");
        }
    }

    /// <summary>kill -9 of node <paramref name="node"/>, and waits until the process is gone.</summary>
    public async Task CrashAsync(int node, CancellationToken cancellationToken)
    {
        Process process;
        lock (_gate)
        {
            process = _slots[node - 1] ?? throw new InvalidOperationException($"{target} node {node} is not running");
        }

        if (!process.HasExited)
        {
            process.Kill();
        }

        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Before node <paramref name="node"/> is started again: its old process must have exited, and is let go.</summary>
    public void ReleaseExited(int node)
    {
        lock (_gate)
        {
            var old = _slots[node - 1];
            if (old is { HasExited: false })
            {
                throw new InvalidOperationException($"{target} node {node} (pid {old.Id}) is still running");
            }

            old?.Dispose();
            _slots[node - 1] = null;
        }
    }

    /// <summary>Slot <paramref name="to"/> takes the process of slot <paramref name="from"/>, whose slot is left empty.</summary>
    public void Move(int from, int to)
    {
        lock (_gate)
        {
            (_slots[to - 1], _slots[from - 1]) = (_slots[from - 1], null);
        }
    }

    /// <summary>kill -9 of every process still running, without waiting; safe to call more than once.</summary>
    public void KillAll()
    {
        lock (_gate)
        {
            foreach (var process in _slots)
            {
                try
                {
                    if (process is { HasExited: false })
                    {
                        process.Kill();
                    }
                }
                catch (InvalidOperationException)
                {
                    // It exited in the meantime.
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        KillAll();
        Process?[] processes;
        lock (_gate)
        {
            processes = [.. _slots];
        }

        foreach (var process in processes)
        {
            if (process is not null)
            {
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
                process.Dispose();
            }
        }
    }
}
