using System.Buffers.Binary;
using System.Text;
using Raft.Core;

namespace Raft.Storage.Tests;

/// <summary>
/// The snapshot stream outside a store: its layout, producing it from an image, and reading it from a file of its
/// own (a backup), whole or damaged.
/// </summary>
public sealed class SnapshotStreamTests : IDisposable
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private string WriteBackup(byte[] bytes, string name = "backup.snap")
    {
        var path = _directory.Combine(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Stream_layout_is_pinned()
    {
        var body = Encoding.ASCII.GetBytes("0123456789");
        var stream = Snapshots.Encode(Snapshots.Metadata(100, 4), body);

        // Header: 28 fixed, 4 + 4 x 4 of membership (3 voters, 1 learner), its CRC; body; 16 of trailer.
        Assert.Equal(28 + 20 + 4, Snapshots.HeaderBytes);
        Assert.Equal(Snapshots.HeaderBytes + 10 + 16, stream.Length);
        Assert.Equal("RSNP", Encoding.ASCII.GetString(stream, 0, 4));
        Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(stream.AsSpan(4)));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(stream.AsSpan(6)));
        Assert.Equal(100UL, BinaryPrimitives.ReadUInt64LittleEndian(stream.AsSpan(8)));
        Assert.Equal(4UL, BinaryPrimitives.ReadUInt64LittleEndian(stream.AsSpan(16)));
        Assert.Equal(20U, BinaryPrimitives.ReadUInt32LittleEndian(stream.AsSpan(24)));
        Assert.Equal(Snapshots.Members.ToBytes(), stream[28..48]);
        Assert.Equal(Crc32C.Compute(stream.AsSpan(0, 48)), BinaryPrimitives.ReadUInt32LittleEndian(stream.AsSpan(48)));
        Assert.Equal(body, stream[52..62]);
        Assert.Equal(10UL, BinaryPrimitives.ReadUInt64LittleEndian(stream.AsSpan(62)));
        Assert.Equal(Crc32C.Compute(stream.AsSpan(0, 62)), BinaryPrimitives.ReadUInt32LittleEndian(stream.AsSpan(70)));
        Assert.Equal("RSNE", Encoding.ASCII.GetString(stream, 74, 4));
    }

    [Fact]
    public async Task Open_produces_the_same_bytes_however_it_is_read_and_however_its_body_arrives()
    {
        var metadata = Snapshots.Metadata(7, 2);
        var body = Snapshots.Body(100_003, seed: 30);
        var expected = Snapshots.Encode(metadata, body);

        foreach (var piece in new[] { 1, 7, 4096, 1 << 20 })
        {
            using var stream = SnapshotStream.Open(metadata, new TrickleStream(body, most: 333));
            var read = new List<byte>();
            var buffer = new byte[piece];
            int n;
            while ((n = stream.Read(buffer, 0, piece)) > 0)
            {
                read.AddRange(buffer.AsSpan(0, n));
            }

            Assert.Equal(expected, read.ToArray());
        }

        await using (var stream = SnapshotStream.Open(metadata, new TrickleStream(body, most: 5000)))
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy).WaitAsync(WaitLimit);
            Assert.Equal(expected, copy.ToArray());
        }

        Assert.Equal(Snapshots.HeaderBytes + Snapshots.TrailerBytes, Snapshots.Encode(metadata, []).Length);
    }

    [Fact]
    public void OpenCopying_hands_out_the_body_and_leaves_the_whole_stream_in_the_sink_once_the_body_has_ended()
    {
        var metadata = Snapshots.Metadata(7, 2);
        var body = Snapshots.Body(100_003, seed: 31);
        using var store = new MemorySnapshotStore();
        using (var sink = store.CreateSink())
        {
            var copied = new TrickleStream(body, most: 333);
            using (var copying = SnapshotStream.OpenCopying(metadata, copied, sink))
            {
                var read = new List<byte>();
                var buffer = new byte[4096];
                int n;
                while ((n = copying.Read(buffer, 0, buffer.Length)) > 0)
                {
                    read.AddRange(buffer.AsSpan(0, n));
                }

                Assert.Equal(body, read.ToArray());
                Assert.Equal(0, copying.Read(buffer, 0, buffer.Length));
            }

            Assert.True(copied.Disposed);
            using var staged = sink.Finish();
            Assert.True(store.Install(staged));
        }

        Assert.True(store.TryOpenLatest(out var reader));
        using (reader)
        {
            var expected = Snapshots.Encode(metadata, body);
            var stored = new byte[reader.Length];
            Assert.Equal(expected.Length, reader.ReadAt(0, stored));
            Assert.Equal(expected, stored);
        }
    }

    [Fact]
    public void Open_owns_its_body_and_refuses_metadata_a_snapshot_cannot_have()
    {
        var body = new TrickleStream([1, 2, 3], most: 3);
        SnapshotStream.Open(Snapshots.Metadata(1, 1), body).Dispose();
        Assert.True(body.Disposed);

        Assert.Throws<ArgumentException>(() => SnapshotStream.Open(Snapshots.Metadata(0, 1), new MemoryStream()));
        Assert.Throws<ArgumentException>(() => SnapshotStream.Open(Snapshots.Metadata(1, 0), new MemoryStream()));
    }

    [Fact]
    public void A_header_with_non_zero_reserved_bytes_is_refused_even_with_a_matching_crc()
    {
        // Found by fuzzing the snapshot stream (seed 14103, case 447): the reserved u16 at offset 6 was never checked.
        var stream = Snapshots.Encode(Snapshots.Metadata(100, 4), Snapshots.Body(10, seed: 1));
        stream[6] = 2;
        BinaryPrimitives.WriteUInt32LittleEndian(stream.AsSpan(48), Crc32C.Compute(stream.AsSpan(0, 48)));
        BinaryPrimitives.WriteUInt32LittleEndian(stream.AsSpan(stream.Length - 8), Crc32C.Compute(stream.AsSpan(0, stream.Length - 16)));

        var error = Assert.Throws<SnapshotCorruptedException>(() => SnapshotStream.OpenFile(WriteBackup(stream)));
        Assert.Contains("reserved", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(9, 40)]
    [InlineData(Membership.MembersMax, MemberAddresses.BytesMax)]
    public void A_membership_with_addresses_longer_than_bare_ids_round_trips_through_a_sink_and_a_file(int members, int addressBytes)
    {
        // Found by fuzzing the snapshot stream (seed 14103, case 14): nine members with addresses took 335 bytes, and a
        // header was refused above 4 + 4 x 64 bytes of membership, the size of the ids alone.
        var addresses = Enumerable.Range(1, members).ToDictionary(id => id, id => new MemberAddresses(new string('p', addressBytes), new string('h', addressBytes)));
        var metadata = new SnapshotMetadata(900, 9, Membership.Create(Enumerable.Range(1, members), addresses: addresses));
        var body = Snapshots.Body(300, seed: 5);

        using var store = FileSnapshotStore.Open(_directory.Combine("store"));
        using (var sink = store.CreateSink())
        {
            sink.Write(Snapshots.Encode(metadata, body));
            using var staged = sink.Finish();
            Assert.True(store.Install(staged));
        }

        using var reader = SnapshotStream.OpenFile(Assert.Single(Directory.GetFiles(_directory.Combine("store"))));
        Assert.Equal(metadata, reader.Metadata);
        Assert.Equal(body, Snapshots.ReadBody(reader));
    }

    [Fact]
    public void OpenFile_reads_a_copied_snapshot_file_that_restores_into_another_store()
    {
        var metadata = Snapshots.Metadata(500, 6);
        var body = Snapshots.Body(70_000, seed: 31);
        var source = Path.Combine(_directory.Path, "node-1");
        using (var store = FileSnapshotStore.Open(source))
        {
            using var sink = store.CreateSink();
            using (var stream = SnapshotStream.Open(metadata, new MemoryStream(body)))
            {
                stream.CopyTo(sink.AsStream());
            }

            using var staged = sink.Finish();
            Assert.True(store.Install(staged));
        }

        var backup = _directory.Combine("downloaded.snap");
        File.Copy(Assert.Single(Directory.GetFiles(source)), backup);

        using var reader = SnapshotStream.OpenFile(backup);
        Assert.Equal(metadata, reader.Metadata);
        Assert.Equal(new FileInfo(backup).Length, reader.Length);
        Assert.Equal(body, Snapshots.ReadBody(reader));

        // Restoring into a new data directory: the backup's raw bytes through a sink, checked again on the way in.
        using var restored = FileSnapshotStore.Open(Path.Combine(_directory.Path, "node-2"));
        using (var sink = restored.CreateSink())
        {
            sink.Write(Snapshots.ReadRaw(reader, 16 << 10));

            using var staged = sink.Finish();
            Assert.True(restored.Install(staged));
        }

        Assert.Equal(metadata, restored.LatestMetadata);
        Assert.True(restored.TryOpenLatest(out var latest));
        using (latest)
        {
            Assert.Equal(body, Snapshots.ReadBody(latest));
        }
    }

    [Fact]
    public void OpenFile_refuses_an_empty_file_and_garbage_naming_the_file()
    {
        var empty = WriteBackup([], "empty.snap");
        var error = Assert.Throws<SnapshotCorruptedException>(() => SnapshotStream.OpenFile(empty));
        Assert.Equal(empty, error.FilePath);
        Assert.Contains("too short for its header", error.Message, StringComparison.Ordinal);

        var garbage = WriteBackup(Snapshots.Body(10_000, seed: 32), "garbage.snap");
        error = Assert.Throws<SnapshotCorruptedException>(() => SnapshotStream.OpenFile(garbage));
        Assert.Equal(garbage, error.FilePath);
        Assert.Contains("not a snapshot stream", error.Message, StringComparison.Ordinal);

        var magicThenGarbage = WriteBackup([.. "RSNP"u8, 2, 0, 0, 0, .. Snapshots.Body(10_000, seed: 33)], "magic.snap");
        error = Assert.Throws<SnapshotCorruptedException>(() => SnapshotStream.OpenFile(magicThenGarbage));
        Assert.Equal(magicThenGarbage, error.FilePath);
    }

    [Fact]
    public void A_backup_cut_at_any_byte_is_refused()
    {
        var stream = Snapshots.Encode(Snapshots.Metadata(100, 4), Snapshots.Body(40, seed: 34));
        for (var cut = 0; cut < stream.Length; cut++)
        {
            var path = WriteBackup(stream[..cut]);
            Snapshots.AssertRefusedByReader(() => SnapshotStream.OpenFile(path), path);
        }
    }

    [Fact]
    public void A_backup_with_any_flipped_bit_is_refused_by_OpenFile_or_by_its_body()
    {
        var stream = Snapshots.Encode(Snapshots.Metadata(100, 4), Snapshots.Body(40, seed: 35));
        var refusedOnOpen = 0;
        for (var offset = 0; offset < stream.Length; offset++)
        {
            var path = WriteBackup(Snapshots.Flipped(stream, offset));
            refusedOnOpen += Snapshots.AssertRefusedByReader(() => SnapshotStream.OpenFile(path), path) ? 1 : 0;
        }

        Assert.Equal(Snapshots.HeaderBytes + 8 + 4, refusedOnOpen);
    }

    [Fact]
    public void The_body_is_checked_before_its_last_bytes_are_handed_out()
    {
        var body = Snapshots.Body(1000, seed: 36);
        var stream = Snapshots.Encode(Snapshots.Metadata(100, 4), body);
        var path = WriteBackup(Snapshots.Flipped(stream, stream.Length - 7));

        using var reader = SnapshotStream.OpenFile(path);
        using var bodyStream = reader.OpenBody();
        var buffer = new byte[body.Length];
        Assert.Equal(body.Length - 1, bodyStream.Read(buffer, 0, body.Length - 1));
        var error = Assert.Throws<SnapshotCorruptedException>(() => bodyStream.Read(buffer, body.Length - 1, 1));
        Assert.Equal(stream.Length - 8, error.Offset);
        Assert.Contains("fails its CRC", error.Message, StringComparison.Ordinal);

        // Asked again, it still refuses rather than report the end of a body it could not verify.
        Assert.Throws<SnapshotCorruptedException>(() => bodyStream.Read(buffer, 0, 1));

        // Several body streams read the same reader independently.
        using var first = reader.OpenBody();
        using var second = reader.OpenBody();
        Assert.Equal(10, first.Read(buffer, 0, 10));
        Assert.Equal(body[..10], buffer[..10]);
        Assert.Equal(5, second.Read(buffer, 0, 5));
        Assert.Equal(body[..5], buffer[..5]);
    }

    /// <summary>An image stream that hands out at most <c>most</c> bytes a read, as a network or a lazy producer may.</summary>
    private sealed class TrickleStream(byte[] bytes, int most) : ForwardOnlyReadStream
    {
        private int _position;

        public bool Disposed { get; private set; }

        public override int Read(Span<byte> buffer)
        {
            var take = Math.Min(Math.Min(buffer.Length, most), bytes.Length - _position);
            bytes.AsSpan(_position, take).CopyTo(buffer);
            _position += take;
            return take;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
