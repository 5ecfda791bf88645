using System.Buffers.Binary;
using System.Globalization;
using Raft.Core;
using Raft.Fuzzing;
using Xunit.Abstractions;

namespace Raft.Storage.Tests;

/// <summary>
/// Fuzzing what storage reads back from disk or from a peer, from valid encodings: WAL records, whole segment files
/// through recovery, and snapshot streams. Each either decodes to what re-encodes to the same bytes, or is refused
/// in its documented way (a read status, <see cref="LogCorruptedException"/>, <see cref="SnapshotCorruptedException"/>).
/// Replay and longer campaigns: see Raft.Fuzzing's Fuzz.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class StorageFuzzTests(ITestOutputHelper output)
{
    private const int EntryBytesMax = 4096;

    [Fact]
    public void Wal_records_decode_to_what_re_encodes_to_them_or_get_a_failing_read_status()
    {
        var report = Fuzz.Run(new FuzzTarget
        {
            Name = "WAL record decoder",
            Generate = random => RecordsSample(random, offset: 0),
            Reseal = input => ResealRecord(input, 0),
            Check = CheckRecords,
        }, seed: 14_101, ciCases: 40_000);
        output.WriteLine(report.ToString());
    }

    [Fact]
    public void Recovery_of_a_damaged_segment_keeps_a_valid_prefix_or_reports_corruption()
    {
        using var root = new TempDirectory();
        var opened = 0;
        var report = Fuzz.Run(new FuzzTarget
        {
            Name = "WAL recovery",
            Generate = SegmentSample,
            Reseal = ResealSegment,
            Check = input => CheckRecovery(input, root.Combine((opened++).ToString(CultureInfo.InvariantCulture))),
        }, seed: 14_102, ciCases: 250);
        output.WriteLine(report.ToString());
    }

    [Fact]
    public void Snapshot_streams_validate_to_a_header_that_re_encodes_to_them_or_are_refused_as_corrupt()
    {
        var report = Fuzz.Run(new FuzzTarget
        {
            Name = "snapshot stream decoder",
            Generate = SnapshotSample,
            Reseal = ResealSnapshot,
            Check = CheckSnapshot,
        }, seed: 14_103, ciCases: 20_000);
        output.WriteLine(report.ToString());
    }

    // Records back to back, as a segment holds them after its header, with their lengths and indexes marked.
    private static FuzzSample RecordsSample(Random random, int offset, ulong firstIndex = 0)
    {
        var index = firstIndex == 0 ? (ulong)random.NextInt64(1, 1_000_000) : firstIndex;
        var term = (ulong)random.Next(1, 10);
        var bytes = new List<byte>();
        var fields = new List<FuzzField>();
        for (var count = random.Next(1, 7); count > 0; count--)
        {
            term += (ulong)random.Next(0, 2);
            var payload = new byte[random.Next(4) == 0 ? random.Next(0, 600) : random.Next(0, 40)];
            random.NextBytes(payload);
            var record = new byte[LogRecordCodec.RecordBytes(payload.Length)];
            LogRecordCodec.WriteRecord(record, new Entry(term, index++, (EntryType)random.Next(3), payload));
            fields.Add(new FuzzField(offset + bytes.Count, 4));
            fields.Add(new FuzzField(offset + bytes.Count + 16, 8));
            bytes.AddRange(record);
        }

        var sample = new FuzzSample([.. bytes]);
        sample.Fields.AddRange(fields);
        return sample;
    }

    // Rewrites the CRC of the record at offset over the length it declares, when the input holds that much.
    private static byte[] ResealRecord(byte[] input, int offset)
    {
        if (input.Length - offset < LogRecordCodec.RecordHeaderBytes)
        {
            return input;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(offset));
        if (length > (uint)(input.Length - offset - LogRecordCodec.RecordHeaderBytes))
        {
            return input;
        }

        var record = input.AsSpan(offset, LogRecordCodec.RecordBytes((int)length));
        var crc = Crc32C.Append(Crc32C.Seed, record[..4]);
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], Crc32C.Finish(Crc32C.Append(crc, record[8..])));
        return input;
    }

    private static Verdict CheckRecords(byte[] input)
    {
        var offset = 0;
        while (offset < input.Length)
        {
            var status = LogRecordCodec.TryReadRecord(input.AsSpan(offset), EntryBytesMax, out var size, out var term, out var index, out var type);
            if (status != LogRecordCodec.ReadStatus.Valid)
            {
                return Verdict.Refused;
            }

            if (size < LogRecordCodec.RecordHeaderBytes || size > input.Length - offset)
            {
                throw new InvalidOperationException($"a valid record of {size} bytes at {offset} of {input.Length}");
            }

            // The reserved bytes [25, 29) are not checked (older logs hold anything there), nor then is the CRC over them.
            var again = new byte[size];
            LogRecordCodec.WriteRecord(again, new Entry(term, index, type, input.AsMemory(offset + LogRecordCodec.RecordHeaderBytes, size - LogRecordCodec.RecordHeaderBytes)));
            var record = input.AsSpan(offset, size);
            if (!again.AsSpan(0, 4).SequenceEqual(record[..4]) || !again.AsSpan(8, 17).SequenceEqual(record[8..25])
                || !again.AsSpan(LogRecordCodec.RecordHeaderBytes).SequenceEqual(record[LogRecordCodec.RecordHeaderBytes..]))
            {
                throw new InvalidOperationException($"the record at {offset} re-encodes to other bytes");
            }

            offset += size;
        }

        return Verdict.Accepted;
    }

    // A whole segment file: its header, then records from the header's first index on.
    private static FuzzSample SegmentSample(Random random)
    {
        var firstIndex = (ulong)random.NextInt64(1, 1_000_000);
        var header = new byte[LogRecordCodec.SegmentHeaderBytes];
        LogRecordCodec.WriteSegmentHeader(header, firstIndex);
        var records = RecordsSample(random, LogRecordCodec.SegmentHeaderBytes, firstIndex);
        var sample = new FuzzSample([.. header, .. records.Bytes]).Field(8, 8);
        sample.Fields.AddRange(records.Fields);
        return sample;
    }

    private static byte[] ResealSegment(byte[] input)
    {
        if (input.Length >= LogRecordCodec.SegmentHeaderBytes)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(16), Crc32C.Compute(input.AsSpan(0, 16)));
        }

        return ResealRecord(input, LogRecordCodec.SegmentHeaderBytes);
    }

    // Writes the input as the only segment of a log, named after the first index its header claims, and opens it.
    private static Verdict CheckRecovery(byte[] input, string directory)
    {
        var claimed = input.Length >= 16 ? BinaryPrimitives.ReadUInt64LittleEndian(input.AsSpan(8)) : 0;
        var firstIndex = claimed is > 0 and < 10_000_000_000_000_000_000UL ? claimed : 1;
        Directory.CreateDirectory(directory);
        try
        {
            File.WriteAllBytes(Path.Combine(directory, firstIndex.ToString("D20", CultureInfo.InvariantCulture) + ".wal"), input);
            var options = new FileLogOptions { EntryBytesMax = EntryBytesMax, SegmentBytes = 64 * 1024 };
            (ulong First, ulong Last, Entry[] Entries) recovered;
            try
            {
                using var log = FileLogStore.Open(directory, options);
                recovered = (log.FirstIndex, log.LastIndex, Entries.ReadAll(log, log.FirstIndex, log.LastIndex));
            }
            catch (LogCorruptedException)
            {
                return Verdict.Refused;
            }

            CheckEntries(recovered.First, recovered.Entries);

            // Recovery leaves a log that recovers to itself: nothing more to cut, the same entries.
            using (var again = FileLogStore.Open(directory, options))
            {
                var entries = Entries.ReadAll(again, again.FirstIndex, again.LastIndex);
                if (again.RecoveredTornTail is { } cut || again.FirstIndex != recovered.First || again.LastIndex != recovered.Last || entries.Length != recovered.Entries.Length)
                {
                    throw new InvalidOperationException($"a second recovery differs from the first: [{again.FirstIndex}, {again.LastIndex}] after [{recovered.First}, {recovered.Last}]");
                }

                for (var i = 0; i < entries.Length; i++)
                {
                    Entries.AssertSame(recovered.Entries[i], entries[i]);
                }
            }

            return Verdict.Accepted;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void CheckEntries(ulong firstIndex, Entry[] entries)
    {
        ulong previousTerm = 0;
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = entries[i];
            if (entry.Index != firstIndex + (ulong)i || entry.Term == 0 || entry.Term < previousTerm || entry.Data.Length > EntryBytesMax)
            {
                throw new InvalidOperationException($"recovered entry {i} is index {entry.Index}, term {entry.Term} after term {previousTerm}, from first index {firstIndex}");
            }

            previousTerm = entry.Term;
        }
    }

    // A snapshot stream of a random membership (with long addresses now and then) and a random body.
    private static FuzzSample SnapshotSample(Random random)
    {
        var ids = Enumerable.Range(1, random.Next(1, 10)).Select(_ => random.Next(1, 100)).Distinct().ToArray();
        var learners = ids.Length > 1 ? ids[..random.Next(ids.Length)] : [];
        var voters = ids[learners.Length..];
        var addresses = new Dictionary<int, MemberAddresses>();
        if (random.Next(2) == 0)
        {
            foreach (var id in ids)
            {
                var host = new string('h', random.Next(4) == 0 ? random.Next(1, 120) : random.Next(1, 12));
                addresses[id] = new MemberAddresses($"{host}:{7000 + id}", random.Next(3) == 0 ? string.Empty : $"http://{host}:{5000 + id}");
            }
        }

        var metadata = new SnapshotMetadata((ulong)random.NextInt64(1, long.MaxValue), (ulong)random.NextInt64(1, 1000), Membership.Create(voters, learners, addresses));
        var body = new byte[random.Next(4) == 0 ? random.Next(0, 2000) : random.Next(0, 64)];
        random.NextBytes(body);
        var bytes = Snapshots.Encode(metadata, body);
        return new FuzzSample(bytes).Field(24, 4).Field(28, 2).Field(30, 2).Field(bytes.Length - SnapshotFormat.TrailerBytes, 8);
    }

    // Rewrites the header CRC over the membership length the header claims, and the trailer's length and CRC.
    private static byte[] ResealSnapshot(byte[] input)
    {
        if (input.Length < SnapshotFormat.FixedHeaderBytes)
        {
            return input;
        }

        var crcOffset = SnapshotFormat.FixedHeaderBytes + (long)BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(24));
        var bodyStart = crcOffset + SnapshotFormat.HeaderCrcBytes;
        if (bodyStart + SnapshotFormat.TrailerBytes > input.Length)
        {
            return input;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan((int)crcOffset), Crc32C.Compute(input.AsSpan(0, (int)crcOffset)));
        var trailer = input.Length - SnapshotFormat.TrailerBytes;
        BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(trailer), (ulong)(trailer - bodyStart));
        BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(trailer + 8), Crc32C.Compute(input.AsSpan(0, trailer)));
        return input;
    }

    // Feeds the stream to a validator in pieces of a size the input picks, and checks an accepted header re-encodes.
    private static Verdict CheckSnapshot(byte[] input)
    {
        var validator = new SnapshotStreamValidator(SnapshotFormat.MemorySource);
        SnapshotHeader header;
        try
        {
            var piece = 1 + (int)(Crc32C.Compute(input) % 97);
            for (var offset = 0; offset < input.Length; offset += piece)
            {
                validator.Append(input.AsSpan(offset, Math.Min(piece, input.Length - offset)));
            }

            header = validator.Complete();
        }
        catch (SnapshotCorruptedException)
        {
            return Verdict.Refused;
        }

        var encoded = SnapshotFormat.EncodeHeader(header.Metadata);
        if (encoded.Length != header.Bytes || !input.AsSpan(0, header.Bytes).SequenceEqual(encoded))
        {
            throw new InvalidOperationException($"the header ({header.Bytes} bytes) re-encodes to {encoded.Length} other bytes");
        }

        return Verdict.Accepted;
    }
}
