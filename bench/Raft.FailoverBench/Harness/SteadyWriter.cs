using System.Diagnostics;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>One attempt of a steady writer: <see cref="Error"/> null means acknowledged at <see cref="Index"/>.</summary>
/// <param name="Start">When the request was sent (<see cref="Stopwatch.GetTimestamp"/>).</param>
/// <param name="End">When the answer (or the failure) arrived.</param>
internal sealed record SteadyWrite(int Writer, long Seq, string Key, long Start, long End, string? Error, ulong Index)
{
    public bool Ok => Error is null;

    public double LatencyMs => Gaps.Ms(Start, End);
}

/// <summary>
/// Writers with one write in flight each, each overwriting its own <see cref="KeysPerWriter"/> keys in turn with
/// values of a fixed size: the log grows as under any write load while the state stays the size it was. A failed
/// attempt moves the writer to the node the answer named as leader, or the next node; it is counted, never retried.
/// Records every attempt. Start once, stop once.
/// </summary>
internal sealed class SteadyWriter
{
    public const int KeysPerWriter = 256;

    private readonly IBenchTarget _target;
    private readonly int _writers;
    private readonly int _valueBytes;
    private readonly TimeSpan _requestTimeout;
    private readonly string _keyPrefix;
    private readonly int _firstNode;
    private readonly Lock _gate = new();
    private readonly List<SteadyWrite> _writes = [];
    private readonly TaskCompletionSource _firstAcknowledged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task[] _tasks = [];
    private volatile bool _stopping;

    /// <param name="keyPrefix">Keys are <c>{keyPrefix}/{writer}/{seq mod KeysPerWriter}</c>.</param>
    /// <param name="firstNode">Where every writer sends its first request.</param>
    public SteadyWriter(IBenchTarget target, int writers, int valueBytes, TimeSpan requestTimeout, string keyPrefix, int firstNode)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(writers, 1);
        _target = target;
        _writers = writers;
        _valueBytes = valueBytes;
        _requestTimeout = requestTimeout;
        _keyPrefix = keyPrefix;
        _firstNode = firstNode;
    }

    public int Writers => _writers;

    public int ValueBytes => _valueBytes;

    /// <summary>Completes at the first acknowledged write.</summary>
    public Task FirstAcknowledged => _firstAcknowledged.Task;

    public static string Key(string keyPrefix, int writer, long seq) => $"{keyPrefix}/{writer}/{seq % KeysPerWriter}";

    public void Start()
    {
        if (_tasks.Length > 0)
        {
            throw new InvalidOperationException("the steady writer was started already");
        }

        _tasks = [.. Enumerable.Range(0, _writers).Select(w => Task.Run(() => WriteLoopAsync(w)))];
    }

    /// <summary>Stops every writer once its request in flight has answered (each is bounded by the request timeout).</summary>
    public async Task StopAsync()
    {
        _stopping = true;
        await Task.WhenAll(_tasks).ConfigureAwait(false);
    }

    public IReadOnlyList<SteadyWrite> Writes()
    {
        lock (_gate)
        {
            return [.. _writes];
        }
    }

    private async Task WriteLoopAsync(int writer)
    {
        var node = _firstNode;
        for (long seq = 1; !_stopping; seq++)
        {
            var key = Key(_keyPrefix, writer, seq);
            var value = ScaleValues.Value(key, seq, _valueBytes);
            var start = Stopwatch.GetTimestamp();
            var outcome = await _target.PutAsync(node, key, value, _requestTimeout, CancellationToken.None).ConfigureAwait(false);
            var record = new SteadyWrite(writer, seq, key, start, Stopwatch.GetTimestamp(), outcome.Error, outcome.Index);
            lock (_gate)
            {
                _writes.Add(record);
            }

            if (outcome.Ok)
            {
                _firstAcknowledged.TrySetResult();
            }
            else
            {
                node = Workload.NextNode(node, outcome.LeaderHint, _target.Nodes);
                await Task.Delay(1).ConfigureAwait(false);
            }
        }
    }
}
