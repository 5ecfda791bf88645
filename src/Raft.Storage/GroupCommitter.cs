namespace Raft.Storage;

/// <summary>
/// Group commit for an <see cref="ILogStore"/>: one thread issues the log's fsyncs, and every
/// <see cref="FlushAsync"/> that arrives while an fsync is in flight is served by the next one, so a
/// single fsync covers all the appends made in the meantime, however many callers asked.
/// </summary>
/// <remarks>
/// <para>Usage from the node loop: <c>log.Append(entries)</c>, then <c>committer.FlushAsync()</c> (or just
/// <see cref="RequestFlush"/>) and go on working; when the task completes, or <c>onDurable</c> is called,
/// send what depended on those entries being durable, up to the reported index.</para>
/// <para>Ordering: a flush is served by an fsync that began after the request, so everything appended
/// before the request (and not truncated since) is durable when it completes. Requests are bounded: at
/// most one fsync is pending behind the one in flight, whatever the number of callers.</para>
/// <para>An fsync failure is fatal to the log (see <see cref="FileLogStore.Sync"/>): the pending task
/// and every later one fault with that error.</para>
/// </remarks>
public sealed class GroupCommitter : IDisposable
{
    private readonly ILogStore _log;
    private readonly Action<ulong>? _onDurable;

    // A monitor rather than System.Threading.Lock: the committer's thread sleeps on it with Monitor.Wait.
    private readonly object _gate = new();
    private readonly Thread _thread;

    // The completion shared by every request made since the last fsync started; null when none is waiting.
    private TaskCompletionSource<ulong>? _pending;
    private Exception? _failure;
    private bool _stopping;
    private long _syncCount;

    /// <param name="log">The log to make durable; the committer does not own it and must be disposed before it.</param>
    /// <param name="onDurable">Called on the committer's thread after each fsync with the new durable index.
    /// Keep it short (post to a channel): the next fsync waits for it.</param>
    public GroupCommitter(ILogStore log, Action<ulong>? onDurable = null)
    {
        ArgumentNullException.ThrowIfNull(log);
        _log = log;
        _onDurable = onDurable;
        _thread = new Thread(Run) { IsBackground = true, Name = "raft-log-sync" };
        _thread.Start();
    }

    /// <summary>The log's durable index.</summary>
    public ulong DurableIndex => _log.DurableIndex;

    /// <summary>How many fsyncs this committer has issued.</summary>
    public long SyncCount => Interlocked.Read(ref _syncCount);

    /// <summary>
    /// Completes with the log's durable index once everything appended before this call is durable.
    /// Concurrent callers share one task, and so one fsync.
    /// </summary>
    public Task<ulong> FlushAsync()
    {
        lock (_gate)
        {
            if (_failure is not null)
            {
                return Task.FromException<ulong>(_failure);
            }

            ObjectDisposedException.ThrowIf(_stopping, this);
            if (_pending is null)
            {
                // Continuations run off the committer's thread, so a slow awaiter cannot delay the next fsync.
                _pending = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
                Monitor.Pulse(_gate);
            }

            return _pending.Task;
        }
    }

    /// <summary>Asks for an fsync without waiting for it; the outcome arrives through <c>onDurable</c>.</summary>
    public void RequestFlush() => _ = FlushAsync();

    /// <summary>Serves any request still pending, then stops the thread. The log stays open.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
            Monitor.Pulse(_gate);
        }

        _thread.Join();
    }

    private void Run()
    {
        while (true)
        {
            TaskCompletionSource<ulong> batch;
            lock (_gate)
            {
                while (_pending is null && !_stopping)
                {
                    Monitor.Wait(_gate);
                }

                if (_pending is null)
                {
                    return;
                }

                // Requests from here on join the next batch: they may cover appends this fsync will miss.
                batch = _pending;
                _pending = null;
            }

            ulong durable;
            try
            {
                durable = _log.Sync();
            }
#pragma warning disable CA1031 // Any failure is handed to every waiter; the thread must not die silently.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                FailAll(batch, ex);
                return;
            }

            Interlocked.Increment(ref _syncCount);
            batch.SetResult(durable);
            _onDurable?.Invoke(durable);
        }
    }

    private void FailAll(TaskCompletionSource<ulong> batch, Exception failure)
    {
        TaskCompletionSource<ulong>? next;
        lock (_gate)
        {
            _failure = failure;
            next = _pending;
            _pending = null;
        }

        batch.SetException(failure);
        next?.SetException(failure);
    }
}
