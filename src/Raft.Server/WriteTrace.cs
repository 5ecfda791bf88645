using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Raft.Core;

namespace Raft.Server;

/// <summary>
/// Where a write's time goes, from the driver's own events: on the leader, one line per applied entry it proposed,
/// with microseconds since the proposal at each step (appended, durable here, sent to and acknowledged by each
/// follower, committed, applied); on a follower, one line per append it answered. On at
/// <c>--Logging:LogLevel:Raft.Server.WriteTrace=Trace</c>; off, nothing is recorded.
/// </summary>
/// <remarks>Runs on the node's thread only. Bounded: records for entries never applied are dropped past a limit.</remarks>
internal sealed class WriteTrace(int nodeId, ILogger logger)
{
    private const int RecordsMax = 4096;

    private readonly Dictionary<ulong, Record> _records = [];
    private readonly Queue<(int From, ulong First, ulong Last, long Received)> _appendsReceived = new();

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

    public void Appended(ulong first, ulong last)
    {
        var now = Stopwatch.GetTimestamp();
        for (var i = first; i <= last; i++)
        {
            if (_records.TryGetValue(i, out var record))
            {
                record.Appended = now;
            }
        }
    }

    public void Persisted(ulong last)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var (index, record) in _records)
        {
            if (index <= last && record.Durable == 0 && record.Appended != 0)
            {
                record.Durable = now;
            }
        }
    }

    public void Sent(in Message m)
    {
        var now = Stopwatch.GetTimestamp();
        if (m.Type == MessageType.Append && !m.Entries.IsEmpty)
        {
            foreach (ref readonly var e in m.Entries.Span)
            {
                if (_records.TryGetValue(e.Index, out var record))
                {
                    record.Steps.Add(($"sent to {m.To}", now));
                }
            }
        }
        else if (m.Type == MessageType.AppendResponse && !m.Reject && _appendsReceived.TryDequeue(out var received))
        {
            NodeLog.AppendTraced(logger, nodeId, received.First, received.Last, received.From, Micros(received.Received, now));
        }
    }

    public void Received(in Message m)
    {
        var now = Stopwatch.GetTimestamp();
        if (m.Type == MessageType.AppendResponse && !m.Reject)
        {
            foreach (var (index, record) in _records)
            {
                if (index <= m.Index && !record.AckedBy.Contains(m.From))
                {
                    record.AckedBy.Add(m.From);
                    record.Steps.Add(($"acked by {m.From}", now));
                }
            }
        }
        else if (m.Type == MessageType.Append && !m.Entries.IsEmpty && _appendsReceived.Count < RecordsMax)
        {
            _appendsReceived.Enqueue((m.From, m.Entries.Span[0].Index, m.Entries.Span[^1].Index, now));
        }
    }

    public void Committed(ulong commit)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var (index, record) in _records)
        {
            if (index <= commit && record.Committed == 0)
            {
                record.Committed = now;
            }
        }
    }

    public void Applied(ulong index)
    {
        if (!_records.Remove(index, out var record))
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        var line = new StringBuilder(160);
        line.Append(CultureInfo.InvariantCulture, $"appended +{Micros(record.Proposed, record.Appended)}, durable here +{Micros(record.Proposed, record.Durable)}");
        foreach (var (step, at) in record.Steps)
        {
            line.Append(CultureInfo.InvariantCulture, $", {step} +{Micros(record.Proposed, at)}");
        }

        line.Append(CultureInfo.InvariantCulture, $", committed +{Micros(record.Proposed, record.Committed)}, applied +{Micros(record.Proposed, now)}");
        NodeLog.WriteTraced(logger, nodeId, index, line.ToString());
    }

    private static long Micros(long from, long to) => to == 0 ? -1 : (long)Stopwatch.GetElapsedTime(from, to).TotalMicroseconds;

    private sealed class Record(long proposed)
    {
        public long Proposed { get; } = proposed;

        public long Appended { get; set; }

        public long Durable { get; set; }

        public long Committed { get; set; }

        public List<(string Step, long At)> Steps { get; } = [];

        public List<int> AckedBy { get; } = [];
    }
}
