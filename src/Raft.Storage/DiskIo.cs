using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>
/// The file operations through which the log and the hard state change the disk: the ones whose failure they must
/// survive (a full disk) or stop on (a failed fsync). Production uses <see cref="DiskIo.System"/>; tests pass an
/// implementation that fails a write after so many bytes, fails an fsync, or tears a write, so each fault is
/// reproduced exactly.
/// </summary>
/// <remarks>
/// An implementation reports a full disk as the operating system does, an <see cref="IOException"/> that
/// <see cref="DiskErrors.IsDiskFull"/> recognises, and may have written part of the bytes before it fails.
/// Called under the store's own lock; the node loop is its only caller apart from a concurrent log Sync.
/// </remarks>
public interface IDiskIo
{
    /// <summary>Writes all of <paramref name="bytes"/> at <paramref name="offset"/> (into the page cache, not durably).</summary>
    void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset);

    /// <summary>fsync: makes everything written to <paramref name="file"/> durable.</summary>
    void Flush(SafeFileHandle file);

    /// <summary>Cuts or extends <paramref name="file"/> to <paramref name="length"/> bytes.</summary>
    void SetLength(SafeFileHandle file, long length);
}

/// <summary>The operating system's file operations.</summary>
public sealed class DiskIo : IDiskIo
{
    private DiskIo()
    {
    }

    public static IDiskIo System { get; } = new DiskIo();

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset) => RandomAccess.Write(file, bytes, offset);

    public void Flush(SafeFileHandle file) => RandomAccess.FlushToDisk(file);

    public void SetLength(SafeFileHandle file, long length) => RandomAccess.SetLength(file, length);
}

/// <summary>Which I/O errors mean "no room": the one failure a store undoes and survives.</summary>
public static class DiskErrors
{
    // Linux errno values; .NET puts the raw errno into IOException.HResult on Unix.
    private const int Enospc = 28;
    private const int Edquot = 122;

    // Windows: HRESULT_FROM_WIN32(ERROR_HANDLE_DISK_FULL) and HRESULT_FROM_WIN32(ERROR_DISK_FULL).
    private const int HandleDiskFull = unchecked((int)0x80070027);
    private const int DiskFull = unchecked((int)0x80070070);

    /// <summary>
    /// True when <paramref name="exception"/> says the file system (or the user's quota) has no room left. An fsync that
    /// fails for that reason is still an fsync failure (<see cref="FsyncFailedException"/>): after it, written pages may
    /// be lost whatever the cause.
    /// </summary>
    public static bool IsDiskFull(Exception exception) =>
        exception is IOException and not FsyncFailedException and not DiskFullException
        && exception.HResult is Enospc or Edquot or HandleDiskFull or DiskFull;
}

/// <summary>
/// A write found no room on the disk. The store undid what the write had put there, so it holds exactly what it held
/// before the call, on disk and in memory, and stays usable: the same call may be made again once space is freed.
/// </summary>
public sealed class DiskFullException : IOException
{
    public DiskFullException()
    {
    }

    public DiskFullException(string message)
        : base(message)
    {
    }

    public DiskFullException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The file the write was for.</summary>
    public string? FilePath { get; init; }
}

/// <summary>
/// An fsync failed. The kernel may already have dropped the pages it could not write and marked them clean, so a later
/// fsync can succeed without them: nothing written since the last good fsync may be trusted (PostgreSQL's
/// "fsync-gate"). The store that threw refuses all further work; the process should stop, and on restart recover from
/// what is on disk.
/// </summary>
public sealed class FsyncFailedException : IOException
{
    public FsyncFailedException()
    {
    }

    public FsyncFailedException(string message)
        : base(message)
    {
    }

    public FsyncFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The file whose fsync failed.</summary>
    public string? FilePath { get; init; }
}
