using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Win32.SafeHandles;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// <see cref="IHardStateStore"/> in one file of two slots, written alternately, so a save never overwrites
/// the last good state: a torn save leaves the other slot intact, and load takes the valid slot with the
/// higher sequence number. One positional write and one fsync per save; nothing allocated.
/// </summary>
/// <remarks>
/// <code>
/// File: 1024 bytes = slot 0 at offset 0, slot 1 at offset 512. A slot is sector-sized so that a torn write
/// of one cannot touch the other. Slot record, 44 bytes, little-endian, rest of the slot zero:
///
///  0       4       6       8                16               24       28       32               40       44
///  +-------+-------+-------+----------------+----------------+--------+--------+----------------+--------+
///  | magic |version| zero  | sequence       | term           | voted  | zero   | commit         | CRC32C |
///  | u32   | u16   | u16   | u64            | u64            | i32    | u32    | u64            | u32    |
///  +-------+-------+-------+----------------+----------------+--------+--------+----------------+--------+
///  magic = "RHST" (0x54534852 as u32); CRC32C covers bytes [0, 40).
/// </code>
/// The file is created whole (both slots, slot 0 holding sequence 0 = "nothing saved yet") through a temporary
/// file, fsync, rename and directory fsync, so from then on at least one slot is always valid, and a file in
/// which neither is valid is corruption rather than an interrupted first save.
/// A bit flip that invalidates the newest slot is indistinguishable from a torn save and falls back to the
/// previous state; the CRC guarantees only that a damaged state is never returned.
/// <para>Faults: a save that finds the disk full (possible on copy-on-write file systems even though the file is
/// never extended) throws <see cref="DiskFullException"/> and changes nothing: it wrote only the slot that is not
/// current, and the next save writes that slot again. A failed fsync throws <see cref="FsyncFailedException"/> and the
/// store refuses every later save, as does any other I/O error.</para>
/// </remarks>
public sealed class FileHardStateStore : IHardStateStore
{
    internal const int SlotBytes = 512;
    internal const int FileBytes = 2 * SlotBytes;
    internal const int RecordBytes = 44;
    private const uint Magic = 0x5453_4852;
    private const ushort Version = 1;

    private readonly string _path;
    private readonly SafeFileHandle _handle;
    private readonly IDiskIo _io;
    private readonly byte[] _record = new byte[RecordBytes];
    private HardState _state;
    private ulong _sequence;
    private int _currentSlot;
    private Exception? _failure;

    private FileHardStateStore(string path, SafeFileHandle handle, IDiskIo io)
    {
        _path = path;
        _handle = handle;
        _io = io;
    }

    /// <summary>Opens (creating it if missing) the hard state file at <paramref name="path"/>.</summary>
    /// <param name="path">The file.</param>
    /// <param name="io">The file operations of <see cref="Save"/> (<see cref="DiskIo.System"/> when null); tests inject faults here.</param>
    /// <exception cref="HardStateCorruptedException">Neither slot holds a valid record.</exception>
    public static FileHardStateStore Open(string path, IDiskIo? io = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            CreateFile(path);
        }

        var store = new FileHardStateStore(path, File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite), io ?? DiskIo.System);
        try
        {
            store.Load();
        }
        catch
        {
            store.Dispose();
            throw;
        }

        return store;
    }

    public bool TryLoad(out HardState state)
    {
        state = _state;
        return _sequence > 0;
    }

    public void Save(in HardState state)
    {
        if (_sequence > 0 && state == _state)
        {
            return;
        }

        if (_failure is not null)
        {
            ThrowFailed(_failure);
        }

        var slot = 1 - _currentSlot;
        Encode(_record, _sequence + 1, state);
        try
        {
            _io.Write(_handle, _record, (long)slot * SlotBytes);
        }
        catch (IOException ex) when (DiskErrors.IsDiskFull(ex))
        {
            throw new DiskFullException($"no space left on the device to save the hard state in '{_path}'; the state saved before stands", ex) { FilePath = _path };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _failure = ex;
            throw;
        }

        try
        {
            _io.Flush(_handle);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var error = new FsyncFailedException($"fsync of '{_path}' failed; the hard state store refuses further saves until it is reopened", ex) { FilePath = _path };
            _failure = error;
            throw error;
        }

        _sequence++;
        _currentSlot = slot;
        _state = state;
    }

    public void Dispose() => _handle.Dispose();

    internal static void Encode(Span<byte> record, ulong sequence, in HardState state)
    {
        record = record[..RecordBytes];
        record.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(record, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(record[4..], Version);
        BinaryPrimitives.WriteUInt64LittleEndian(record[8..], sequence);
        BinaryPrimitives.WriteUInt64LittleEndian(record[16..], state.Term);
        BinaryPrimitives.WriteInt32LittleEndian(record[24..], state.VotedFor);
        BinaryPrimitives.WriteUInt64LittleEndian(record[32..], state.Commit);
        BinaryPrimitives.WriteUInt32LittleEndian(record[40..], Crc32C.Compute(record[..40]));
    }

    private static bool TryDecode(ReadOnlySpan<byte> record, out ulong sequence, out HardState state)
    {
        sequence = 0;
        state = default;
        if (BinaryPrimitives.ReadUInt32LittleEndian(record) != Magic
            || BinaryPrimitives.ReadUInt32LittleEndian(record[40..]) != Crc32C.Compute(record[..40])
            || BinaryPrimitives.ReadUInt16LittleEndian(record[4..]) != Version)
        {
            return false;
        }

        sequence = BinaryPrimitives.ReadUInt64LittleEndian(record[8..]);
        state = new HardState(
            BinaryPrimitives.ReadUInt64LittleEndian(record[16..]),
            BinaryPrimitives.ReadInt32LittleEndian(record[24..]),
            BinaryPrimitives.ReadUInt64LittleEndian(record[32..]));
        return true;
    }

    private static void CreateFile(string path)
    {
        var temporary = path + ".tmp";
        var image = new byte[FileBytes];
        Encode(image, sequence: 0, default);
        using (var handle = File.OpenHandle(temporary, FileMode.Create, FileAccess.Write))
        {
            RandomAccess.Write(handle, image, 0);
            RandomAccess.FlushToDisk(handle);
        }

        File.Move(temporary, path, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(path)!);
    }

    private void Load()
    {
        var length = RandomAccess.GetLength(_handle);
        if (length != FileBytes)
        {
            ThrowCorrupted(_path, 0, $"hard state file is {length} bytes, expected {FileBytes}");
        }

        Span<byte> image = stackalloc byte[FileBytes];
        if (RandomAccess.Read(_handle, image, 0) != FileBytes)
        {
            ThrowCorrupted(_path, 0, "hard state file could not be read whole");
        }

        var valid0 = TryDecode(image[..SlotBytes], out var sequence0, out var state0);
        var valid1 = TryDecode(image[SlotBytes..], out var sequence1, out var state1);
        if (!valid0 && !valid1)
        {
            ThrowCorrupted(_path, 0, "neither hard state slot passes its CRC");
        }

        if (valid0 && valid1 && sequence0 == sequence1)
        {
            ThrowCorrupted(_path, SlotBytes, $"both hard state slots carry sequence {sequence0}");
        }

        (_currentSlot, _sequence, _state) = valid1 && (!valid0 || sequence1 > sequence0) ? (1, sequence1, state1) : (0, sequence0, state0);
    }

    [DoesNotReturn]
    private static void ThrowFailed(Exception failure) =>
        throw new InvalidOperationException("The hard state store hit an I/O error and refuses further saves; reopen it to recover from what is on disk.", failure);

    [DoesNotReturn]
    private static void ThrowCorrupted(string path, long offset, string problem) =>
        throw new HardStateCorruptedException(path, offset, problem);
}
