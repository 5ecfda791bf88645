namespace Raft.Storage;

/// <summary>
/// A growable circular buffer of log positions: items are added at the back, dropped from the front
/// (compaction) and cut from the back (truncation). Growth doubles the capacity; once a log is compacted
/// as fast as it grows, adding allocates nothing.
/// </summary>
internal sealed class RingBuffer<T>
{
    private T[] _items;
    private int _head;
    private int _count;

    public RingBuffer(int initialCapacity) => _items = new T[Math.Max(4, initialCapacity)];

    public int Count => _count;

    public ref T this[int i]
    {
        get
        {
            if ((uint)i >= (uint)_count)
            {
                ThrowOutOfRange(i, _count);
            }

            var slot = _head + i;
            if (slot >= _items.Length)
            {
                slot -= _items.Length;
            }

            return ref _items[slot];
        }
    }

    public void Add(in T item)
    {
        if (_count == _items.Length)
        {
            Grow();
        }

        var slot = _head + _count;
        if (slot >= _items.Length)
        {
            slot -= _items.Length;
        }

        _items[slot] = item;
        _count++;
    }

    /// <summary>Keeps the first <paramref name="count"/> items.</summary>
    public void TruncateTo(int count)
    {
        if ((uint)count > (uint)_count)
        {
            ThrowOutOfRange(count, _count);
        }

        for (var i = count; i < _count; i++)
        {
            this[i] = default!;
        }

        _count = count;
    }

    /// <summary>Drops the first <paramref name="count"/> items.</summary>
    public void DropFront(int count)
    {
        if ((uint)count > (uint)_count)
        {
            ThrowOutOfRange(count, _count);
        }

        for (var i = 0; i < count; i++)
        {
            this[i] = default!;
        }

        _head = (_head + count) % _items.Length;
        _count -= count;
    }

    public void Clear() => TruncateTo(0);

    private void Grow()
    {
        var bigger = new T[checked(_items.Length * 2)];
        for (var i = 0; i < _count; i++)
        {
            bigger[i] = this[i];
        }

        _items = bigger;
        _head = 0;
    }

    private static void ThrowOutOfRange(int value, int count) =>
        throw new ArgumentOutOfRangeException(nameof(value), value, $"ring holds {count} items");
}
