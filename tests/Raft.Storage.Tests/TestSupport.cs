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
