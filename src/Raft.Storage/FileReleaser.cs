using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Raft.Storage;

/// <summary>
/// One thread of its own, in the background, for the file work that frees disk space: deleting a snapshot the store no
/// longer needs, closing the last handle of a file already deleted. For a file of a GiB that is a fraction of a second
/// in the kernel, freeing its cached pages and its blocks. Done on the thread pool, two such calls on a two-core machine
/// took every pool thread it had, and the timers and socket completions that bring a node its ticks and its peers'
/// heartbeats waited behind them; done on the thread that appends the log, heartbeats waited too. Work runs in the
/// order it was queued.
/// </summary>
internal static class FileReleaser
{
    private static readonly BlockingCollection<(Action Work, TaskCompletionSource? Done)> Queue = [];

    static FileReleaser()
    {
        var thread = new Thread(Loop) { IsBackground = true, Name = "raft-file-release" };
        thread.Start();
    }

    /// <summary>Closes <paramref name="handle"/> on the releasing thread.</summary>
    public static void Close(SafeHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        Queue.Add((handle.Dispose, null));
    }

    /// <summary>Runs <paramref name="work"/> on the releasing thread; the task completes (or faults) with it.</summary>
    public static Task Run(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Queue.Add((work, done));
        return done.Task;
    }

    private static void Loop()
    {
        foreach (var (work, done) in Queue.GetConsumingEnumerable())
        {
            try
            {
                work();
                done?.SetResult();
            }
            catch (Exception ex) when (done is not null)
            {
                done.SetException(ex);
            }
        }
    }
}
