using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Raft.Server.Launcher;

/// <summary>Starts a node as a child process of this executable, and stops one the way an operator would.</summary>
public static class NodeProcess
{
    private const int SigTerm = 15;

    /// <summary>Starts <c>Raft.Server</c> (this very executable) with <paramref name="arguments"/>, appending its output to <paramref name="logPath"/>.</summary>
    public static Process Start(IReadOnlyList<string> arguments, string logPath)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var info = StartInfo(arguments);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        var log = TextWriter.Synchronized(new StreamWriter(logPath, append: true) { AutoFlush = true });
        process.OutputDataReceived += (_, e) => WriteLine(log, e.Data);
        process.ErrorDataReceived += (_, e) => WriteLine(log, e.Data);
        process.Exited += (_, _) => log.Dispose();
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>How to run this executable again: through the dotnet host with the server's dll, or through its apphost.</summary>
    public static ProcessStartInfo StartInfo(IReadOnlyList<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var host = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo { FileName = host, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            info.ArgumentList.Add(typeof(NodeProcess).Assembly.Location);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return info;
    }

    /// <summary>Asks the process to stop (SIGTERM on Unix, so a leader hands over first); kills it where there are no signals.</summary>
    public static void Terminate(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (process.HasExited)
        {
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            process.Kill(entireProcessTree: true);
            return;
        }

        _ = NativeMethods.Kill(process.Id, SigTerm);
    }

    private static void WriteLine(TextWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        try
        {
            log.WriteLine(line);
        }
        catch (ObjectDisposedException)
        {
            // The process exited while its last lines were in flight.
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int Kill(int pid, int signal);
    }
}
