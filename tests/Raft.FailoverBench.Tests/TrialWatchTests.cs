using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using Raft.FailoverBench.Harness;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Tests;

/// <summary>A failover trial's watcher: where it is opened, how it reads each store's lines, and how it resumes.</summary>
public sealed class TrialWatchTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static ReadOnlySequence<byte> Line(string text) => new(Encoding.UTF8.GetBytes(text));

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void TheWatchNode_IsNeitherTheLeader_NorTheFollowerAReplacementKills(int leader)
    {
        var node = FailoverRunner.WatchNode(leader, 3);
        Assert.InRange(node, 1, 3);
        Assert.NotEqual(leader, node);
        Assert.NotEqual((leader % 3) + 1, node);
    }

    [Fact]
    public void OurLines_CarryTheirIndex_AndTheirChanges()
    {
        var changes = OurClusterTarget.ParseWatchLine(Line("{\"index\":42,\"changes\":[{\"key\":\"fb/a/crash-1/0/7\",\"type\":\"put\",\"value\":\"dg==\",\"version\":42,\"createIndex\":42}]}"));
        Assert.Null(changes.Error);
        Assert.Equal(42UL, changes.Through);
        Assert.Equal([new WatchedChange(42, "fb/a/crash-1/0/7", false)], changes.Changes);

        var progress = OurClusterTarget.ParseWatchLine(Line("{\"index\":50}"));
        Assert.Equal(50UL, progress.Through);
        Assert.Empty(progress.Changes);

        var dropped = OurClusterTarget.ParseWatchLine(Line("{\"index\":50,\"error\":\"watch_dropped\",\"detail\":\"watch again from index 50\"}"));
        Assert.Equal("the node ended the watch at index 50: watch_dropped (watch again from index 50)", dropped.Error);
        Assert.NotNull(OurClusterTarget.ParseWatchLine(Line("{\"index\":")).Error);
    }

    [Fact]
    public void EtcdLines_AsItsGatewayWritesThem()
    {
        // Lines as etcd 3.4.23's gateway wrote them for a watch of w/ (keys and values in base64, numbers as strings).
        var created = EtcdClusterTarget.ParseWatchLine(Line(
            "{\"result\":{\"header\":{\"cluster_id\":\"6964728607212473779\",\"member_id\":\"9685874076489904787\",\"revision\":\"1\",\"raft_term\":\"2\"},\"created\":true}}"));
        Assert.Null(created.Error);
        Assert.Equal(1UL, created.Start);
        Assert.Null(created.Through);
        Assert.Empty(created.Changes);

        var events = EtcdClusterTarget.ParseWatchLine(Line(
            "{\"result\":{\"header\":{\"revision\":\"4\"},\"events\":[{\"kv\":{\"key\":\"dy8y\",\"create_revision\":\"3\",\"mod_revision\":\"3\",\"version\":\"1\",\"value\":\"dg==\"}},{\"type\":\"DELETE\",\"kv\":{\"key\":\"dy8y\",\"mod_revision\":\"4\"}}]}}"));
        Assert.Null(events.Error);
        Assert.Null(events.Start);
        Assert.Equal(4UL, events.Through);
        Assert.Equal([new WatchedChange(3, "w/2", false), new WatchedChange(4, "w/2", true)], events.Changes);

        Assert.Equal(
            "etcd canceled the watch: mvcc: required revision has been compacted (compact revision 9)",
            EtcdClusterTarget.ParseWatchLine(Line("{\"result\":{\"header\":{\"revision\":\"12\"},\"canceled\":true,\"compact_revision\":\"9\",\"cancel_reason\":\"mvcc: required revision has been compacted\"}}")).Error);
        Assert.Equal(
            "the gateway ended the watch: 503 etcdserver: no leader",
            EtcdClusterTarget.ParseWatchLine(Line("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}")).Error);
    }

    [Theory]
    [InlineData("fb/a/crash-1/", "fb/a/crash-10")]
    [InlineData("a\u00ff", "b")]
    [InlineData("", "\0")]
    public void EtcdsRangeEnd_OfAPrefix_IsItsLastByteBelow0xffPlusOne(string prefix, string end)
    {
        var bytes = prefix.Select(c => (byte)c).ToArray();
        Assert.Equal(end.Select(c => (byte)c).ToArray(), EtcdClusterTarget.PrefixEnd(bytes));
    }

    [Fact]
    public async Task ABrokenStream_IsResumedOnTheNextNode_AfterTheLastIndexDelivered()
    {
        // Node 3 sends indexes 5 and 6, then a progress line to 8, then ends; node 1 is asked for what follows 8.
        var target = new ScriptedWatchTarget(
            new Script(3, null, 4, "5 k5\n6 k6\n8\n", End: true),
            new Script(1, 8, 8, "9 k9\n", End: false));
        await using var watch = await TrialWatch.OpenAsync(target, 3, "k", Patience, CancellationToken.None);
        Assert.True(await watch.WaitThroughAsync(9, Patience, CancellationToken.None));
        Assert.Equal(1, watch.Reconnects);
        await watch.DisposeAsync();
        Assert.Equal([5UL, 6UL, 9UL], watch.Delivered.Select(d => d.Index));
        Assert.Equal(["k5", "k6", "k9"], watch.Delivered.Select(d => d.Key));
        Assert.Equal("node 3: the node ended the stream", Assert.Single(watch.Breaks));
        Assert.Equal([(3, (ulong?)null), (1, (ulong?)8)], target.Asked);
    }

    [Fact]
    public async Task AWatchFromNow_IsInPlace_OnceItsFirstLineSaysWhereItStarts()
    {
        // As etcd: no start in the headers, the created line names it.
        var target = new ScriptedWatchTarget(new Script(2, null, null, "start 20\n21 k21\n", End: false));
        await using var watch = await TrialWatch.OpenAsync(target, 2, "k", Patience, CancellationToken.None);
        Assert.True(await watch.WaitThroughAsync(21, Patience, CancellationToken.None));
        await watch.DisposeAsync();
        Assert.Equal(21UL, Assert.Single(watch.Delivered).Index);
        Assert.Equal(0, watch.Reconnects);
    }

    /// <summary>One stream a node serves: its headers' start, its lines, and whether it ends after them or stays open.</summary>
    private sealed record Script(int Node, ulong? ExpectedAfter, ulong? Start, string Lines, bool End);

    /// <summary>
    /// Serves the scripts in order, one per opening, in a line format of its own: <c>N KEY</c> (a put at N), <c>N</c>
    /// (delivered through N), <c>start N</c> (a watch from now streams after N).
    /// </summary>
    private sealed class ScriptedWatchTarget(params Script[] scripts) : IFailoverWatchTarget
    {
        private readonly Queue<Script> _scripts = new(scripts);
        private readonly List<Pipe> _open = [];

        public List<(int Node, ulong? After)> Asked { get; } = [];

        public string Name => "scripted";

        public int Nodes => 3;

        public async Task<WatchOpening> OpenWatchAsync(int node, string prefix, ulong? after, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Asked.Add((node, after));
            if (!_scripts.TryDequeue(out var script))
            {
                return new WatchOpening(ErrorKinds.Refused, null, null);
            }

            Assert.Equal(script.Node, node);
            Assert.Equal(script.ExpectedAfter, after);
            var pipe = new Pipe();
            await pipe.Writer.WriteAsync(Encoding.UTF8.GetBytes(script.Lines), cancellationToken);
            if (script.End)
            {
                await pipe.Writer.CompleteAsync();
            }
            else
            {
                _open.Add(pipe);
            }

            var response = new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new StreamContent(pipe.Reader.AsStream()) };
            return new WatchOpening(null, response, script.Start);
        }

        public WatchLine ReadWatchLine(ReadOnlySequence<byte> line)
        {
            var parts = Encoding.UTF8.GetString(line).Split(' ');
            return parts switch
            {
                ["start", var n] => new WatchLine(null, ulong.Parse(n, CultureInfo.InvariantCulture), null, []),
                [var n] => new WatchLine(null, null, ulong.Parse(n, CultureInfo.InvariantCulture), []),
                [var n, var key] => new WatchLine(null, null, ulong.Parse(n, CultureInfo.InvariantCulture), [new WatchedChange(ulong.Parse(n, CultureInfo.InvariantCulture), key, false)]),
                _ => WatchLine.Failed("a line of no form"),
            };
        }

        public Task StartAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<WriteOutcome> PutAsync(int node, string key, string value, TimeSpan timeout, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<ReadOutcome> GetAsync(int node, string key, TimeSpan timeout, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<bool?> ClaimsLeadershipAsync(int node, TimeSpan timeout, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<bool> TransferLeadershipAsync(int leader, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task CrashAsync(int node, CancellationToken cancellationToken) => throw new NotSupportedException();

        public void Pause(int node) => throw new NotSupportedException();

        public void Resume(int node) => throw new NotSupportedException();

        public Task RestartAsync(int node, CancellationToken cancellationToken) => throw new NotSupportedException();

        public int Pid(int node) => throw new NotSupportedException();

        public Task ReplaceAsync(int dead, CancellationToken cancellationToken) => throw new NotSupportedException();

        public void KillAll()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
