using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// <see cref="ISnapshotStore"/> in a directory: one file per snapshot, named
/// <c>{index:D20}-{term:D20}.snap</c>, written to <c>*.tmp</c>, fsynced, renamed into place, and the
/// directory fsynced; only then are older snapshots deleted.
/// </summary>
/// <remarks>
/// <code>
/// Snapshot file, little-endian (M = membership bytes, D = data bytes):
///
///  0       4       6       8                16               24      28          28+M             36+M       36+M+D   40+M+D
///  +-------+-------+-------+----------------+----------------+-------+-----------+----------------+----------+--------+
///  | magic |version| zero  | index          | term           |   M   | membership| D              | data     | CRC32C |
///  | u32   | u16   | u16   | u64            | u64            | u32   | M bytes   | u64            | D bytes  | u32    |
///  +-------+-------+-------+----------------+----------------+-------+-----------+----------------+----------+--------+
///  magic = "RSNP" (0x504E5352 as u32); membership as Membership.Encode writes it; CRC32C covers everything before it.
/// </code>
/// Leftover <c>*.tmp</c> files (a crash during a save) are deleted on open. The latest snapshot is the one
/// with the highest index; if it fails validation, loading throws rather than falling back to an older one,
/// which the log may no longer connect to.
/// </remarks>
public sealed class FileSnapshotStore : ISnapshotStore
{
    internal const int FixedHeaderBytes = 28;
    private const uint Magic = 0x504E_5352;
    private const ushort Version = 1;
    private const string Extension = ".snap";
    private const string TemporaryExtension = ".tmp";

    private readonly string _directory;
    private SnapshotMetadata? _latest;
    private string? _latestPath;

    private FileSnapshotStore(string directory) => _directory = directory;

    public SnapshotMetadata? LatestMetadata => _latest;

    /// <summary>Opens (creating it if missing) the snapshot directory and reads the latest snapshot's metadata.</summary>
    /// <exception cref="SnapshotCorruptedException">The latest snapshot's header is damaged.</exception>
    public static FileSnapshotStore Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var store = new FileSnapshotStore(Path.GetFullPath(directory));
        store.Recover();
        return store;
    }

    public void Save(Snapshot snapshot)
    {
        SnapshotContract.CheckSave(snapshot, _latest);
        var metadata = snapshot.Metadata;
        var path = SnapshotPath(metadata.Index, metadata.Term);
        var temporary = path + TemporaryExtension;
        var header = new byte[FixedHeaderBytes + metadata.Membership.EncodedBytes + sizeof(ulong)];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), metadata.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(16), metadata.Term);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), (uint)metadata.Membership.EncodedBytes);
        var membershipEnd = FixedHeaderBytes + metadata.Membership.Encode(header.AsSpan(FixedHeaderBytes));
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(membershipEnd), (ulong)snapshot.Data.Length);
        var crc = Crc32C.Append(Crc32C.Append(Crc32C.Seed, header), snapshot.Data.Span);
        var trailer = new byte[sizeof(uint)];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, Crc32C.Finish(crc));

        using (var handle = File.OpenHandle(temporary, FileMode.Create, FileAccess.Write))
        {
            RandomAccess.Write(handle, header, 0);
            RandomAccess.Write(handle, snapshot.Data.Span, header.Length);
            RandomAccess.Write(handle, trailer, header.Length + snapshot.Data.Length);
            RandomAccess.FlushToDisk(handle);
        }

        File.Move(temporary, path, overwrite: true);
        DirectorySync.Flush(_directory);

        // The new snapshot is durable; older ones are now garbage. A crash before they go leaves them for the
        // next save or open to remove: the latest is always chosen by index.
        _latest = metadata;
        _latestPath = path;
        foreach (var (otherPath, _, _) in ListSnapshots())
        {
            if (otherPath != path)
            {
                File.Delete(otherPath);
            }
        }
    }

    public bool TryLoadLatest([NotNullWhen(true)] out Snapshot? snapshot)
    {
        snapshot = null;
        if (_latestPath is null)
        {
            return false;
        }

        var bytes = File.ReadAllBytes(_latestPath);
        snapshot = Decode(_latestPath, bytes, readData: true);
        return true;
    }

    public void Dispose()
    {
    }

    private void Recover()
    {
        Directory.CreateDirectory(_directory);
        foreach (var leftover in Directory.EnumerateFiles(_directory, "*" + Extension + TemporaryExtension))
        {
            File.Delete(leftover);
        }

        var snapshots = ListSnapshots();
        if (snapshots.Count == 0)
        {
            return;
        }

        var (path, _, _) = snapshots[^1];
        _latest = Decode(path, File.ReadAllBytes(path), readData: false).Metadata;
        _latestPath = path;
    }

    /// <summary>Snapshot files sorted by index; a <c>*.snap</c> whose name does not parse is corruption.</summary>
    private List<(string Path, ulong Index, ulong Term)> ListSnapshots()
    {
        var result = new List<(string Path, ulong Index, ulong Term)>();
        foreach (var path in Directory.EnumerateFiles(_directory, "*" + Extension))
        {
            var stem = Path.GetFileNameWithoutExtension(path);
            if (stem.Length == 41 && stem[20] == '-'
                && ulong.TryParse(stem.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                && ulong.TryParse(stem.AsSpan(21), NumberStyles.None, CultureInfo.InvariantCulture, out var term))
            {
                result.Add((path, index, term));
                continue;
            }

            ThrowCorrupted(path, 0, "unexpected snapshot file name (expected {index:D20}-{term:D20}.snap)");
        }

        result.Sort((a, b) => a.Index.CompareTo(b.Index));
        return result;
    }

    /// <summary>Validates a whole snapshot file; with <paramref name="readData"/> false the data is not copied out.</summary>
    private static Snapshot Decode(string path, ReadOnlySpan<byte> file, bool readData)
    {
        if (file.Length < FixedHeaderBytes + sizeof(ulong) + sizeof(uint))
        {
            ThrowCorrupted(path, 0, $"snapshot file is {file.Length} bytes, too short for its header");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(file) != Magic)
        {
            ThrowCorrupted(path, 0, "wrong magic number (not a snapshot file)");
        }

        var crcOffset = file.Length - sizeof(uint);
        if (BinaryPrimitives.ReadUInt32LittleEndian(file[crcOffset..]) != Crc32C.Compute(file[..crcOffset]))
        {
            ThrowCorrupted(path, crcOffset, "snapshot fails its CRC");
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(file[4..]);
        if (version != Version)
        {
            ThrowCorrupted(path, 4, $"snapshot format version {version} is not supported (this build reads version {Version})");
        }

        var index = BinaryPrimitives.ReadUInt64LittleEndian(file[8..]);
        var term = BinaryPrimitives.ReadUInt64LittleEndian(file[16..]);
        var membershipBytes = BinaryPrimitives.ReadUInt32LittleEndian(file[24..]);
        var membership = Membership.Empty;
        var consumed = -1;
        if (membershipBytes > (uint)(crcOffset - FixedHeaderBytes - sizeof(ulong))
            || !Membership.TryDecode(file.Slice(FixedHeaderBytes, (int)membershipBytes), out membership, out consumed)
            || consumed != membershipBytes)
        {
            ThrowCorrupted(path, FixedHeaderBytes, "membership does not decode");
        }

        var dataLengthOffset = FixedHeaderBytes + (int)membershipBytes;
        var dataLength = BinaryPrimitives.ReadUInt64LittleEndian(file[dataLengthOffset..]);
        var dataOffset = dataLengthOffset + sizeof(ulong);
        if (dataLength != (ulong)(crcOffset - dataOffset))
        {
            ThrowCorrupted(path, dataLengthOffset, $"data length {dataLength} does not match the file size");
        }

        var expectedName = Path.GetFileName(SnapshotFileName(index, term));
        if (!string.Equals(Path.GetFileName(path), expectedName, StringComparison.Ordinal))
        {
            ThrowCorrupted(path, 8, $"snapshot says index {index}, term {term}, which does not match its file name");
        }

        var data = readData ? file[dataOffset..crcOffset].ToArray() : [];
        return new Snapshot(new SnapshotMetadata(index, term, membership), data);
    }

    private string SnapshotPath(ulong index, ulong term) => Path.Combine(_directory, SnapshotFileName(index, term));

    private static string SnapshotFileName(ulong index, ulong term) =>
        string.Create(CultureInfo.InvariantCulture, $"{index:D20}-{term:D20}{Extension}");

    [DoesNotReturn]
    private static void ThrowCorrupted(string path, long offset, string problem) =>
        throw new SnapshotCorruptedException(path, offset, problem);
}
