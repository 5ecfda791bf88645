using System.Runtime.InteropServices;

namespace Raft.Storage;

/// <summary>
/// fsync of a directory, so that a file created, renamed or deleted in it stays so after a power loss.
/// .NET cannot open a directory as a <see cref="Microsoft.Win32.SafeHandles.SafeFileHandle"/>, hence libc.
/// </summary>
public static partial class DirectorySync
{
    private const int ReadOnly = 0;

    public static void Flush(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            // NTFS journals directory metadata itself and offers no directory flush to user code.
            return;
        }

        var fd = Open(directory, ReadOnly);
        if (fd < 0)
        {
            ThrowIo("open", directory);
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                ThrowIo("fsync", directory);
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private static void ThrowIo(string call, string directory) =>
        throw new IOException($"{call} of directory '{directory}' failed with errno {Marshal.GetLastPInvokeError()}");

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
