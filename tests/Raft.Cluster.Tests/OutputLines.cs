using System.Diagnostics;

namespace Raft.Cluster.Tests;

/// <summary>
/// The lines a child process writes to stdout and stderr, in arrival order, with a bounded wait for a line that matches:
/// tests react to what the process prints instead of sleeping.
/// </summary>
internal sealed class OutputLines
{
    private readonly List<string> _lines = [];
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Collects both streams of <paramref name="process"/>; call before starting it.</summary>
    public void Attach(Process process)
    {
        process.OutputDataReceived += (_, e) => Add(e.Data);
        process.ErrorDataReceived += (_, e) => Add(e.Data);
    }

    public string[] Snapshot()
    {
        lock (_lines)
        {
            return [.. _lines];
        }
    }

    /// <summary>
    /// The index of the first line at or after <paramref name="from"/> that matches, once it has arrived; a
    /// <see cref="TimeoutException"/> naming every line seen if none did within <paramref name="timeout"/>.
    /// </summary>
    public async Task<int> WaitForAsync(Func<string, bool> match, int from = 0, TimeSpan? timeout = null)
    {
        var patience = timeout ?? ProcessCluster.Patience;
        using var deadline = new CancellationTokenSource(patience);
        while (true)
        {
            Task added;
            lock (_lines)
            {
                for (var i = from; i < _lines.Count; i++)
                {
                    if (match(_lines[i]))
                    {
                        return i;
                    }
                }

                from = _lines.Count;
                added = _added.Task;
            }

            try
            {
                await added.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no such line within {patience.TotalSeconds} s; the output was:\n{string.Join('\n', Snapshot())}");
            }
        }
    }

    public string this[int index]
    {
        get
        {
            lock (_lines)
            {
                return _lines[index];
            }
        }
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        TaskCompletionSource added;
        lock (_lines)
        {
            _lines.Add(line);
            added = _added;
            _added = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        added.TrySetResult();
    }
}
