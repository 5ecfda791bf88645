using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Raft.Server;

/// <summary>
/// How the node's thread waits for its next input: it spins a little, yielding its core, and then blocks until a writer
/// wakes it. The spin is what keeps a write fast on a machine with cores to spare: the acknowledgement or the next
/// append usually arrives while the thread is still on a core, and waking a thread that has gone to sleep costs tens of
/// microseconds each time. On a machine whose cores are busy with other work the same spin is what makes a write
/// slow: a yield hands the core to the busy process for the rest of its time slice (milliseconds), and a thread that
/// only yielded, never slept, does not get the core back first when its input arrives. So a yield that comes back late
/// (after <see cref="ContendedYield"/>) in <see cref="LateWaitsToBlock"/> consecutive waits stops the spinning for
/// <see cref="BlockOnlyFor"/>: meanwhile every wait blocks at once, and the thread, having slept, is run ahead of the busy
/// process when a writer wakes it. Measured with the failover bench's <c>--contention</c> (a busy loop on every core),
/// one writer to three nodes: p50 8.5–10.4 ms with the spin always on, 6.1–7.8 ms with this; no change on an idle machine.
/// </summary>
/// <remarks>One thread waits; any thread may complete the wait (the channel runs the wake-up synchronously).</remarks>
internal sealed class InputWait<T> : IDisposable
{
    /// <summary>Spin iterations before blocking (the count .NET's own blocking waits spin for, twice).</summary>
    public const int SpinIterations = 70;

    /// <summary>A yield that took this long means another process held the core.</summary>
    public static readonly TimeSpan ContendedYield = TimeSpan.FromMilliseconds(1);

    /// <summary>Consecutive waits with a late yield that stop the spinning.</summary>
    public const int LateWaitsToBlock = 3;

    /// <summary>How long waits block at once after late yields.</summary>
    public static readonly TimeSpan BlockOnlyFor = TimeSpan.FromSeconds(1);

    private readonly ChannelReader<T> _reader;
    private readonly ManualResetEventSlim _woken = new(initialState: false, spinCount: 0);
    private readonly Action _wake;
    private readonly TimeProvider _time;
    private readonly Action? _spinOnce;
    private readonly long _contendedYieldTicks;
    private readonly long _blockOnlyTicks;
    private long _spinAgainAt;
    private int _lateWaitsInRow;

    /// <summary>Waits on <paramref name="reader"/>; <paramref name="time"/> and <paramref name="spinOnce"/> (one step of the spin) are for tests.</summary>
    public InputWait(ChannelReader<T> reader, TimeProvider? time = null, Action? spinOnce = null)
    {
        _reader = reader;
        _wake = _woken.Set;
        _time = time ?? TimeProvider.System;
        _spinOnce = spinOnce;
        _contendedYieldTicks = (long)(ContendedYield.TotalSeconds * _time.TimestampFrequency);
        _blockOnlyTicks = (long)(BlockOnlyFor.TotalSeconds * _time.TimestampFrequency);
    }

    /// <summary>How many times late yields in consecutive waits stopped the spinning.</summary>
    public long ContendedSpins { get; private set; }

    /// <summary>Waits until an input can be read; false once the channel is completed and empty.</summary>
    public bool Wait() => WaitFor(_reader.WaitToReadAsync());

    public void Dispose() => _woken.Dispose();

    private bool WaitFor(ValueTask<bool> read)
    {
        var waiting = read.GetAwaiter();
        if (!waiting.IsCompleted)
        {
            if (_time.GetTimestamp() >= _spinAgainAt)
            {
                Spin(in waiting);
            }

            if (!waiting.IsCompleted)
            {
                _woken.Reset();
                waiting.UnsafeOnCompleted(_wake);
                _woken.Wait();
            }
        }

        return waiting.GetResult();
    }

    private void Spin(in ValueTaskAwaiter<bool> waiting)
    {
        var spinner = default(SpinWait);
        var before = _time.GetTimestamp();
        for (var i = 0; i < SpinIterations && !waiting.IsCompleted; i++)
        {
            if (_spinOnce is null)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            else
            {
                _spinOnce();
            }

            var after = _time.GetTimestamp();
            if (after - before >= _contendedYieldTicks)
            {
                // One late yield is a garbage collection or a burst elsewhere; late yields in consecutive waits are a
                // busy machine.
                if (++_lateWaitsInRow >= LateWaitsToBlock)
                {
                    ContendedSpins++;
                    _lateWaitsInRow = 0;
                    _spinAgainAt = after + _blockOnlyTicks;
                }

                return;
            }

            before = after;
        }

        _lateWaitsInRow = 0;
    }
}
