namespace Raft.Core;

/// <summary>
/// The Append messages in flight to one follower, as the last index and the bytes each carried, oldest first. A fixed
/// ring, bounded in messages and in bytes: when either bound is reached, replication to that follower pauses until
/// acknowledgements free room.
/// </summary>
internal sealed class Inflights
{
    private readonly ulong[] _lastIndexes;
    private readonly long[] _bytes;
    private readonly long _bytesMax;
    private int _start;
    private int _count;
    private long _inflightBytes;

    /// <param name="capacity">Messages in flight, at most.</param>
    /// <param name="bytesMax">Bytes of entries in flight, at most; a message is always let through when none is.</param>
    public Inflights(int capacity, long bytesMax)
    {
        _lastIndexes = new ulong[capacity];
        _bytes = new long[capacity];
        _bytesMax = bytesMax;
    }

    public bool IsFull => _count == _lastIndexes.Length || (_count > 0 && _inflightBytes >= _bytesMax);

    public int Count => _count;

    public void Add(ulong lastIndex, long bytes)
    {
        if (IsFull)
        {
            throw new InvalidOperationException("inflight window is full");
        }

        var slot = (_start + _count) % _lastIndexes.Length;
        _lastIndexes[slot] = lastIndex;
        _bytes[slot] = bytes;
        _inflightBytes += bytes;
        _count++;
    }

    /// <summary>Frees every message whose entries are all at or below <paramref name="index"/>.</summary>
    public void FreeUpTo(ulong index)
    {
        while (_count > 0 && _lastIndexes[_start] <= index)
        {
            _inflightBytes -= _bytes[_start];
            _start = (_start + 1) % _lastIndexes.Length;
            _count--;
        }
    }

    public void Reset()
    {
        _start = 0;
        _count = 0;
        _inflightBytes = 0;
    }
}
