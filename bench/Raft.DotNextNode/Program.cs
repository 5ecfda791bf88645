using System.Globalization;
using System.Net;
using System.Text;
using DotNext.Net.Cluster;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.Membership;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Raft.DotNextNode;

// A key-value node on DotNext.Net.Cluster, built as its documentation and its RaftNode example do: a RaftCluster on
// DotNext's TCP transport, a static member list in DotNext's in-memory configuration storage, its WriteAheadLog over a
// SimpleStateMachine, ReplicateAsync for writes and ApplyReadBarrierAsync for linearizable reads. The failover bench
// runs three of these beside our own nodes.
if (!NodeArguments.TryParse(args, out var options, out var error))
{
    await Console.Error.WriteLineAsync($"error: {error}\n{NodeArguments.Usage}").ConfigureAwait(false);
    return 2;
}

Directory.CreateDirectory(options!.DataDirectory);
using var loggerFactory = LoggerFactory.Create(logging => logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning));

// The snapshot must be restored before the WAL is made: the WAL replays the log from the snapshot's index.
var stateMachine = new KeyValueStateMachine(new DirectoryInfo(Path.Combine(options.DataDirectory, "snapshots")));
await stateMachine.RestoreAsync().ConfigureAwait(false);
await using var log = new WriteAheadLog(new WriteAheadLog.Options { Location = Path.Combine(options.DataDirectory, "wal") }, stateMachine);

var configuration = new RaftCluster.TcpConfiguration(options.RaftEndPoint)
{
    // Upper first: each setter checks the range against the other bound.
    UpperElectionTimeout = options.UpperElectionMs,
    LowerElectionTimeout = options.ElectionMs,
    HeartbeatThreshold = options.HeartbeatThreshold,
    ColdStart = false,
    ConfigurationStorage = null, // DotNext's in-memory storage, given the static member list below
    LoggerFactory = loggerFactory,
};
var storage = configuration.ConfigurationStorage as InMemoryClusterConfigurationStorage<EndPoint>
    ?? throw new InvalidOperationException("DotNext made no in-memory configuration storage");
var members = storage.CreateInitialConfigurationBuilder();
foreach (var peer in options.Peers)
{
    members.Add(peer);
}

members.Build();
await using var cluster = new RaftCluster(configuration) { AuditTrail = log };

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders().AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.HttpPort));
builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, NodeApiJsonContext.Default));
await using var app = builder.Build();

int LeaderNode()
{
    var endPoint = cluster.Leader?.EndPoint;
    for (var i = 0; i < options.Peers.Count; i++)
    {
        if (options.Peers[i].Equals(endPoint))
        {
            return i + 1;
        }
    }

    return 0;
}

IResult Refuse(HttpContext http, string reason)
{
    if (LeaderNode() is > 0 and var leader)
    {
        http.Response.Headers[NodeApi.LeaderHeader] = leader.ToString(CultureInfo.InvariantCulture);
    }

    return Results.Text(reason, statusCode: StatusCodes.Status503ServiceUnavailable);
}

app.MapPut(NodeApi.KvPrefix + "{*key}", async (string key, HttpContext http) =>
{
    // DotNext has no forwarding of a write to the leader (its ASP.NET Core hosting offers a redirect, RedirectToLeader,
    // which needs its HTTP transport): a follower refuses and names the leader.
    if (cluster.LeadershipToken.IsCancellationRequested)
    {
        return Refuse(http, "not the leader");
    }

    using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
    var value = await reader.ReadToEndAsync(http.RequestAborted).ConfigureAwait(false);
    var context = new WriteContext(Guid.NewGuid());
    try
    {
        // Returns once the entry is committed and applied here; the apply wrote its index into the context.
        await cluster.ReplicateAsync(new PutCommand(context.Request, key, value).Encode(), context, http.RequestAborted).ConfigureAwait(false);
    }
    catch (NotLeaderException)
    {
        return Refuse(http, "leadership lost before the write was applied; it may or may not have committed");
    }

    return context.Index > 0
        ? Results.Json(new PutAnswer(context.Index), NodeApiJsonContext.Default.PutAnswer)
        : Refuse(http, "another entry took the write's index");
});

app.MapGet(NodeApi.KvPrefix + "{*key}", async (string key, HttpContext http) =>
{
    try
    {
        // On the leader: a round of heartbeats confirms it still leads; on a follower: the leader's commit index is
        // fetched. Either way this node then waits until it has applied that far.
        await cluster.ApplyReadBarrierAsync(http.RequestAborted).ConfigureAwait(false);
    }
    catch (Exception ex) when (ex is QuorumUnreachableException or NotLeaderException or MemberUnavailableException)
    {
        return Refuse(http, $"no read barrier: {ex.Message}");
    }

    var (stored, applied) = stateMachine.Read(key);
    return stored is { } found
        ? Results.Json(new GetAnswer(applied, found.Value, found.CreateIndex, found.ModIndex, found.Version), NodeApiJsonContext.Default.GetAnswer)
        : Results.Json(new GetAnswer(applied, null, 0, 0, 0), NodeApiJsonContext.Default.GetAnswer, statusCode: StatusCodes.Status404NotFound);
});

app.MapGet(NodeApi.Leader, () => Results.Json(
    new LeaderAnswer(!cluster.LeadershipToken.IsCancellationRequested, LeaderNode(), cluster.Term), NodeApiJsonContext.Default.LeaderAnswer));

app.MapPost(NodeApi.Resign, async (HttpContext http) =>
    cluster.LeadershipToken.IsCancellationRequested || !await ((ICluster)cluster).ResignAsync(http.RequestAborted).ConfigureAwait(false)
        ? Results.Text("not the leader", statusCode: StatusCodes.Status409Conflict)
        : Results.Ok());

app.MapGet(NodeApi.Ready, () => cluster.Readiness.IsCompletedSuccessfully && cluster.Leader is not null
    ? Results.Ok()
    : Results.StatusCode(StatusCodes.Status503ServiceUnavailable));

var stopping = app.Lifetime.ApplicationStopping;
await cluster.StartAsync(stopping).ConfigureAwait(false);
await Console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
    $"dotnext node {options.Node}: raft {options.RaftEndPoint}, http 127.0.0.1:{options.HttpPort}, heartbeat {options.HeartbeatMs} ms, election timeout [{options.ElectionMs}, {options.UpperElectionMs}) ms, data {options.DataDirectory}")).ConfigureAwait(false);
await app.RunAsync().ConfigureAwait(false);
await cluster.StopAsync(CancellationToken.None).ConfigureAwait(false);
return 0;
