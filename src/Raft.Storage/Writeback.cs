using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>
/// Starts writing a file's dirty pages to the disk without waiting for them (Linux <c>sync_file_range</c> with
/// <c>SYNC_FILE_RANGE_WRITE</c>). A snapshot written at the speed of memory would otherwise leave the disk a backlog of
/// hundreds of MiB that its final fsync, and every log fsync meanwhile (a journal commit waits on the data before it),
/// must wait for; started as the bytes come, the backlog stays a few MiB and the log's fsyncs stay short.
/// </summary>
internal static partial class Writeback
{
    /// <summary>How many bytes of a file are written before their writeback is started.</summary>
    public const long EveryBytes = 4L << 20;

    private const uint SyncFileRangeWaitBefore = 1;
    private const uint SyncFileRangeWrite = 2;
    private const uint SyncFileRangeWaitAfter = 4;

    /// <summary>Starts writeback of [offset, offset + length); does nothing where the call does not exist.</summary>
    public static void Start(SafeFileHandle handle, long offset, long length) => Call(handle, offset, length, SyncFileRangeWrite);

    /// <summary>
    /// Waits until [offset, offset + length) is written out (not durable: no metadata, no device cache flush), which holds
    /// a writer to the disk's pace.
    /// </summary>
    public static void Wait(SafeFileHandle handle, long offset, long length) =>
        Call(handle, offset, length, SyncFileRangeWaitBefore | SyncFileRangeWrite | SyncFileRangeWaitAfter);

    private static void Call(SafeFileHandle handle, long offset, long length, uint flags)
    {
        if (!OperatingSystem.IsLinux() || length <= 0)
        {
            return;
        }

        // A hint: its failure (an old kernel, a file system without it) costs only the smoothing; the final fsync is
        // what makes the file durable.
        _ = SyncFileRange((int)handle.DangerousGetHandle(), offset, length, flags);
    }

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(int fd, long offset, long nbytes, uint flags);
}
