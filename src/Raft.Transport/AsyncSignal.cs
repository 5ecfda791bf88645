using System.Threading.Tasks.Sources;

namespace Raft.Transport;

/// <summary>
/// An auto-reset event for exactly one waiter at a time, awaited without allocating: a peer's writer loop waits
/// on it and <see cref="Set"/> is called from the node loop for every queued message, so both sides must be cheap.
/// </summary>
/// <remarks>
/// States: idle, set (signalled with nobody waiting), waiting. A <see cref="Set"/> while idle is remembered and
/// consumed by the next <see cref="WaitAsync"/>; many sets before a wait collapse into one wake-up, which is
/// what batching wants. Continuations run asynchronously so <see cref="Set"/> never runs a writer inline on the
/// node loop's thread.
/// </remarks>
internal sealed class AsyncSignal : IValueTaskSource
{
    private const int Idle = 0;
    private const int Signalled = 1;
    private const int Waiting = 2;

    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _state;

    public void Set()
    {
        while (true)
        {
            switch (Volatile.Read(ref _state))
            {
                case Signalled:
                    return;
                case Idle:
                    if (Interlocked.CompareExchange(ref _state, Signalled, Idle) == Idle)
                    {
                        return;
                    }

                    break;
                default:
                    if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
                    {
                        _core.SetResult(true);
                        return;
                    }

                    break;
            }
        }
    }

    /// <summary>Completes at the next <see cref="Set"/>, or at once if one came since the last wait. One waiter only.</summary>
    public ValueTask WaitAsync()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Signalled) == Signalled)
        {
            return ValueTask.CompletedTask;
        }

        // Nobody can complete the core now: only a transition out of Waiting does, and we are not yet waiting.
        _core.Reset();
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) == Idle)
        {
            return new ValueTask(this, _core.Version);
        }

        // A Set landed between the two exchanges and left the state Signalled: consume it.
        Volatile.Write(ref _state, Idle);
        return ValueTask.CompletedTask;
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
