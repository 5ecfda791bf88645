namespace Raft.Core;

/// <summary>
/// The Append messages in flight to one follower, as the last index each carried, oldest first.
/// A fixed ring: when it is full, replication to that follower pauses until acknowledgements free slots.
/// </summary>
internal sealed class Inflights
{
    private readonly ulong[] _lastIndexes;
    private int _start;
    private int _count;

    public Inflights(int capacity) => _lastIndexes = new ulong[capacity];

    public bool IsFull => _count == _lastIndexes.Length;

    public int Count => _count;

    public void Add(ulong lastIndex)
    {
        if (IsFull)
        {
            throw new InvalidOperationException("inflight window is full");
        }

        _lastIndexes[(_start + _count) % _lastIndexes.Length] = lastIndex;
        _count++;
    }

    /// <summary>Frees every message whose entries are all at or below <paramref name="index"/>.</summary>
    public void FreeUpTo(ulong index)
    {
        while (_count > 0 && _lastIndexes[_start] <= index)
        {
            _start = (_start + 1) % _lastIndexes.Length;
            _count--;
        }
    }

    public void Reset()
    {
        _start = 0;
        _count = 0;
    }
}
