using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>A change a trial's watch delivered, and when its line arrived (<see cref="Stopwatch.GetTimestamp"/> of the read that brought it).</summary>
internal readonly record struct DeliveredChange(ulong Index, string Key, bool Deleted, long At);

/// <summary>
/// The watcher of one failover trial: a watch of the trial's keys, opened on one node before the workload starts and
/// read by its own task until <see cref="DisposeAsync"/>, every change stamped when its line arrived. A stream that
/// breaks, ends, or says it ends (our <c>watch_dropped</c>, an etcd cancellation or gateway error) is resumed on the next
/// node after the last position it delivered, as both stores' clients do, and counted in <see cref="Reconnects"/>.
/// Nothing is dropped or merged on the way: what <see cref="Delivered"/> holds is what the stores sent, for the check.
/// Only the reading task writes; <see cref="SeenThrough"/> and <see cref="Reconnects"/> may be read at any time, the
/// rest once the watch is closed.
/// </summary>
internal sealed class TrialWatch : IAsyncDisposable
{
    // The trial's lines carry a few small writes each: a longer line means a stream gone wrong, not one to buffer.
    private const int LineBytesMax = 64 * 1024;

    // Reasons kept for the report; the count says how many streams broke in all.
    private const int BreaksKeptMax = 10;

    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(5);

    private readonly IFailoverWatchTarget _target;
    private readonly string _prefix;
    private readonly List<DeliveredChange> _delivered = [];
    private readonly List<string> _breaks = [];
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _placed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _reading = Task.CompletedTask;
    private ulong? _after;
    private long _seenThrough;
    private int _reconnects;
    private bool _closed;

    private TrialWatch(IFailoverWatchTarget target, int node, string prefix)
    {
        _target = target;
        Node = node;
        _prefix = prefix;
    }

    /// <summary>The node the watch was opened on.</summary>
    public int Node { get; }

    /// <summary>The highest position the watch has delivered everything up to.</summary>
    public ulong SeenThrough => (ulong)Volatile.Read(ref _seenThrough);

    /// <summary>Streams that broke or ended while the watch was open, each resumed on the next node.</summary>
    public int Reconnects => Volatile.Read(ref _reconnects);

    /// <summary>Every change delivered, in the order it arrived; read it once the watch is closed.</summary>
    public IReadOnlyList<DeliveredChange> Delivered => _closed ? _delivered : throw new InvalidOperationException("read what a watch delivered once it is closed");

    /// <summary>Why streams broke or could not be opened (the first few); read it once the watch is closed.</summary>
    public IReadOnlyList<string> Breaks => _closed ? _breaks : throw new InvalidOperationException("read why a watch broke once it is closed");

    /// <summary>
    /// Opens a watch of every change under <paramref name="prefix"/> from now on <paramref name="node"/> and returns once
    /// it is in place (it knows the position it streams after), reading. Not in place within <paramref name="timeout"/>
    /// ends the run.
    /// </summary>
    public static async Task<TrialWatch> OpenAsync(IFailoverWatchTarget target, int node, string prefix, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        var watch = new TrialWatch(target, node, prefix);
        watch._reading = Task.Run(watch.RunAsync, CancellationToken.None);
        try
        {
            await watch._placed.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return watch;
        }
        catch (OperationCanceledException)
        {
            await watch.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        catch (TimeoutException)
        {
            await watch.DisposeAsync().ConfigureAwait(false);
            throw new BenchException($"{target.Name}: the watch on node {node} was not in place within {timeout.TotalSeconds:F0} s ({string.Join("; ", watch.Breaks)})");
        }
    }

    /// <summary>Waits until the watch has delivered everything up to <paramref name="index"/>; false if it had not within <paramref name="limit"/>.</summary>
    public async Task<bool> WaitThroughAsync(ulong index, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (SeenThrough < index)
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                return false;
            }

            await Task.Delay(2, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Closes the stream and waits for the reader; what it delivered stays readable. Once only.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closed)
        {
            return;
        }

        await _closing.CancelAsync().ConfigureAwait(false);
        await _reading.ConfigureAwait(false);
        _closing.Dispose();
        _closed = true;
    }

    private async Task RunAsync()
    {
        var closing = _closing.Token;
        var node = Node;
        try
        {
            while (true)
            {
                var opening = await _target.OpenWatchAsync(node, _prefix, _after, AttemptTimeout, closing).ConfigureAwait(false);
                if (opening.Response is not { } response)
                {
                    Break($"node {node} did not open the watch: {opening.Error}");
                    node = (node % _target.Nodes) + 1;
                    await Task.Delay(RetryPause, closing).ConfigureAwait(false);
                    continue;
                }

                if (_after is null && opening.Start is { } start)
                {
                    Advance(start);
                }

                string why;
                using (response)
                {
                    why = await ReadAsync(response, closing).ConfigureAwait(false);
                }

                Break($"node {node}: {why}");
                Interlocked.Increment(ref _reconnects);
                node = (node % _target.Nodes) + 1;
            }
        }
        catch (OperationCanceledException) when (closing.IsCancellationRequested)
        {
            // Closed by DisposeAsync: the end of the trial.
        }
    }

    // Reads one stream until it ends or breaks: why it did. Throws OperationCanceledException once the watch is closed.
    private async Task<string> ReadAsync(HttpResponseMessage response, CancellationToken closing)
    {
        try
        {
            var body = await response.Content.ReadAsStreamAsync(closing).ConfigureAwait(false);
            var reader = PipeReader.Create(body, new StreamPipeReaderOptions(leaveOpen: false));
            try
            {
                while (true)
                {
                    var read = await reader.ReadAsync(closing).ConfigureAwait(false);
                    var at = Stopwatch.GetTimestamp();
                    var buffer = read.Buffer;
                    while (BenchWatch.TryReadLine(ref buffer, out var line))
                    {
                        if (Take(line, at) is { } error)
                        {
                            return error;
                        }
                    }

                    if (buffer.Length > LineBytesMax)
                    {
                        return $"a line longer than {LineBytesMax} bytes";
                    }

                    if (read.IsCompleted)
                    {
                        return "the node ended the stream";
                    }

                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
            }
            finally
            {
                await reader.CompleteAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (closing.IsCancellationRequested && ex is IOException or HttpRequestException or ObjectDisposedException)
        {
            throw new OperationCanceledException("the watch was closed", ex, closing);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return $"the stream broke: {ex.Message}";
        }
    }

    // One line: null, or why the stream ends here.
    private string? Take(ReadOnlySequence<byte> line, long at)
    {
        var parsed = _target.ReadWatchLine(line);
        if (parsed.Error is { } error)
        {
            return error;
        }

        if (_after is null)
        {
            if (parsed.Start is not { } start)
            {
                return "a line before the watch said where it starts";
            }

            Advance(start);
        }

        foreach (var change in parsed.Changes)
        {
            _delivered.Add(new DeliveredChange(change.Index, change.Key, change.Deleted, at));
        }

        if (parsed.Through is { } through)
        {
            Advance(through);
        }

        return null;
    }

    // The watch has delivered everything up to position: a resume starts after it.
    private void Advance(ulong position)
    {
        if (_after is null || position > _after)
        {
            _after = position;
            Volatile.Write(ref _seenThrough, (long)position);
        }

        _placed.TrySetResult();
    }

    private void Break(string reason)
    {
        if (_breaks.Count < BreaksKeptMax)
        {
            _breaks.Add(reason);
        }
    }
}
