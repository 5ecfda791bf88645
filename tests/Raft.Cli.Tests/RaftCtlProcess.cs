using System.Diagnostics;
using Raft.Cluster.Tests;

namespace Raft.Cli.Tests;

/// <summary>What one run of raftctl printed and how it exited.</summary>
internal sealed record RaftCtlResult(int ExitCode, string Out, string Error)
{
    public string[] Lines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Out}\nstderr:\n{Error}";
}

/// <summary>
/// Runs the built raftctl (src/Raft.Cli, same configuration as the tests) as a process. Every process it starts it
/// kills by id if the test has not seen it exit.
/// </summary>
internal static class RaftCtlProcess
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public static string CliDll
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
            var path = Path.Combine(ProcessCluster.RepositoryRoot, "src", "Raft.Cli", "bin", configuration, "net10.0", "Raft.Cli.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("build src/Raft.Cli first", path);
        }
    }

    /// <summary>Starts raftctl with <paramref name="args"/> against <paramref name="endpoints"/> (through RAFTCTL_ENDPOINTS; empty: not set).</summary>
    public static Process Start(string endpoints, IEnumerable<string> args, bool redirectInput = false, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = redirectInput };
        info.ArgumentList.Add(CliDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        if (endpoints.Length > 0)
        {
            info.Environment["RAFTCTL_ENDPOINTS"] = endpoints;
        }
        else
        {
            info.Environment.Remove("RAFTCTL_ENDPOINTS");
        }

        info.Environment.Remove("RAFT_TOKEN");
        info.Environment.Remove("RAFTCTL_CACERT");
        info.Environment.Remove("RAFTCTL_OUTPUT");
        info.Environment.Remove("RAFTCTL_CONFIG");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start raftctl");
    }

    public static Task<RaftCtlResult> RunAsync(string endpoints, string? input, params string[] args) => RunAsync(endpoints, input, null, args);

    /// <summary>As <see cref="RunAsync(string, string?, string[])"/>, with <paramref name="environment"/> set for raftctl.</summary>
    public static async Task<RaftCtlResult> RunAsync(string endpoints, string? input, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var process = Start(endpoints, args, redirectInput: input is not null, environment);
        try
        {
            if (input is not null)
            {
                await process.StandardInput.WriteAsync(input);
                process.StandardInput.Close();
            }

            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(Patience);
            return new RaftCtlResult(process.ExitCode, await output, await error);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
