using System.Diagnostics;

namespace Raft.Dashboard.Tests;

/// <summary>
/// Debian's Chromium for the browser tests: installed by <c>install-chromium.sh</c> (apt-get) when missing, then
/// launched once headless to prove it runs. Where either fails, <see cref="WhyUnavailable"/> says why.
/// </summary>
internal static class Chromium
{
    private static readonly TimeSpan InstallPatience = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan LaunchPatience = TimeSpan.FromSeconds(60);
    private static readonly Lazy<(string? Path, string? Problem)> Found = new(Find);

    /// <summary>The browser's executable, once <see cref="WhyUnavailable"/> is null.</summary>
    public static string Path => Found.Value.Path ?? throw new InvalidOperationException(Found.Value.Problem);

    /// <summary>Null when the browser is installed and starts; otherwise why not.</summary>
    public static string? WhyUnavailable => Found.Value.Problem;

    /// <summary>Arguments every launch needs: no sandbox (the tests may run as root, where Chromium's sandbox refuses to start).</summary>
    public static readonly string[] Arguments = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"];

    private static (string?, string?) Find()
    {
        if (!OperatingSystem.IsLinux())
        {
            return (null, "the dashboard test installs Debian's chromium package, so it runs on Linux only");
        }

        var script = System.IO.Path.Combine(AppContext.BaseDirectory, "install-chromium.sh");
        var (code, output, error) = Run("bash", [script], InstallPatience);
        if (code != 0)
        {
            return (null, $"Chromium could not be installed ({script} exited {code}): {Last(error)}");
        }

        var path = output.Trim().Split('\n')[^1].Trim();
        (code, _, error) = Run(path, [.. Arguments, "--headless", "--dump-dom", "about:blank"], LaunchPatience);
        return code == 0 ? (path, null) : (null, $"Chromium at {path} did not start headless (exit {code}): {Last(error)}");
    }

    private static string Last(string text) => text.Length <= 600 ? text.Trim() : text[^600..].Trim();

    private static (int Code, string Output, string Error) Run(string file, string[] arguments, TimeSpan patience)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(patience))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                return (-1, output.Result, $"timed out after {patience.TotalSeconds} s; {error.Result}");
            }

            return (process.ExitCode, output.Result, error.Result);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, string.Empty, ex.Message);
        }
    }
}

/// <summary>A fact that needs Chromium; skipped, saying why, where it cannot be installed or started.</summary>
internal sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.WhyUnavailable is { } why)
        {
            Skip = $"the dashboard test needs a headless Chromium: {why}";
        }
    }
}
