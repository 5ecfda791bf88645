using Raft.Core;

namespace Raft.Storage.Tests;

/// <summary>A uniquely named directory under the system temp path, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "raft-storage-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}

internal static class Entries
{
    /// <summary>An entry whose payload follows from (index, term, size), so any copy can be checked.</summary>
    public static Entry Make(ulong index, ulong term, int size = 16, EntryType type = EntryType.Command) =>
        new(term, index, type, Payload(index, term, size));

    public static byte[] Payload(ulong index, ulong term, int size)
    {
        var bytes = new byte[size];
        for (var i = 0; i < size; i++)
        {
            bytes[i] = (byte)((index * 131) + (term * 17) + (ulong)i);
        }

        return bytes;
    }

    public static Entry[] Range(ulong first, ulong last, ulong term, int size = 16)
    {
        var entries = new Entry[last - first + 1];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = Make(first + (ulong)i, term, size);
        }

        return entries;
    }

    public static void AssertSame(Entry expected, Entry actual)
    {
        Assert.Equal(expected.Index, actual.Index);
        Assert.Equal(expected.Term, actual.Term);
        Assert.Equal(expected.Type, actual.Type);
        Assert.True(expected.Data.Span.SequenceEqual(actual.Data.Span), $"payload of entry {expected.Index} differs");
    }

    /// <summary>Reads [first, last] in one go and returns copies that outlive the pooled buffers.</summary>
    public static Entry[] ReadAll(ILogStore log, ulong first, ulong last)
    {
        var result = new List<Entry>();
        while (first <= last)
        {
            using var read = log.Read(first, last, long.MaxValue);
            foreach (var e in read.Span)
            {
                result.Add(e with { Data = e.Data.ToArray() });
            }

            first += (ulong)read.Count;
        }

        return [.. result];
    }
}

internal static class Snapshots
{
    public static readonly Membership Members = Membership.Create([1, 2, 3], [7]);

    /// <summary>Header bytes of a stream carrying <see cref="Members"/>: 32 fixed and CRC, 20 of membership.</summary>
    public const int HeaderBytes = 32 + 20;

    public const int TrailerBytes = 16;

    public static SnapshotMetadata Metadata(ulong index, ulong term) => new(index, term, Members);

    /// <summary>Seeded bytes standing for a state machine image.</summary>
    public static byte[] Body(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>The whole snapshot stream for a metadata and a body, as <see cref="SnapshotStream.Open"/> produces it.</summary>
    public static byte[] Encode(SnapshotMetadata metadata, byte[] body)
    {
        using var stream = SnapshotStream.Open(metadata, new MemoryStream(body));
        return ReadToEnd(stream);
    }

    public static byte[] ReadToEnd(Stream stream)
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    public static byte[] ReadBody(SnapshotReader reader)
    {
        using var body = reader.OpenBody();
        return ReadToEnd(body);
    }

    /// <summary>The reader's raw stream, read with positional reads of <paramref name="piece"/> bytes.</summary>
    public static byte[] ReadRaw(SnapshotReader reader, int piece)
    {
        var bytes = new byte[reader.Length];
        var buffer = new byte[piece];
        for (long offset = 0; offset < bytes.Length;)
        {
            var read = reader.ReadAt(offset, buffer);
            Assert.True(read > 0, $"ReadAt({offset}) returned nothing before the end, {bytes.Length}");
            buffer.AsSpan(0, read).CopyTo(bytes.AsSpan((int)offset));
            offset += read;
        }

        Assert.Equal(0, reader.ReadAt(reader.Length, buffer));
        return bytes;
    }

    /// <summary>A copy of <paramref name="bytes"/> with one bit flipped at <paramref name="offset"/>, the bit varying with it.</summary>
    public static byte[] Flipped(byte[] bytes, int offset)
    {
        var damaged = (byte[])bytes.Clone();
        damaged[offset] ^= (byte)(1 << (offset % 8));
        return damaged;
    }

    /// <summary>
    /// Damaged bytes are refused by a reader: either opening it throws, or reading its body through to the end does.
    /// Returns whether opening threw; either way the error names <paramref name="path"/>.
    /// </summary>
    public static bool AssertRefusedByReader(Func<SnapshotReader> open, string path)
    {
        SnapshotReader reader;
        try
        {
            reader = open();
        }
        catch (SnapshotCorruptedException error)
        {
            Assert.Equal(path, error.FilePath);
            return true;
        }

        using (reader)
        {
            var error = Assert.Throws<SnapshotCorruptedException>(() => ReadBody(reader));
            Assert.Equal(path, error.FilePath);
            return false;
        }
    }
}
