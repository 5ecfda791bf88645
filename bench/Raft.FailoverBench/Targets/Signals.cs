using System.Runtime.InteropServices;

namespace Raft.FailoverBench.Targets;

/// <summary>SIGSTOP and SIGCONT for processes this tool started.</summary>
internal static class Signals
{
    private const int SigCont = 18;
    private const int SigStop = 19;

    public static void Stop(int pid) => Send(pid, SigStop);

    public static void Continue(int pid) => Send(pid, SigCont);

    private static void Send(int pid, int signal)
    {
        if (Kill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"signal {signal} to process {pid} failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);
}
