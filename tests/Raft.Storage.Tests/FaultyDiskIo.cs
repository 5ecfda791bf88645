using Microsoft.Win32.SafeHandles;

namespace Raft.Storage.Tests;

/// <summary>
/// The system's file operations with faults on demand: a disk that has room for so many more bytes (a write that
/// runs past it writes what fits, then fails as ENOSPC does), an fsync that fails once, and a write torn after so
/// many bytes by a crash.
/// </summary>
internal sealed class FaultyDiskIo : IDiskIo
{
    // What Linux reports: IOException with the raw errno in HResult.
    private const int Enospc = 28;
    private const int Eio = 5;

    /// <summary>Bytes that writes may still add; null: no limit. A write that needs more writes what fits and fails.</summary>
    public long? RoomBytes { get; set; }

    /// <summary>The next fsync fails with EIO (once).</summary>
    public bool FailNextFlush { get; set; }

    /// <summary>The next write stops after this many bytes and the "process dies" (<see cref="CrashException"/>).</summary>
    public int? TearNextWriteAt { get; set; }

    public int DiskFullErrors { get; private set; }

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset)
    {
        if (TearNextWriteAt is { } tear)
        {
            TearNextWriteAt = null;
            RandomAccess.Write(file, bytes[..Math.Min(tear, bytes.Length)], offset);
            throw new CrashException();
        }

        if (RoomBytes is { } room && bytes.Length > room)
        {
            RandomAccess.Write(file, bytes[..(int)room], offset);
            RoomBytes = 0;
            DiskFullErrors++;
            throw new IOException("No space left on device", Enospc);
        }

        RandomAccess.Write(file, bytes, offset);
        RoomBytes -= bytes.Length;
    }

    public void Flush(SafeFileHandle file)
    {
        if (FailNextFlush)
        {
            FailNextFlush = false;
            throw new IOException("Input/output error", Eio);
        }

        RandomAccess.FlushToDisk(file);
    }

    public void SetLength(SafeFileHandle file, long length) => RandomAccess.SetLength(file, length);
}

/// <summary>The process "died" in the middle of a write: what was written stays, nothing after it runs.</summary>
internal sealed class CrashException : Exception
{
    public CrashException()
        : base("simulated crash during a write")
    {
    }

    public CrashException(string message)
        : base(message)
    {
    }

    public CrashException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
