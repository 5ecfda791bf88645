using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Raft.Server;

/// <summary>
/// Watches the node's thread for what delays its heartbeats and votes: a batch that holds the thread for a third of an
/// election timeout or more (with the fsync and garbage collection time inside it), and a gap that long between
/// batches. The timer wakes the thread every tick, so such a gap is time the process, or the thread, was not run: a
/// blocking garbage collection, SIGSTOP, a starved CPU or thread pool. Both are logged and counted, since they are what
/// an operator needs to see when an election follows.
/// </summary>
internal sealed class NodeThreadWatch(int nodeId, int electionTimeoutMs, NodeMetrics metrics, ILogger logger)
{
    private readonly double _limitMs = electionTimeoutMs / 3.0;
    private long _started;
    private TimeSpan _pausedAtStart;
    private long _lastEnded;
    private TimeSpan _pausedAtLastEnd;

    /// <summary>A batch begins.</summary>
    public void BatchStarting()
    {
        _started = Stopwatch.GetTimestamp();
        _pausedAtStart = GC.GetTotalPauseDuration();
        if (_lastEnded == 0)
        {
            return;
        }

        var idle = Stopwatch.GetElapsedTime(_lastEnded, _started);
        if (idle.TotalMilliseconds >= _limitMs)
        {
            metrics.NodeThreadStalled();
            NodeLog.NotScheduled(logger, nodeId, (long)idle.TotalMilliseconds, (long)(_pausedAtStart - _pausedAtLastEnd).TotalMilliseconds);
        }
    }

    /// <summary>The batch begun last is done; <paramref name="fsync"/> of it went to the log's fsyncs.</summary>
    public void BatchEnded(TimeSpan fsync)
    {
        _lastEnded = Stopwatch.GetTimestamp();
        _pausedAtLastEnd = GC.GetTotalPauseDuration();
        var elapsed = Stopwatch.GetElapsedTime(_started, _lastEnded);
        if (elapsed.TotalMilliseconds >= _limitMs)
        {
            metrics.NodeThreadStalled();
            NodeLog.Stalled(logger, nodeId, (long)elapsed.TotalMilliseconds, (long)fsync.TotalMilliseconds, (long)(_pausedAtLastEnd - _pausedAtStart).TotalMilliseconds);
        }
    }
}
