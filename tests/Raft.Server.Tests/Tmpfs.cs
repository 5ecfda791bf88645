using System.Diagnostics;

namespace Raft.Server.Tests;

/// <summary>A tmpfs of a few MiB mounted on a new temporary directory, unmounted and removed on dispose.</summary>
internal sealed class Tmpfs : IDisposable
{
    private static readonly Lazy<string?> Unavailable = new(Probe);

    private Tmpfs(string path) => Path = path;

    public string Path { get; }

    /// <summary>Why a tmpfs cannot be mounted here (not Linux, not root, no permission), or null when it can.</summary>
    public static string? WhyUnavailable => Unavailable.Value;

    public static Tmpfs Mount(long sizeBytes)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "raft-tmpfs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        try
        {
            var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={sizeBytes}", "tmpfs", path);
            if (code != 0)
            {
                throw new InvalidOperationException($"mount of a tmpfs on {path} failed ({code}): {output}");
            }
        }
        catch
        {
            Directory.Delete(path);
            throw;
        }

        return new Tmpfs(path);
    }

    public void Dispose()
    {
        var (code, output) = Run("umount", Path);
        if (code != 0)
        {
            // Something still holds a file open: detach it now, the kernel frees it when the last handle closes.
            (code, output) = Run("umount", "-l", Path);
        }

        if (code != 0)
        {
            // Left mounted, the directory is not removed: deleting it would only fail on the tmpfs's contents.
            throw new InvalidOperationException($"umount of the tmpfs on {Path} failed ({code}): {output}");
        }

        Directory.Delete(Path);
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "tmpfs is Linux only";
        }

        try
        {
            using var probe = Mount(1 << 20);
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            return $"cannot mount a tmpfs here: {ex.Message}";
        }
    }

    private static (int Code, string Output) Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill();
            throw new InvalidOperationException($"{file} did not finish within 30 s");
        }

        return (process.ExitCode, output.Result + error.Result);
    }
}

/// <summary>A fact that needs a tmpfs it can mount; skipped, saying why, where it cannot.</summary>
internal sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (Tmpfs.WhyUnavailable is { } reason)
        {
            Skip = reason;
        }
    }
}
