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
    private readonly byte[] _record = new byte[RecordBytes];
    private HardState _state;
    private ulong _sequence;
    private int _currentSlot;

    private FileHardStateStore(string path, SafeFileHandle handle)
    {
        _path = path;
        _handle = handle;
    }

    /// <summary>Opens (creating it if missing) the hard state file at <paramref name="path"/>.</summary>
    /// <exception cref="HardStateCorruptedException">Neither slot holds a valid record.</exception>
    public static FileHardStateStore Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            CreateFile(path);
        }

        var store = new FileHardStateStore(path, File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite));
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

        var slot = 1 - _currentSlot;
        Encode(_record, _sequence + 1, state);
        RandomAccess.Write(_handle, _record, (long)slot * SlotBytes);
        RandomAccess.FlushToDisk(_handle);
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
    private static void ThrowCorrupted(string path, long offset, string problem) =>
        throw new HardStateCorruptedException(path, offset, problem);
}
