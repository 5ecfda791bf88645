using System.Diagnostics;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>
/// The failover workload: <c>writers</c> writers with one write in flight each, every attempt on a new key, and one
/// reader that reads back, linearizably, the key of writer 0's most recently acknowledged write. A failed attempt
/// moves the client to the node the answer named as leader, or to the next node, after a pause of about 1 ms; a
/// success keeps it where it is. Records every attempt and every violation the reader sees. Start once, stop once.
/// </summary>
internal sealed class Workload
{
    private readonly IBenchTarget _target;
    private readonly int _writers;
    private readonly TimeSpan _requestTimeout;
    private readonly string _keyPrefix;
    private readonly int _firstNode;
    private readonly int _firstWriteNode;
    private readonly Lock _gate = new();
    private readonly List<WriteRecord> _writes = [];
    private readonly List<ReadRecord> _reads = [];
    private readonly List<string> _violations = [];
    private readonly List<(long After, bool Write, TaskCompletionSource Signal)> _waiters = [];
    private readonly TaskCompletionSource _firstViolation = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task[] _tasks = [];
    private WriteRecord? _latestAcknowledged;
    private volatile bool _stopping;

    /// <param name="keyPrefix">Keys are <c>{keyPrefix}/{writer}/{seq}</c>.</param>
    /// <param name="firstNode">Where the reader sends its first request, and the writers theirs unless <paramref name="firstWriteNode"/> says otherwise.</param>
    /// <param name="firstWriteNode">Where the writers send their first request; 0: <paramref name="firstNode"/>.</param>
    public Workload(IBenchTarget target, int writers, TimeSpan requestTimeout, string keyPrefix, int firstNode, int firstWriteNode = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(writers, 1);
        _target = target;
        _writers = writers;
        _requestTimeout = requestTimeout;
        _keyPrefix = keyPrefix;
        _firstNode = firstNode;
        _firstWriteNode = firstWriteNode != 0 ? firstWriteNode : firstNode;
    }

    /// <summary>Completes when the reader first sees a violation.</summary>
    public Task FirstViolation => _firstViolation.Task;

    public void Start()
    {
        var tasks = new List<Task>();
        for (var w = 0; w < _writers; w++)
        {
            var writer = w;
            tasks.Add(Task.Run(() => WriteLoopAsync(writer)));
        }

        tasks.Add(Task.Run(ReadLoopAsync));
        _tasks = [.. tasks];
    }

    /// <summary>Stops every client once its request in flight has answered (each is bounded by the request timeout).</summary>
    public async Task StopAsync()
    {
        _stopping = true;
        await Task.WhenAll(_tasks).ConfigureAwait(false);
    }

    /// <summary>Completes at the first acknowledged write (or successful read) of a request sent at or after <paramref name="timestamp"/>.</summary>
    public Task WhenSucceededAfter(long timestamp, bool write)
    {
        lock (_gate)
        {
            if (write ? _writes.Any(r => r.Ok && r.Start >= timestamp) : _reads.Any(r => r.Ok && r.Start >= timestamp))
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((timestamp, write, signal));
            return signal.Task;
        }
    }

    public IReadOnlyList<WriteRecord> Writes()
    {
        lock (_gate)
        {
            return [.. _writes];
        }
    }

    public IReadOnlyList<ReadRecord> Reads()
    {
        lock (_gate)
        {
            return [.. _reads];
        }
    }

    public IReadOnlyList<string> Violations()
    {
        lock (_gate)
        {
            return [.. _violations];
        }
    }

    /// <summary>
    /// What a linearizable read of <paramref name="expected"/>, acknowledged before the read began, may answer: the key
    /// with its value, at an index no lower than any earlier successful read's. Null when the answer is fine.
    /// </summary>
    public static string? CheckRead(WriteRecord expected, ReadOutcome read, ulong highestIndexSeen)
    {
        ArgumentNullException.ThrowIfNull(expected);
        if (!read.Found)
        {
            return $"stale read: key {expected.Key} (acknowledged at index {expected.Index} before the read began) was not found; the read was served at index {read.Index}";
        }

        if (read.Value != expected.Value)
        {
            return $"stale read: key {expected.Key} expected value '{expected.Value}', saw '{read.Value}'";
        }

        if (read.Index < highestIndexSeen)
        {
            return $"read index went backwards: key {expected.Key} was read at index {read.Index} after an earlier read at index {highestIndexSeen}";
        }

        return null;
    }

    /// <summary>Where a client goes after a failed attempt: the named leader if it is another node, else the next node.</summary>
    public static int NextNode(int node, int leaderHint, int nodes) =>
        leaderHint >= 1 && leaderHint <= nodes && leaderHint != node ? leaderHint : (node % nodes) + 1;

    private async Task WriteLoopAsync(int writer)
    {
        var node = _firstWriteNode;
        for (long seq = 1; !_stopping; seq++)
        {
            var key = $"{_keyPrefix}/{writer}/{seq}";
            var value = $"{key}#{Guid.NewGuid():N}";
            var start = Stopwatch.GetTimestamp();
            var outcome = await _target.PutAsync(node, key, value, _requestTimeout, CancellationToken.None).ConfigureAwait(false);
            var record = new WriteRecord(writer, seq, key, value, node, start, Stopwatch.GetTimestamp(), outcome.Error, outcome.Index);
            lock (_gate)
            {
                _writes.Add(record);
                if (record.Ok)
                {
                    if (writer == 0)
                    {
                        _latestAcknowledged = record;
                    }

                    Signal(record.Start, write: true);
                }
            }

            if (!outcome.Ok)
            {
                node = NextNode(node, outcome.LeaderHint, _target.Nodes);
                await Task.Delay(1).ConfigureAwait(false);
            }
        }
    }

    private async Task ReadLoopAsync()
    {
        var node = _firstNode;
        ulong highestIndex = 0;
        while (!_stopping)
        {
            WriteRecord? expected;
            lock (_gate)
            {
                expected = _latestAcknowledged;
            }

            if (expected is null)
            {
                // Nothing acknowledged yet to read back.
                await Task.Delay(1).ConfigureAwait(false);
                continue;
            }

            var start = Stopwatch.GetTimestamp();
            var outcome = await _target.GetAsync(node, expected.Key, _requestTimeout, CancellationToken.None).ConfigureAwait(false);
            var record = new ReadRecord(expected.Key, node, start, Stopwatch.GetTimestamp(), outcome.Error, outcome.Index);
            var violation = outcome.Ok ? CheckRead(expected, outcome, highestIndex) : null;
            lock (_gate)
            {
                _reads.Add(record);
                if (violation is not null)
                {
                    _violations.Add($"{violation} (node {node})");
                    _firstViolation.TrySetResult();
                }

                if (record.Ok)
                {
                    Signal(record.Start, write: false);
                }
            }

            if (outcome.Ok)
            {
                highestIndex = Math.Max(highestIndex, outcome.Index);
            }
            else
            {
                node = NextNode(node, outcome.LeaderHint, _target.Nodes);
                await Task.Delay(1).ConfigureAwait(false);
            }
        }
    }

    private void Signal(long start, bool write)
    {
        for (var i = _waiters.Count - 1; i >= 0; i--)
        {
            var (after, isWrite, signal) = _waiters[i];
            if (isWrite == write && start >= after)
            {
                signal.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
    }
}
