using System.Buffers;

namespace Raft.Transport;

/// <summary>
/// A growable <see cref="IBufferWriter{T}"/> over one array rented from <see cref="ArrayPool{T}.Shared"/>.
/// Its owner is whoever created it; it is not thread-safe. <see cref="Reset"/> keeps the array, so a writer
/// that is filled and reset over and over allocates nothing once it has grown to its working size.
/// </summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private readonly int _initialBytes;
    private readonly int _retainBytesMax;
    private byte[] _buffer;
    private int _written;
    private bool _disposed;

    /// <param name="initialBytes">Capacity rented up front.</param>
    /// <param name="retainBytesMax">
    /// After a <see cref="Reset"/>, a buffer that grew beyond this (to carry a snapshot, say) goes back to the pool,
    /// so a rare large message does not pin its memory for the life of the writer.
    /// </param>
    public PooledBufferWriter(int initialBytes, int retainBytesMax = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(initialBytes);
        _initialBytes = initialBytes;
        _retainBytesMax = Math.Max(initialBytes, retainBytesMax);
        _buffer = ArrayPool<byte>.Shared.Rent(initialBytes);
    }

    public int WrittenCount => _written;

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_buffer.Length - _written))
        {
            throw new ArgumentOutOfRangeException(nameof(count), "advanced past the span handed out");
        }

        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    /// <summary>Forgets the first <paramref name="count"/> bytes written; the rest move to the front.</summary>
    public void DiscardFront(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)_written, nameof(count));
        _buffer.AsSpan(count, _written - count).CopyTo(_buffer);
        _written -= count;
    }

    /// <summary>Forgets what was written. Nothing previously handed out may be used afterwards.</summary>
    public void Reset()
    {
        _written = 0;
        if (_buffer.Length > _retainBytesMax)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(_initialBytes);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _written = 0;
    }

    private void Ensure(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_buffer.Length - _written >= needed)
        {
            return;
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        var required = (long)_written + needed;
        var size = Math.Max(required, Math.Min((long)_buffer.Length * 2, Array.MaxLength));
        if (size > Array.MaxLength)
        {
            throw new InvalidOperationException($"a buffer of {required} bytes is larger than an array can be");
        }

        var grown = ArrayPool<byte>.Shared.Rent((int)size);
        _buffer.AsSpan(0, _written).CopyTo(grown);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = grown;
    }
}
