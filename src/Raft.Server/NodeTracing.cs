using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server;

/// <summary>
/// The node's spans, on the <see cref="ActivitySource"/> <see cref="SourceName"/>. A write gets a
/// <c>raft.propose</c> span on the node that proposes it (a child of ASP.NET Core's request span, so a client's W3C
/// <c>traceparent</c> is honoured), whose events mark its steps on the leader; a follower that forwards a write to
/// the leader wraps the call in a <c>raft.forward</c> client span and sends its <c>traceparent</c>, so the leader's
/// spans join the same trace. Nothing is created while nobody listens to the source.
/// </summary>
internal static class NodeTracing
{
    public const string SourceName = "Raft.Server";

    public const string ProposeSpan = "raft.propose";
    public const string ForwardSpan = "raft.forward";

    public static readonly ActivitySource Source = new(SourceName, typeof(NodeTracing).Assembly.GetName().Version?.ToString());

    /// <summary>
    /// Exports this node's spans and ASP.NET Core's request spans over OTLP as <c>Node:Tracing</c> says, as the service
    /// <c>raft-node-&lt;id&gt;</c>, sampled by trace id at <see cref="TracingOptions.SampleRatio"/> unless the caller's
    /// <c>traceparent</c> decided. The SDK listens process-wide: one node per process, as the server runs.
    /// </summary>
    public static void AddExporter(IServiceCollection services, NodeOptions options)
    {
        var tracing = options.Tracing;
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .AddService($"raft-node-{options.Id}", serviceInstanceId: options.Id.ToString(CultureInfo.InvariantCulture))
                .AddAttributes([new("raft.cluster_id", options.ClusterId)]))
            .WithTracing(traces => traces
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(tracing.SampleRatio)))
                .AddSource(SourceName)
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter(otlp =>
                {
                    otlp.Endpoint = tracing.ExportUri();
                    otlp.Protocol = tracing.OtlpProtocol == TracingOptions.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                }));
    }

    /// <summary>A recording <c>raft.propose</c> span, a child of the current one; null when nobody listens or the sampler drops it.</summary>
    public static Activity? StartPropose(int nodeId)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity(ProposeSpan, ActivityKind.Internal);
        if (activity is null)
        {
            return null;
        }

        if (!activity.IsAllDataRequested)
        {
            // Kept only to carry the trace context; an unsampled write records nothing on the node's thread.
            activity.Dispose();
            return null;
        }

        activity.SetTag("raft.node_id", nodeId);
        return activity;
    }

    /// <summary>A <c>raft.forward</c> client span for a request this follower passes to <paramref name="leaderId"/>; null when nobody listens.</summary>
    public static Activity? StartForward(int nodeId, int leaderId, string method, string target)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity(ForwardSpan, ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("raft.node_id", nodeId);
            activity.SetTag("raft.leader_id", leaderId);
            activity.SetTag("http.request.method", method);
            activity.SetTag("url.full", target);
        }

        return activity;
    }

    /// <summary>Ends a write's span with its outcome; an outcome other than applied marks the span as failed.</summary>
    public static void EndPropose(Activity activity, WriteStatus status, ulong index)
    {
        activity.SetTag("raft.outcome", StatusName(status));
        if (index != 0)
        {
            activity.SetTag("raft.index", (long)index);
        }

        if (status != WriteStatus.Applied)
        {
            activity.SetStatus(ActivityStatusCode.Error, StatusName(status));
        }

        activity.Stop();
    }

    // The error code a client gets for the same outcome (ErrorCodes), so a span and the answer it explains read alike.
    private static string StatusName(WriteStatus status) => status switch
    {
        WriteStatus.Applied => "applied",
        WriteStatus.NotLeader => ErrorCodes.NotLeader,
        WriteStatus.NoLeader => ErrorCodes.NoLeader,
        WriteStatus.LeadershipLost => ErrorCodes.LeadershipLost,
        WriteStatus.NotApplied => ErrorCodes.NotApplied,
        WriteStatus.Overloaded => ErrorCodes.Overloaded,
        WriteStatus.TimedOut => ErrorCodes.Timeout,
        WriteStatus.ShuttingDown => ErrorCodes.ShuttingDown,
        WriteStatus.DiskFull => ErrorCodes.DiskFull,
        WriteStatus.HandedOver => "handed_over",
        _ => status.ToString(),
    };
}

/// <summary>
/// The steps of the traced writes this leader proposed, as events on their <c>raft.propose</c> spans:
/// <c>raft.appended</c> (handed to the log), <c>raft.durable</c> (fsynced here), <c>raft.committed</c>,
/// <c>raft.applied</c>, each once, from the driver's own events (the same ones <see cref="WriteTrace"/> times).
/// </summary>
/// <remarks>
/// Runs on the node's thread only. Holds only writes whose span records, so with nobody listening every method
/// returns at its first test and allocates nothing. Bounded: past <see cref="PendingMax"/> writes a new one keeps its
/// span but gets no step events.
/// </remarks>
internal sealed class WriteSpans
{
    public const int PendingMax = 4096;

    private readonly Dictionary<ulong, Pending> _pending = [];
    private long _traced;

    /// <summary>How many writes this node has traced since it started; read from any thread.</summary>
    public long Traced => Volatile.Read(ref _traced);

    public int PendingCount => _pending.Count;

    public void Proposed(Activity span, ulong index, ulong term)
    {
        Volatile.Write(ref _traced, _traced + 1);
        span.SetTag("raft.index", (long)index);
        span.SetTag("raft.term", (long)term);
        span.AddEvent(new ActivityEvent("raft.proposed"));
        if (_pending.Count >= PendingMax)
        {
            Prune();
        }

        if (_pending.Count < PendingMax)
        {
            _pending[index] = new Pending(span);
        }
    }

    public void Appended(ulong first, ulong last)
    {
        if (_pending.Count != 0)
        {
            Mark(first, last, Step.Appended, "raft.appended");
        }
    }

    public void Persisted(ulong last)
    {
        if (_pending.Count != 0 && last != 0)
        {
            Mark(0, last, Step.Durable, "raft.durable");
        }
    }

    public void Committed(ulong commit)
    {
        if (_pending.Count != 0)
        {
            Mark(0, commit, Step.Committed, "raft.committed");
        }
    }

    public void Applied(ulong index)
    {
        if (_pending.Count != 0 && _pending.Remove(index, out var pending) && !pending.Span.IsStopped)
        {
            pending.Span.AddEvent(new ActivityEvent("raft.applied"));
        }
    }

    // Marks the first time each traced write in [first, last] reached a step; first 0 means "up to last". A span
    // already ended (its write failed or was overwritten) is dropped here.
    private void Mark(ulong first, ulong last, Step step, string name)
    {
        var ended = false;
        foreach (var (index, pending) in _pending)
        {
            if (pending.Span.IsStopped)
            {
                ended = true;
            }
            else if (index >= first && index <= last && (pending.Reached & step) == 0)
            {
                pending.Reached |= step;
                pending.Span.AddEvent(new ActivityEvent(name));
            }
        }

        if (ended)
        {
            Prune();
        }
    }

    private void Prune()
    {
        foreach (var (index, pending) in _pending)
        {
            if (pending.Span.IsStopped)
            {
                _pending.Remove(index);
            }
        }
    }

    // A leader may count a commit before its own fsync ends (the followers' acknowledgements suffice), so each step
    // is marked once on its own rather than as a stage after the previous one.
    [Flags]
    private enum Step : byte
    {
        None = 0,
        Appended = 1,
        Durable = 2,
        Committed = 4,
    }

    private sealed class Pending(Activity span)
    {
        public Activity Span { get; } = span;

        public Step Reached { get; set; }
    }
}
