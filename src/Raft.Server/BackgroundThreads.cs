using System.Runtime.InteropServices;

namespace Raft.Server;

/// <summary>
/// Threads for the node driver's background jobs (writing a snapshot out, loading a received one): each job gets its
/// own thread, which on Linux runs at a lower scheduling priority (nice 10), so that on a busy machine the node's own
/// thread (heartbeats, votes, appends) and the HTTP threads come first and a large snapshot costs them little.
/// </summary>
internal static class BackgroundThreads
{
    private const int PriorityOfProcess = 0;
    private const int Nice = 10;

    public static void Start(string name, Action work)
    {
        var thread = new Thread(() =>
        {
            LowerPriority();
            work();
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
    }

    // On Linux a nice value is a thread's own: setpriority of "this process" (who = 0) lowers the calling thread only.
    // Raising it back would need privileges; lowering never does. Elsewhere, and if it fails, the job runs at the
    // normal priority.
    private static void LowerPriority()
    {
        if (OperatingSystem.IsLinux())
        {
            _ = NativeMethods.SetPriority(PriorityOfProcess, 0, Nice);
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "setpriority")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int SetPriority(int which, int who, int priority);
    }
}
