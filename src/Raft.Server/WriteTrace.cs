using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Raft.Core;

namespace Raft.Server;

/// <summary>
/// Where a write's time goes, from the driver's own events, summarised so that tracing does not change what it
/// measures: on the leader, for every <see cref="WritesPerSummary"/> writes it proposed and applied, the median and
/// 90th percentile of the microseconds from the proposal to each step (appended, durable here, sent to and
/// acknowledged by each follower, committed, applied); on a follower, the same for the time from an append's
/// arrival to its answer (its log append and fsync included). On at
/// <c>--Logging:LogLevel:Raft.Server.WriteTrace=Trace</c>; off, nothing is recorded.
/// </summary>
/// <remarks>Runs on the node's thread only. Bounded: records for entries never applied are dropped past a limit.</remarks>
internal sealed class WriteTrace(int nodeId, ILogger logger)
{
    public const int WritesPerSummary = 1000;

    private const int RecordsMax = 4096;

    private readonly Dictionary<ulong, Record> _records = [];
    private readonly Queue<long> _appendsReceived = new();
    private readonly SortedDictionary<string, List<long>> _steps = new(StringComparer.Ordinal);
    private readonly List<long> _answers = [];
    private int _writes;

    public static WriteTrace? Create(int nodeId, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Raft.Server.WriteTrace");
        return logger.IsEnabled(LogLevel.Trace) ? new WriteTrace(nodeId, logger) : null;
    }

    public void Proposed(ulong index)
    {
        if (_records.Count >= RecordsMax)
        {
            _records.Clear();
        }

        _records[index] = new Record(Stopwatch.GetTimestamp());
    }

    public void Appended(ulong first, ulong last) => Mark(first, last, "1 appended");

    public void Persisted(ulong last)
    {
        if (last != 0)
        {
            Mark(0, last, "2 durable here");
        }
    }

    public void Sent(in Message m)
    {
        if (m.Type == MessageType.Append && !m.Entries.IsEmpty)
        {
            var span = m.Entries.Span;
            Mark(span[0].Index, span[^1].Index, $"3 sent to {m.To}");
        }
        else if (m.Type == MessageType.AppendResponse && !m.Reject && _appendsReceived.TryDequeue(out var received))
        {
            _answers.Add(Micros(received, Stopwatch.GetTimestamp()));
            if (_answers.Count >= WritesPerSummary)
            {
                NodeLog.AppendTraced(logger, nodeId, _answers.Count, Percentile(_answers, 0.5), Percentile(_answers, 0.9));
                _answers.Clear();
            }
        }
    }

    public void Received(in Message m)
    {
        if (m.Type == MessageType.AppendResponse && !m.Reject)
        {
            Mark(0, m.Index, $"4 acked by {m.From}");
        }
        else if (m.Type == MessageType.Append && !m.Entries.IsEmpty && _appendsReceived.Count < RecordsMax)
        {
            _appendsReceived.Enqueue(Stopwatch.GetTimestamp());
        }
    }

    public void Committed(ulong commit) => Mark(0, commit, "5 committed");

    public void Applied(ulong index)
    {
        if (!_records.Remove(index, out var record))
        {
            return;
        }

        record.Steps["6 applied"] = Stopwatch.GetTimestamp();
        foreach (var (step, at) in record.Steps)
        {
            if (!_steps.TryGetValue(step, out var samples))
            {
                _steps[step] = samples = [];
            }

            samples.Add(Micros(record.Proposed, at));
        }

        if (++_writes < WritesPerSummary)
        {
            return;
        }

        var line = new StringBuilder(256);
        foreach (var (step, samples) in _steps)
        {
            line.Append(CultureInfo.InvariantCulture, $"{(line.Length == 0 ? string.Empty : "; ")}{step[2..]} {Percentile(samples, 0.5)}/{Percentile(samples, 0.9)}/{Percentile(samples, 0.99)}");
        }

        NodeLog.WriteTraced(logger, nodeId, _writes, line.ToString());
        _steps.Clear();
        _writes = 0;
    }

    // Marks the first time each recorded write in [first, last] reached a step; first 0 means "up to last".
    private void Mark(ulong first, ulong last, string step)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var (index, record) in _records)
        {
            if (index >= first && index <= last)
            {
                record.Steps.TryAdd(step, now);
            }
        }
    }

    private static long Percentile(List<long> samples, double p)
    {
        samples.Sort();
        return samples[Math.Min(samples.Count - 1, (int)(samples.Count * p))];
    }

    private static long Micros(long from, long to) => (long)Stopwatch.GetElapsedTime(from, to).TotalMicroseconds;

    private sealed class Record(long proposed)
    {
        public long Proposed { get; } = proposed;

        public Dictionary<string, long> Steps { get; } = new(StringComparer.Ordinal);
    }
}
