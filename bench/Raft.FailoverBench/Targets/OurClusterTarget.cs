using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Raft.Protocol;
using Raft.Server.Launcher;

using Raft.FailoverBench.Report;

namespace Raft.FailoverBench.Targets;

/// <summary>
/// Nodes of this repository's server (three, or one for the unreplicated floor), started by the same <see cref="LocalCluster"/> that
/// <c>run-cluster.sh</c> uses, with the server dll given explicitly because this process is not the server.
/// </summary>
internal sealed class OurClusterTarget : IBenchTarget
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly HttpClient _http;
    private readonly LocalCluster _cluster;
    private readonly Uri[] _endpoints;

    public OurClusterTarget(HttpClient http, ClusterLaunchOptions options, TextWriter log, string name = "ours")
    {
        Name = name;
        ArgumentNullException.ThrowIfNull(options);
        _http = http;
        _cluster = new LocalCluster(options, log);
        _endpoints = [.. Enumerable.Range(1, options.Nodes).Select(id => new Uri(options.HttpEndpoint(id)))];
    }

    public string Name { get; }

    public int Nodes => _endpoints.Length;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _cluster.Start();
        if (await _cluster.WaitForLeaderAsync(StartTimeout, cancellationToken).ConfigureAwait(false) is null)
        {
            throw new BenchException($"our cluster elected no leader within {StartTimeout.TotalSeconds:F0} s; node logs are in {_cluster.Options.DataDirectory}");
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

        try
        {
            var put = JsonSerializer.Deserialize(answer.Body, ProtocolJsonContext.Wire.PutResponse);
            return put is { Index: > 0 } ? new WriteOutcome(null, put.Index, 0) : WriteOutcome.Failed(ErrorKinds.BadAnswer);
        }
        catch (JsonException)
        {
            return WriteOutcome.Failed(ErrorKinds.BadAnswer);
        }
    }

    public async Task<ReadOutcome> GetAsync(int node, string key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(KeyUri(node, key) + "?consistency=linearizable"));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        if (answer.Error is not null)
        {
            return ReadOutcome.Failed(answer.Error);
        }

        var index = Header(answer, ApiHeaders.Index);
        if (answer.Status == HttpStatusCode.NotFound && index is not null)
        {
            return ReadOutcome.NotFound(index.Value);
        }

        if (answer.Status != HttpStatusCode.OK)
        {
            return ReadOutcome.Failed(ErrorKinds.Status((int)answer.Status), LeaderHint(answer));
        }

        var version = Header(answer, ApiHeaders.Version);
        var created = Header(answer, ApiHeaders.CreateIndex);
        if (index is null || version is null || created is null)
        {
            return ReadOutcome.Failed(ErrorKinds.BadAnswer);
        }

        return new ReadOutcome(null, true, Encoding.UTF8.GetString(answer.Body), index.Value, version.Value, created.Value, null, 0);
    }

    public async Task<bool?> ClaimsLeadershipAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // /health/live answers from the node's published view, without a trip through its loop: a cheap poll.
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_endpoints[node - 1], ApiPaths.HealthLive));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        if (answer.Error is not null || answer.Status != HttpStatusCode.OK)
        {
            return null;
        }

        try
        {
            var health = JsonSerializer.Deserialize(answer.Body, ProtocolJsonContext.Wire.HealthResponse);
            return health is not null && health.LeaderId == node;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public async Task<bool> TransferLeadershipAsync(int leader, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_endpoints[leader - 1], ApiPaths.TransferLeader));
        var answer = await BenchHttp.SendAsync(_http, request, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return answer.Error is null && answer.Status == HttpStatusCode.OK;
    }

    public Task CrashAsync(int node, CancellationToken cancellationToken) => _cluster.KillAsync(node, cancellationToken);

    public void Pause(int node) => _cluster.Stop(node);

    public void Resume(int node) => _cluster.Continue(node);

    public Task RestartAsync(int node, CancellationToken cancellationToken)
    {
        _cluster.Restart(node);
        return Task.CompletedTask;
    }

    public int Pid(int node) => _cluster.Pid(node);

    public void KillAll() => _cluster.KillAll();

    public async ValueTask DisposeAsync()
    {
        _cluster.KillAll();
        await _cluster.DisposeAsync().ConfigureAwait(false);
    }

    private Uri KeyUri(int node, string key) => new(_endpoints[node - 1], ApiPaths.KvPrefix + ResourceName.Escape(key));

    private static ulong? Header(HttpAnswer answer, string name) =>
        answer.Headers is not null && answer.Headers.TryGetValues(name, out var values)
            && ulong.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static int LeaderHint(HttpAnswer answer) => Header(answer, ApiHeaders.Leader) is { } id and <= int.MaxValue ? (int)id : 0;
}
