using System.Buffers;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// Entries read from a log, backed by buffers rented from <see cref="ArrayPool{T}.Shared"/>.
/// </summary>
/// <remarks>
/// Ownership: whoever receives the result owns both buffers and must call <see cref="Dispose"/> exactly
/// once (<c>using var read = log.Read(...)</c>). The entries, and every <see cref="Entry.Data"/> slice,
/// are valid only until then: copy what must outlive it. Do not copy the struct itself, since each copy
/// would return the same buffers.
/// </remarks>
public struct LogReadResult : IDisposable
{
    private Entry[]? _entries;
    private byte[]? _payloads;
    private readonly int _count;
    private readonly long _sizeBytes;

    internal LogReadResult(Entry[] entries, int count, byte[]? payloads, long sizeBytes)
    {
        _entries = entries;
        _count = count;
        _payloads = payloads;
        _sizeBytes = sizeBytes;
    }

    /// <summary>The entries, in index order.</summary>
    public readonly ReadOnlyMemory<Entry> Entries => _entries is null ? default : new ReadOnlyMemory<Entry>(_entries, 0, _count);

    public readonly ReadOnlySpan<Entry> Span => Entries.Span;

    public readonly int Count => _entries is null ? 0 : _count;

    /// <summary>Sum of <see cref="Entry.SizeBytes"/> over the entries, the figure the byte limit was checked against.</summary>
    public readonly long SizeBytes => _sizeBytes;

    public void Dispose()
    {
        if (_entries is not null)
        {
            // Cleared so that the pool does not keep payloads (possibly large, possibly the proposer's) alive.
            ArrayPool<Entry>.Shared.Return(_entries, clearArray: true);
            _entries = null;
        }

        if (_payloads is not null)
        {
            ArrayPool<byte>.Shared.Return(_payloads);
            _payloads = null;
        }
    }
}
