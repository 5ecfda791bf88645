namespace Raft.KeyValue;

/// <summary>One key's change as the watch history keeps it: a put (<see cref="Value"/> set, and the lease it bound the key to) or a delete.</summary>
public sealed record WatchChange(ulong Index, string Key, byte[]? Value, ulong Version, ulong CreateIndex, ulong Lease = 0)
{
    /// <summary>What the change holds on to, for the history's byte bound.</summary>
    public long Bytes => 64 + (2L * Key.Length) + (Value?.Length ?? 0);
}

/// <summary>What a watch asks for: one key, or every key under a prefix.</summary>
public readonly record struct WatchFilter(string Text, bool IsPrefix)
{
    public bool Matches(string key) => IsPrefix ? key.StartsWith(Text, StringComparison.Ordinal) : key == Text;

    /// <summary>
    /// Adds to <paramref name="into"/> what a watch after index <paramref name="after"/> delivers of
    /// <paramref name="batch"/> (changes read from a <see cref="WatchHub"/>, in log order): the changes to matching keys
    /// made by entries after <paramref name="after"/>, in the same order, so an entry's changes stay together. A node
    /// that was behind the index a watch resumed from still reads the changes up to it, which the watch already had.
    /// </summary>
    public void Select(List<WatchChange> batch, ulong after, List<WatchChange> into)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(into);
        foreach (var change in batch)
        {
            if (change.Index > after && Matches(change.Key))
            {
                into.Add(change);
            }
        }
    }
}

/// <summary>
/// The recent history of key changes on this node, which watches and blocking reads are served from. The node's
/// thread appends every change as the store applies it (<see cref="OnChanged"/>) and publishes the applied index after
/// each batch (<see cref="Publish"/>); readers, on other threads, see changes only up to the published index, so never
/// part of a transaction. The history is bounded by count and bytes: the oldest changes go first, and an index whose
/// changes are no longer all kept can no longer be watched from (<see cref="TryOpen"/> answers compacted). A restored
/// snapshot starts the history again at its index and leaves every reader from before it behind. A reader that falls
/// further behind than the history holds is told so rather than let the history grow: memory is the history's,
/// whatever the readers do.
/// </summary>
public sealed class WatchHub(int changesMax, long bytesMax, int watchersMax)
{
    private readonly Lock _gate = new();
    private readonly WatchChange[] _ring = new WatchChange[changesMax];

    // Positions count every change ever appended: [_head, _tail) are in the ring, at position % length.
    private long _head;
    private long _tail;
    private long _bytes;

    // Every change with an index above _complete is in the ring (or not yet appended).
    private ulong _complete;
    private ulong _published;
    private TaskCompletionSource _publishedSignal = NewSignal();
    private int _watchers;
    private long _dropped;

    /// <summary>Watches open now.</summary>
    public int Watchers => Volatile.Read(ref _watchers);

    /// <summary>Watches ended because they fell behind the history.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The last applied index published.</summary>
    public ulong Published
    {
        get
        {
            lock (_gate)
            {
                return _published;
            }
        }
    }

    /// <summary>The store's <see cref="KvStoreOptions.KeyChanged"/>: on the node's thread, mid-apply.</summary>
    public void OnChanged(in KvChange change)
    {
        var entry = new WatchChange(change.Index, new string(change.Key), change.Value, change.Version, change.CreateIndex, change.Lease);
        lock (_gate)
        {
            while (_tail - _head == _ring.Length || (_tail > _head && _bytes + entry.Bytes > bytesMax))
            {
                var oldest = _ring[_head % _ring.Length];
                _ring[_head % _ring.Length] = null!;
                _bytes -= oldest.Bytes;
                _head++;
                _complete = Math.Max(_complete, oldest.Index);
            }

            _ring[_tail % _ring.Length] = entry;
            _tail++;
            _bytes += entry.Bytes;
        }
    }

    /// <summary>
    /// The store's <see cref="KvStoreOptions.Restored"/>: the history starts again at <paramref name="index"/>, every
    /// reader opened before it is behind it, however far it had read, and readers wake to find that out.
    /// </summary>
    public void OnRestored(ulong index)
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            // A reader that had read every change appended so far sits at _tail. Reading on from there it would take
            // the changes after the snapshot as following its own, and never hear of those the snapshot replaced; one
            // position skipped puts it behind the history too, so it is ended and resumes from its own index.
            Array.Clear(_ring);
            _tail++;
            _head = _tail;
            _bytes = 0;
            _complete = index;
            _published = Math.Max(_published, index);

            // The next Publish may not move past the index, and so would not wake them.
            signal = _publishedSignal;
            _publishedSignal = NewSignal();
        }

        signal.TrySetResult();
    }

    /// <summary>After a batch, on the node's thread: every change up to <paramref name="applied"/> is in, and readers wake.</summary>
    public void Publish(ulong applied)
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            if (applied <= _published)
            {
                return;
            }

            _published = applied;
            signal = _publishedSignal;
            _publishedSignal = NewSignal();
        }

        signal.TrySetResult();
    }

    /// <summary>Takes a watcher's place; false when <c>WatchersMax</c> are open. Each true is matched by <see cref="Leave"/>.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _watchers) <= watchersMax)
        {
            return true;
        }

        Interlocked.Decrement(ref _watchers);
        return false;
    }

    public void Leave() => Interlocked.Decrement(ref _watchers);

    public void CountDropped() => Interlocked.Increment(ref _dropped);

    /// <summary>
    /// The position of the first change after index <paramref name="from"/>; false, with the lowest index one may watch
    /// from in <paramref name="oldest"/>, when changes after <paramref name="from"/> are no longer all kept.
    /// </summary>
    public bool TryOpen(ulong from, out long position, out ulong oldest)
    {
        lock (_gate)
        {
            oldest = _complete;
            position = 0;
            if (from < _complete)
            {
                return false;
            }

            // Indexes never decrease along the ring: the first change above `from` by binary search.
            var (low, high) = (_head, _tail);
            while (low < high)
            {
                var middle = low + ((high - low) / 2);
                if (_ring[middle % _ring.Length].Index <= from)
                {
                    low = middle + 1;
                }
                else
                {
                    high = middle;
                }
            }

            position = low;
            return true;
        }
    }

    /// <summary>
    /// Adds to <paramref name="into"/> the changes from <paramref name="position"/> on, up to the published index: about
    /// <paramref name="max"/>, but always every change of the last index taken. Moves the position past them. Returns
    /// false when the position has left the history (the reader fell behind); <paramref name="published"/> is the index
    /// every change of which the reader has now seen, and <paramref name="next"/> completes at the next publish.
    /// </summary>
    public bool Read(ref long position, List<WatchChange> into, int max, out ulong published, out Task next)
    {
        lock (_gate)
        {
            published = _published;
            next = _publishedSignal.Task;
            if (position < _head)
            {
                return false;
            }

            var taken = 0;
            while (position < _tail)
            {
                var change = _ring[position % _ring.Length];
                if (change.Index > _published || (taken >= max && change.Index != into[^1].Index))
                {
                    break;
                }

                into.Add(change);
                position++;
                taken++;
            }

            if (position < _tail && _ring[position % _ring.Length].Index <= _published)
            {
                // Stopped at max: what was taken is complete up to the index before the next change.
                published = into[^1].Index;
            }

            return true;
        }
    }

    /// <summary>
    /// Completes once a change matching <paramref name="filter"/> after index <paramref name="after"/> is published, or
    /// at once when the history cannot tell (it no longer holds every change after that index), or after
    /// <paramref name="limit"/>.
    /// </summary>
    public async Task WaitForChangeAsync(WatchFilter filter, ulong after, TimeSpan limit, CancellationToken cancellationToken)
    {
        if (!TryOpen(after, out var position, out _))
        {
            return;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);
        var changes = new List<WatchChange>();
        while (true)
        {
            changes.Clear();
            if (!Read(ref position, changes, int.MaxValue, out _, out var next) || changes.Exists(c => filter.Matches(c.Key)))
            {
                return;
            }

            try
            {
                await next.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
