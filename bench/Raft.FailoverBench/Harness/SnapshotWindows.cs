using System.Diagnostics;
using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>
/// One poll of a node's snapshot histogram (its count and its sum of seconds) and of its write-ahead log's fsyncs (count,
/// sum of seconds, how many took over 100 ms), sent and answered at <see cref="Stopwatch"/> timestamps.
/// </summary>
internal readonly record struct SnapshotSample(long Sent, long Received, long Count, double Seconds, long Fsyncs = 0, double FsyncSeconds = 0, long SlowFsyncs = 0);

/// <summary>A span of <see cref="Stopwatch"/> time in which node <see cref="Node"/> was writing a snapshot.</summary>
internal readonly record struct SnapshotWindow(int Node, long Start, long End)
{
    public bool Overlaps(long start, long end) => start < End && end > Start;
}

/// <summary>Where a write falls against the snapshots being written while it was in flight.</summary>
internal enum SnapshotTiming
{
    Outside,
    DuringLeaderSnapshot,
    DuringFollowerSnapshotOnly,
}

/// <summary>
/// When snapshots were written, from nothing but polls of each node's <c>raft_snapshot_duration_seconds</c>
/// histogram (observed when a snapshot is durable, with the time since its state was frozen), and which writes were
/// in flight meanwhile.
/// </summary>
internal static class SnapshotWindows
{
    /// <summary>
    /// A snapshot that completed between two polls ended after the earlier poll was sent and before the later one was
    /// answered, and began its duration before it ended. Its window is taken as [earlier sent − d, later answered],
    /// where d is what the sum grew by (the durations of every snapshot completed in between): that covers it wherever
    /// in the interval it ended, at the cost of up to one poll interval on each side.
    /// </summary>
    public static List<SnapshotWindow> From(int node, IReadOnlyList<SnapshotSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var windows = new List<SnapshotWindow>();
        for (var i = 1; i < samples.Count; i++)
        {
            var (earlier, later) = (samples[i - 1], samples[i]);
            if (later.Count > earlier.Count)
            {
                var duration = (long)(Math.Max(0, later.Seconds - earlier.Seconds) * Stopwatch.Frequency);
                windows.Add(new SnapshotWindow(node, earlier.Sent - duration, later.Received));
            }
        }

        return windows;
    }

    /// <summary>
    /// The write-ahead log's fsyncs between consecutive polls of one node, split by whether the span between the polls
    /// overlaps one of <paramref name="windows"/> (its own snapshots, say) or none.
    /// </summary>
    public static (FsyncSummary During, FsyncSummary Outside) Fsyncs(IReadOnlyList<SnapshotSample> samples, IReadOnlyList<SnapshotWindow> windows)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(windows);
        long[] count = [0, 0], slow = [0, 0];
        double[] seconds = [0, 0];
        for (var i = 1; i < samples.Count; i++)
        {
            var (earlier, later) = (samples[i - 1], samples[i]);
            var during = windows.Any(w => w.Overlaps(earlier.Sent, later.Received)) ? 0 : 1;
            count[during] += later.Fsyncs - earlier.Fsyncs;
            seconds[during] += later.FsyncSeconds - earlier.FsyncSeconds;
            slow[during] += later.SlowFsyncs - earlier.SlowFsyncs;
        }

        return (Summary(0), Summary(1));
        FsyncSummary Summary(int k) => new(count[k], count[k] > 0 ? Math.Round(seconds[k] / count[k] * 1000, 3) : null, slow[k]);
    }

    public static SnapshotTiming Classify(long start, long end, int leader, IReadOnlyList<SnapshotWindow> windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        if (windows.Any(w => w.Node == leader && w.Overlaps(start, end)))
        {
            return SnapshotTiming.DuringLeaderSnapshot;
        }

        return windows.Any(w => w.Overlaps(start, end)) ? SnapshotTiming.DuringFollowerSnapshotOnly : SnapshotTiming.Outside;
    }

    /// <summary>
    /// The writes by the <paramref name="bucket"/> they were sent in, counted from <paramref name="origin"/>: how many
    /// were acknowledged and failed, the acknowledged ones' p50 and p99, and whether the leader was writing a snapshot
    /// during any of the bucket.
    /// </summary>
    public static List<LatencyBucket> Series(IReadOnlyList<SteadyWrite> writes, long origin, TimeSpan bucket, int leader, IReadOnlyList<SnapshotWindow> windows)
    {
        ArgumentNullException.ThrowIfNull(writes);
        ArgumentNullException.ThrowIfNull(windows);
        var ticks = (long)(bucket.TotalSeconds * Stopwatch.Frequency);
        var series = new List<LatencyBucket>();
        foreach (var group in writes.Where(w => w.Start >= origin).GroupBy(w => (w.Start - origin) / ticks).OrderBy(g => g.Key))
        {
            var from = origin + (group.Key * ticks);
            var summary = LatencySummary.Of(group);
            series.Add(new LatencyBucket(
                Math.Round(group.Key * bucket.TotalSeconds, 3),
                summary.Ok,
                summary.Failed,
                summary.P50Ms,
                summary.P99Ms,
                windows.Any(w => w.Node == leader && w.Overlaps(from, from + ticks))));
        }

        return series;
    }
}

/// <summary>Polls every node's snapshot histogram at a fixed interval until stopped (or disposed), keeping every answer.</summary>
internal sealed class SnapshotPoller(IScaleTarget target, TimeSpan interval) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<int, List<SnapshotSample>> _samples = [];
    private readonly CancellationTokenSource _stop = new();
    private Task? _task;

    public void Start() => _task = Task.Run(PollAsync);

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_task is not null)
        {
            await _task.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    public IReadOnlyList<SnapshotSample> Samples(int node)
    {
        lock (_gate)
        {
            return _samples.TryGetValue(node, out var list) ? [.. list] : [];
        }
    }

    /// <summary>Every node's windows so far.</summary>
    public List<SnapshotWindow> Windows() => [.. Enumerable.Range(1, target.Nodes).SelectMany(n => SnapshotWindows.From(n, Samples(n)))];

    private async Task PollAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var next = Stopwatch.GetTimestamp() + (long)(interval.TotalSeconds * Stopwatch.Frequency);
            await Task.WhenAll(Enumerable.Range(1, target.Nodes).Select(PollOneAsync)).ConfigureAwait(false);
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
            try
            {
                await Task.Delay(left > TimeSpan.Zero ? left : TimeSpan.Zero, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task PollOneAsync(int node)
    {
        var sent = Stopwatch.GetTimestamp();
        NodeState? state;
        try
        {
            state = await target.StateAsync(node, TimeSpan.FromSeconds(1), _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (state is { SnapshotsTaken: { } count, SnapshotSeconds: { } seconds })
        {
            var sample = new SnapshotSample(sent, Stopwatch.GetTimestamp(), count, seconds, state.Fsyncs ?? 0, state.FsyncSeconds ?? 0, state.SlowFsyncs ?? 0);
            lock (_gate)
            {
                (_samples.TryGetValue(node, out var list) ? list : _samples[node] = []).Add(sample);
            }
        }
    }
}
