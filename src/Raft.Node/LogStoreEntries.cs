using Raft.Core;
using Raft.Storage;

namespace Raft.Node;

/// <summary>The log store as the core reads entries back from it: payloads copied out of the store's pooled buffers.</summary>
internal sealed class LogStoreEntries(ILogStore log) : IEntryStorage
{
    public bool TryGetTerm(ulong index, out ulong term) => log.TryGetTerm(index, out term);

    public void ReadEntries(ulong firstIndex, ulong lastIndex, long maxBytes, List<Entry> into)
    {
        using var read = log.Read(firstIndex, lastIndex, maxBytes);
        foreach (var e in read.Span)
        {
            into.Add(e with { Data = e.Data.ToArray() });
        }
    }
}
