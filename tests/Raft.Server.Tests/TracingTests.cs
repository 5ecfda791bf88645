using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Core;
using Raft.Protocol;

namespace Raft.Server.Tests;

/// <summary>
/// ActivitySource listeners are process-wide, so the tests that add one or count what nobody listened to run alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TracingCollection
{
    public const string Name = "Tracing";
}

/// <summary>A write's spans (<see cref="NodeTracing"/>): one trace from the client through the follower to the leader's log.</summary>
[Collection(TracingCollection.Name)]
public sealed class TracingTests
{
    private const string AspNetCoreSource = "Microsoft.AspNetCore";

    [Fact]
    public async Task A_write_sent_to_a_follower_is_one_trace_from_the_forward_to_the_leaders_apply()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader == 1 ? 2 : 1;

        var traceId = ActivityTraceId.CreateRandom();
        var clientSpanId = ActivitySpanId.CreateRandom();
        var spans = new ConcurrentQueue<Activity>();
        using var listener = Listen(spans);

        using var put = new HttpRequestMessage(HttpMethod.Put, "/v1/kv/traced") { Content = new StringContent("value") };
        put.Headers.Add("traceparent", $"00-{traceId}-{clientSpanId}-01");
        using var response = await cluster.Client(follower).SendAsync(put);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var index = long.Parse(response.Headers.GetValues(ApiHeaders.Index).Single(), CultureInfo.InvariantCulture);

        // Spans end as their requests finish, which may be just after the client has its answer.
        var trace = await TestCluster.WaitUntilAsync(
            () => Task.FromResult(spans.Count(s => s.TraceId == traceId) >= 4 ? spans.Where(s => s.TraceId == traceId).ToList() : null),
            "the write's four spans") ?? [];

        var followerServer = Assert.Single(trace, s => s.Source.Name == AspNetCoreSource && s.ParentSpanId == clientSpanId);
        var forward = Assert.Single(trace, s => s.OperationName == NodeTracing.ForwardSpan);
        Assert.Equal(ActivityKind.Client, forward.Kind);
        Assert.Equal(follower, forward.GetTagItem("raft.node_id"));
        Assert.Equal(leader, forward.GetTagItem("raft.leader_id"));
        Assert.Equal(200, forward.GetTagItem("http.response.status_code"));
        Assert.Equal(followerServer.SpanId, forward.ParentSpanId);

        // The forwarded request carried the forward span's context: the leader's request span is its child.
        var leaderServer = Assert.Single(trace, s => s.Source.Name == AspNetCoreSource && s.ParentSpanId == forward.SpanId);
        var propose = Assert.Single(trace, s => s.OperationName == NodeTracing.ProposeSpan);
        Assert.Equal(leaderServer.SpanId, propose.ParentSpanId);
        Assert.Equal(leader, propose.GetTagItem("raft.node_id"));
        Assert.Equal(index, propose.GetTagItem("raft.index"));
        Assert.Equal("applied", propose.GetTagItem("raft.outcome"));
        Assert.Equal(ActivityStatusCode.Unset, propose.Status);

        // The leader's steps, each once: appended and made durable, committed, then applied, in time order.
        var events = propose.Events.ToList();
        Assert.Equal(["raft.proposed", "raft.appended", "raft.durable", "raft.committed", "raft.applied"], events.Select(e => e.Name).Order(StepOrder.Instance));
        Assert.Equal("raft.proposed", events[0].Name);
        Assert.Equal("raft.applied", events[^1].Name);
        Assert.True(At(events, "raft.appended") <= At(events, "raft.durable"));
        Assert.True(At(events, "raft.committed") <= At(events, "raft.applied"));
        Assert.Equal(events.Select(e => e.Timestamp).Order(), events.Select(e => e.Timestamp));
        Assert.True(propose.StartTimeUtc <= events[0].Timestamp.UtcDateTime && events[^1].Timestamp.UtcDateTime <= propose.StartTimeUtc + propose.Duration);

        // Nothing else in this trace: the follower proposed nothing itself.
        Assert.Equal(4, trace.Count);
    }

    [Fact]
    public async Task With_nobody_listening_no_write_is_traced()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader == 1 ? 2 : 1;

        // Listening once, then no more: what is traced after the listener goes is nothing.
        var spans = new ConcurrentQueue<Activity>();
        using (Listen(spans))
        {
            using var traced = await cluster.Client(follower).PutAsync("/v1/kv/traced", new StringContent("value"));
            Assert.Equal(HttpStatusCode.OK, traced.StatusCode);
        }

        Assert.Equal(1, cluster.Node(leader).TracedWrites);
        for (var i = 0; i < 20; i++)
        {
            using var put = await cluster.Client(i % 2 == 0 ? follower : leader).PutAsync($"/v1/kv/untraced-{i}", new StringContent("value"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        Assert.False(NodeTracing.Source.HasListeners());
        for (var id = 1; id <= cluster.Size; id++)
        {
            Assert.Equal(id == leader ? 1 : 0, cluster.Node(id).TracedWrites);
        }
    }

    [Fact]
    public void The_drivers_write_events_allocate_nothing_when_the_write_is_not_traced()
    {
        const int writes = 10_000;
        const int warmUp = 100;
        using var meters = new TestMeterFactory();
        var metrics = new NodeMetrics(meters, new NodeOptions { Id = 1 });
        var events = new NodeEvents(1, metrics, NullLogger.Instance, trace: null, TimeProvider.System);
        var requests = new ProposalRequest[warmUp + writes];
        var entries = new Entry[requests.Length];
        for (var i = 0; i < requests.Length; i++)
        {
            requests[i] = new ProposalRequest([1, 2, 3], metrics);
            entries[i] = new Entry(1, (ulong)i + 1, EntryType.Command, requests[i].Command);
        }

        for (var i = 0; i < warmUp; i++)
        {
            OneWrite(events, requests[i], entries[i]);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = warmUp; i < requests.Length; i++)
        {
            OneWrite(events, requests[i], entries[i]);
        }

        var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, events.Spans.PendingCount);

        // Any object is at least 24 bytes, so fewer bytes than writes means no write allocated.
        Assert.True(bytes < writes, $"{bytes} bytes over {writes} writes ({(double)bytes / writes:F1} per write)");
    }

    [Fact]
    public void A_traced_write_that_fails_ends_its_span_with_the_outcome_and_is_forgotten()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = Listen(spans);
        using var meters = new TestMeterFactory();
        var metrics = new NodeMetrics(meters, new NodeOptions { Id = 1 });
        var events = new NodeEvents(1, metrics, NullLogger.Instance, trace: null, TimeProvider.System);
        var request = new ProposalRequest([1], metrics, NodeTracing.StartPropose(1));
        Assert.NotNull(request.Span);

        events.Proposed(request, 7, 2);
        events.EntriesAppended(7, 7);
        request.AnswerShuttingDown();
        events.Persisted(7);

        var span = Assert.Single(spans, s => s.OperationName == NodeTracing.ProposeSpan);
        Assert.Equal(ErrorCodes.ShuttingDown, span.GetTagItem("raft.outcome"));
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Equal(["raft.proposed", "raft.appended"], span.Events.Select(e => e.Name));
        Assert.Equal(0, events.Spans.PendingCount);
    }

    [Fact]
    public async Task A_node_with_tracing_on_posts_its_spans_to_the_otlp_collector()
    {
        // Every post, in order: the exporter may send a batch on its timer before the one that holds the write.
        var posts = new ConcurrentQueue<(string Path, string? ContentType, byte[] Body)>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var collector = builder.Build();
        collector.Run(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            posts.Enqueue((context.Request.Path, context.Request.ContentType, body.ToArray()));
            context.Response.ContentType = "application/x-protobuf";
        });
        await collector.StartAsync();
        var endpoint = collector.Urls.Single();

        await using (var cluster = await TestCluster.StartAsync(size: 1, extraArgs: _ => [$"--Node:Tracing:OtlpEndpoint={endpoint}"]))
        {
            await cluster.WaitForLeaderAsync();
            using var put = await cluster.Client(1).PutAsync("/v1/kv/exported", new StringContent("value"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);

            // Stopping the node flushes the exporter's batch: once it has stopped, every post has been answered.
            await cluster.StopNodeAsync(1);
        }

        await collector.StopAsync();
        Assert.NotEmpty(posts);
        Assert.All(posts, post => Assert.Equal(("/v1/traces", "application/x-protobuf"), (post.Path, post.ContentType)));

        // Protobuf keeps strings as UTF-8 bytes: the service, the span and its last step are in the requests.
        var text = string.Concat(posts.Select(post => Encoding.UTF8.GetString(post.Body)));
        Assert.Contains("raft-node-1", text, StringComparison.Ordinal);
        Assert.Contains(NodeTracing.ProposeSpan, text, StringComparison.Ordinal);
        Assert.Contains("raft.applied", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_refuses_to_start_with_an_unusable_tracing_configuration()
    {
        var error = Assert.Throws<NodeConfigurationException>(() => NodeHost.Build(
            ["--Node:Id=1", "--Node:Peers:1=127.0.0.1:7001", "--Node:HttpEndpoints:1=http://127.0.0.1:1",
                "--Node:Tracing:OtlpEndpoint=localhost:4318", "--Node:Tracing:OtlpProtocol=thrift", "--Node:Tracing:SampleRatio=1.5"],
            new InMemoryNetwork().Factory));
        Assert.Contains("Node:Tracing:OtlpEndpoint must be an absolute http:// or https:// URL", error.Message, StringComparison.Ordinal);
        Assert.Contains("(got 'localhost:4318')", error.Message, StringComparison.Ordinal);
        Assert.Contains("Node:Tracing:OtlpProtocol must be http/protobuf or grpc (got 'thrift')", error.Message, StringComparison.Ordinal);
        Assert.Contains("Node:Tracing:SampleRatio must lie in [0, 1] (got 1.5)", error.Message, StringComparison.Ordinal);

        // The process says so and exits with 2 before opening anything.
        var stderr = Console.Error;
        using var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            Assert.Equal(2, await NodeHost.RunAsync(["--Node:Id=1", "--Node:Peers:1=127.0.0.1:7001", "--Node:HttpEndpoints:1=http://127.0.0.1:1", "--Node:Tracing:OtlpEndpoint=ftp://collector:4318"]));
        }
        finally
        {
            Console.SetError(stderr);
        }

        Assert.Contains("Node:Tracing:OtlpEndpoint must be an absolute http:// or https:// URL of an OTLP collector, such as http://localhost:4318 (got 'ftp://collector:4318')", captured.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://collector:4318", TracingOptions.HttpProtobuf, "http://collector:4318/v1/traces")]
    [InlineData("http://collector:4318/", TracingOptions.HttpProtobuf, "http://collector:4318/v1/traces")]
    [InlineData("https://collector/otlp/", TracingOptions.HttpProtobuf, "https://collector/otlp/v1/traces")]
    [InlineData("http://collector:4318/v1/traces", TracingOptions.HttpProtobuf, "http://collector:4318/v1/traces")]
    [InlineData("http://collector:4317", TracingOptions.Grpc, "http://collector:4317/")]
    public void The_exporter_posts_to_the_collectors_traces_path(string endpoint, string protocol, string expected)
    {
        var options = new TracingOptions { OtlpEndpoint = endpoint, OtlpProtocol = protocol };
        Assert.Empty(options.Validate());
        Assert.Equal(expected, options.ExportUri().ToString());
    }

    private static void OneWrite(NodeEvents events, ProposalRequest request, in Entry entry)
    {
        events.Proposed(request, entry.Index, entry.Term);
        events.EntriesAppended(entry.Index, entry.Index);
        events.Persisted(entry.Index);
        events.CommitAdvanced(entry.Index);
        events.Applied(entry, default);
    }

    private static ActivityListener Listen(ConcurrentQueue<Activity> spans)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is NodeTracing.SourceName or AspNetCoreSource,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private static DateTimeOffset At(List<ActivityEvent> events, string name) => events.Single(e => e.Name == name).Timestamp;

    private sealed class StepOrder : IComparer<string>
    {
        public static readonly StepOrder Instance = new();

        private static readonly string[] Steps = ["raft.proposed", "raft.appended", "raft.durable", "raft.committed", "raft.applied"];

        public int Compare(string? x, string? y) => Array.IndexOf(Steps, x).CompareTo(Array.IndexOf(Steps, y));
    }
}
