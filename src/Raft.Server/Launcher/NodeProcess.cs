using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Raft.Server.Launcher;

/// <summary>Starts a node as a child process of this executable, and stops one the way an operator would.</summary>
public static class NodeProcess
{
    private const int SigTerm = 15;
    private const int SigCont = 18;
    private const int SigStop = 19;

    /// <summary>
    /// Starts <c>Raft.Server</c> with <paramref name="arguments"/>, appending its output to <paramref name="logPath"/>:
    /// this very executable, or <paramref name="serverDll"/> when another program launches nodes (see
    /// <see cref="StartInfo(IReadOnlyList{string}, string)"/>).
    /// </summary>
    public static Process Start(IReadOnlyList<string> arguments, string logPath, string? serverDll = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        return Start(serverDll is null ? StartInfo(arguments) : StartInfo(arguments, serverDll), logPath);
    }

    /// <summary>Starts the program <paramref name="info"/> names, its standard output and error appended to <paramref name="logPath"/>.</summary>
    public static Process Start(ProcessStartInfo info, string logPath)
    {
        ArgumentNullException.ThrowIfNull(info);
        info.UseShellExecute = false;
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
        var commandLine = CommandLine(arguments);
        var info = new ProcessStartInfo { FileName = commandLine[0], UseShellExecute = false };
        foreach (var word in commandLine.Skip(1))
        {
            info.ArgumentList.Add(word);
        }

        return info;
    }

    /// <summary>The command line that runs this executable again with <paramref name="arguments"/>, the program first.</summary>
    public static IReadOnlyList<string> CommandLine(IReadOnlyList<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var host = Environment.ProcessPath ?? "dotnet";
        var words = new List<string> { host };
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            // The server's dll sits in the application's directory; Assembly.Location is empty in a native build.
            words.Add(Path.Combine(AppContext.BaseDirectory, typeof(NodeProcess).Assembly.GetName().Name + ".dll"));
        }

        words.AddRange(arguments);
        return words;
    }

    /// <summary>
    /// How to run the server <paramref name="server"/>: a <c>Raft.Server.dll</c> through the dotnet host that runs this
    /// process, or a native executable (<c>dotnet publish -r linux-x64 -p:PublishAot=true</c>) by itself.
    /// </summary>
    public static ProcessStartInfo StartInfo(IReadOnlyList<string> arguments, string server)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentException.ThrowIfNullOrEmpty(server);

        ProcessStartInfo info;
        if (IsManagedAssembly(server))
        {
            info = new ProcessStartInfo { FileName = DotnetHost, UseShellExecute = false };
            info.ArgumentList.Add(server);
        }
        else
        {
            info = new ProcessStartInfo { FileName = server, UseShellExecute = false };
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return info;
    }

    /// <summary>The dotnet host: the one <c>dotnet run</c> and <c>dotnet test</c> name (<c>DOTNET_HOST_PATH</c>), else the one on PATH.</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path ? path : "dotnet";

    /// <summary>Whether <paramref name="server"/> names an assembly the dotnet host runs, rather than an executable.</summary>
    public static bool IsManagedAssembly(string server) => server.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);

    /// <summary>SIGSTOP: the process hangs with every socket open, as a stalled machine would.</summary>
    public static void Pause(Process process) => Signal(process, SigStop);

    /// <summary>SIGCONT: a paused process runs on.</summary>
    public static void Resume(Process process) => Signal(process, SigCont);

    private static void Signal(Process process, int signal)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("pausing a process needs POSIX signals");
        }

        if (NativeMethods.Kill(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"signal {signal} to process {process.Id} failed (errno {Marshal.GetLastPInvokeError()})");
        }
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
