using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Raft.DotNextNode;
using Raft.Server.Launcher;

namespace Raft.FailoverBench.Targets;

/// <summary>
/// Three nodes of <c>bench/Raft.DotNextNode</c> (a key-value store on DotNext.Net.Cluster, built next to this tool) on
/// 127.0.0.1, with our nodes' heartbeat and minimum election timeout: heartbeat 50 ms, election timeout drawn from
/// [300, 400) ms (a wider spread than ours: see <see cref="ElectionJitterMs"/>). Writes go to the
/// leader only (a follower refuses with the leader's number, which the harness follows); reads take DotNext's read
/// barrier on whichever node they reach. A switchover is DotNext's resign: the leader steps down and the nodes elect
/// anew, since DotNext has no transfer to a chosen node. It has no replacement of a member here: the scale mode and the
/// replace scenario leave it out (see <see cref="BenchOptions"/>).
/// </summary>
internal sealed class DotNextClusterTarget : IBenchTarget
{
    public const string TargetName = BenchOptions.DotNextTarget;

    /// <summary>Our nodes' defaults (Node:HeartbeatIntervalMs, Node:ElectionTimeoutMs).</summary>
    public const int HeartbeatMs = 50;
    public const int ElectionMs = 300;

    /// <summary>
    /// Wider than ours (Node:ElectionJitterMs, 25 ms): a narrow spread relies on crossing pre-vote campaigns settling
    /// among themselves, as ours do, which DotNext's documentation does not describe.
    /// </summary>
    public const int ElectionJitterMs = 100;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly HttpClient _http;
    private readonly string _nodeDll;
    private readonly string _dataDirectory;
    private readonly int _httpBasePort;
    private readonly int _raftBasePort;
    private readonly NodeProcesses _processes = new("dotnext", 3);

    public DotNextClusterTarget(HttpClient http, string nodeDll, string dataDirectory, int httpBasePort, int raftBasePort)
    {
        _http = http;
        _nodeDll = nodeDll;
        _dataDirectory = dataDirectory;
        _httpBasePort = httpBasePort;
        _raftBasePort = raftBasePort;
    }

    public string Name => TargetName;

    public int Nodes => 3;

    /// <summary>What the run prints about this target's settings.</summary>
    public static string Settings =>
        string.Create(CultureInfo.InvariantCulture, $"dotnext: DotNext.Net.Cluster 6.12.2, TCP transport, heartbeat {HeartbeatMs} ms, election timeout [{ElectionMs}, {ElectionMs + ElectionJitterMs}) ms, switchover by resign (no targeted transfer)");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_dataDirectory);
        for (var node = 1; node <= Nodes; node++)
        {
            StartNode(node);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(StartTimeout);
        try
        {
            while (true)
            {
                var claims = await Task.WhenAll(Enumerable.Range(1, Nodes).Select(n => ClaimsLeadershipAsync(n, TimeSpan.FromMilliseconds(500), deadline.Token))).ConfigureAwait(false);
                if (claims.All(c => c is not null) && claims.Count(c => c == true) == 1)
                {
                    return;
                }

                await Task.Delay(50, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BenchException($"{Name}: no leader within {StartTimeout.TotalSeconds:F0} s; node logs are in {_dataDirectory}");
        }
    }

    public async Task<WriteOutcome> PutAsync(int node, string key, string value, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, KeyUri(node, key)) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(value)) };
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        if (answer.Error is not null)
        {
            return WriteOutcome.Failed(answer.Error);
        }

        if (answer.Status != HttpStatusCode.OK)
        {
            return WriteOutcome.Failed(ErrorKinds.Status((int)answer.Status), LeaderHint(answer));
        }

        return Parse(answer.Body, NodeApiJsonContext.Default.PutAnswer) is { Index: > 0 } put
            ? new WriteOutcome(null, (ulong)put.Index, 0)
            : WriteOutcome.Failed(ErrorKinds.BadAnswer);
    }

    public async Task<ReadOutcome> GetAsync(int node, string key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, KeyUri(node, key));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        if (answer.Error is not null)
        {
            return ReadOutcome.Failed(answer.Error);
        }

        if (answer.Status is not (HttpStatusCode.OK or HttpStatusCode.NotFound))
        {
            return ReadOutcome.Failed(ErrorKinds.Status((int)answer.Status), LeaderHint(answer));
        }

        if (Parse(answer.Body, NodeApiJsonContext.Default.GetAnswer) is not { Index: > 0 } get)
        {
            return ReadOutcome.Failed(ErrorKinds.BadAnswer);
        }

        return answer.Status == HttpStatusCode.NotFound
            ? ReadOutcome.NotFound((ulong)get.Index)
            : new ReadOutcome(null, true, get.Value ?? string.Empty, (ulong)get.Index, (ulong)get.ModIndex, (ulong)get.CreateIndex, get.Version, 0);
    }

    public async Task<bool?> ClaimsLeadershipAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Endpoint(node), NodeApi.Leader));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        return answer.Error is null && answer.Status == HttpStatusCode.OK ? Parse(answer.Body, NodeApiJsonContext.Default.LeaderAnswer)?.Leader : null;
    }

    /// <summary>DotNext's resign: the leader steps down and any node may win the election that follows, itself too.</summary>
    public async Task<bool> TransferLeadershipAsync(int leader, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Endpoint(leader), NodeApi.Resign));
        var answer = await BenchHttp.SendAsync(_http, request, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return answer.Error is null && answer.Status == HttpStatusCode.OK;
    }

    public Task CrashAsync(int node, CancellationToken cancellationToken) => _processes.CrashAsync(node, cancellationToken);

    public void Pause(int node) => Signals.Stop(Pid(node));

    public void Resume(int node) => Signals.Continue(Pid(node));

    public Task RestartAsync(int node, CancellationToken cancellationToken)
    {
        _processes.ReleaseExited(node);
        StartNode(node);
        return Task.CompletedTask;
    }

    public int Pid(int node) => _processes.Pid(node);

    public Task ReplaceAsync(int dead, CancellationToken cancellationToken) =>
        throw new BenchException(ReplaceNotSupported);

    public const string ReplaceNotSupported =
        "replace is not supported by dotnext: its node has a static member list (DotNext's membership changes are not wired into it)";

    public void KillAll() => _processes.KillAll();

    public ValueTask DisposeAsync() => _processes.DisposeAsync();

    /// <summary>The command line of node <paramref name="node"/>; a restart reuses it with the same data directory.</summary>
    internal IReadOnlyList<string> ArgumentsFor(int node) =>
    [
        "--node", node.ToString(CultureInfo.InvariantCulture),
        "--http-port", (_httpBasePort + node - 1).ToString(CultureInfo.InvariantCulture),
        "--peers", string.Join(',', Enumerable.Range(0, Nodes).Select(i => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{_raftBasePort + i}"))),
        "--data", Path.Combine(_dataDirectory, $"d{node}"),
        "--heartbeat-ms", HeartbeatMs.ToString(CultureInfo.InvariantCulture),
        "--election-ms", ElectionMs.ToString(CultureInfo.InvariantCulture),
        "--election-jitter-ms", ElectionJitterMs.ToString(CultureInfo.InvariantCulture),
    ];

    private void StartNode(int node)
    {
        // A dll through the dotnet host, as our own server's dll is started.
        _processes.Start(node, NodeProcess.StartInfo(ArgumentsFor(node), _nodeDll), Path.Combine(_dataDirectory, $"d{node}.log"));
    }

    private Uri Endpoint(int node) => new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{_httpBasePort + node - 1}"));

    // Each segment escaped, the slashes kept: the node's route takes the rest of the path as the key.
    private Uri KeyUri(int node, string key) =>
        new(Endpoint(node), NodeApi.KvPrefix + string.Join('/', key.Split('/').Select(Uri.EscapeDataString)));

    private static int LeaderHint(HttpAnswer answer) =>
        answer.Headers is not null && answer.Headers.TryGetValues(NodeApi.LeaderHeader, out var values)
            && int.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var node) && node is >= 1 and <= 3
            ? node
            : 0;

    private static T? Parse<T>(byte[] body, JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(body, type);
        }
        catch (JsonException)
        {
            return default;
        }
    }

}
