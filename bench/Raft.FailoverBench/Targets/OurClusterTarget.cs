using System.Buffers;
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
internal sealed class OurClusterTarget : IScaleTarget, IWatchTarget, IFailoverWatchTarget, IElectionCountTarget
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ReplaceTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan BackupLimit = TimeSpan.FromMinutes(30);
    private static readonly TimeSpan RestoreLimit = TimeSpan.FromMinutes(30);
    private const int CopyBufferBytes = 1 << 20;

    private readonly HttpClient _http;
    private readonly LocalCluster _cluster;
    // The node id in each of the slots the harness numbers 1 to Nodes: a replaced node's slot goes to its replacement.
    private readonly int[] _slots;
    private readonly ToolProcesses _tools = new();

    public OurClusterTarget(HttpClient http, ClusterLaunchOptions options, TextWriter log, string name = "ours")
    {
        Name = name;
        ArgumentNullException.ThrowIfNull(options);
        _http = http;
        _cluster = new LocalCluster(options, log);
        _slots = [.. Enumerable.Range(1, options.Nodes)];
    }

    public string Name { get; }

    public int Nodes => _slots.Length;

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
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Endpoint(node), ApiPaths.HealthLive));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        if (answer.Error is not null || answer.Status != HttpStatusCode.OK)
        {
            return null;
        }

        try
        {
            var health = JsonSerializer.Deserialize(answer.Body, ProtocolJsonContext.Wire.HealthResponse);
            return health is not null && health.LeaderId == _slots[node - 1];
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public async Task<bool> TransferLeadershipAsync(int leader, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Endpoint(leader), ApiPaths.TransferLeader));
        var answer = await BenchHttp.SendAsync(_http, request, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return answer.Error is null && answer.Status == HttpStatusCode.OK;
    }

    public Task CrashAsync(int node, CancellationToken cancellationToken) => _cluster.KillAsync(_slots[node - 1], cancellationToken);

    public void Pause(int node) => _cluster.Stop(_slots[node - 1]);

    public void Resume(int node) => _cluster.Continue(_slots[node - 1]);

    public Task RestartAsync(int node, CancellationToken cancellationToken)
    {
        _cluster.Restart(_slots[node - 1]);
        return Task.CompletedTask;
    }

    public int Pid(int node) => _cluster.Pid(_slots[node - 1]);

    /// <summary>
    /// Replaces the crashed node in slot <paramref name="dead"/> as the README's procedure does: a new node (the id the
    /// last replacement freed, on its ports and an empty data directory) joins as a learner and is promoted once caught
    /// up (it asks for that itself), then the dead member is removed. The slot is the new node's from then on.
    /// </summary>
    public async Task ReplaceAsync(int dead, CancellationToken cancellationToken)
    {
        var deadId = _slots[dead - 1];
        var spare = Enumerable.Range(1, Nodes + 1).First(id => !_slots.Contains(id));
        _cluster.AddNode(spare);
        var members = new Uri(_cluster.Options.HttpEndpoint(spare) + ApiPaths.Members);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(ReplaceTimeout);
        try
        {
            while (true)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, members);
                var answer = await BenchHttp.SendAsync(_http, request, TimeSpan.FromSeconds(1), deadline.Token).ConfigureAwait(false);
                if (answer.Error is null && answer.Status == HttpStatusCode.OK && IsVoter(answer.Body, spare))
                {
                    break;
                }

                await Task.Delay(10, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            var state = _cluster.IsRunning(spare) ? "runs" : $"exited with code {_cluster.ExitCode(spare)}";
            throw new BenchException($"{Name}: node {spare}, added to replace node {deadId}, was not a voter within {ReplaceTimeout.TotalSeconds:F0} s (it {state}); see {_cluster.LogPath(spare)}");
        }

        try
        {
            await _cluster.RemoveNodeAsync(deadId, deadline.Token).ConfigureAwait(false);
        }
        catch (InvalidOperationException ex)
        {
            throw new BenchException($"{Name}: {ex.Message}");
        }

        _slots[dead - 1] = spare;
    }

    public void KillAll()
    {
        _tools.KillAll();
        _cluster.KillAll();
    }

    public async ValueTask DisposeAsync()
    {
        KillAll();
        await _cluster.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>From the node's <c>/metrics</c>, which it renders from the view its loop publishes, without a trip through the loop.</summary>
    public async Task<NodeState?> StateAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Endpoint(node), ApiPaths.Metrics));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        if (answer.Error is not null || answer.Status != HttpStatusCode.OK)
        {
            return null;
        }

        var samples = PrometheusText.Parse(Encoding.UTF8.GetString(answer.Body));
        long Count(string name) => (long)samples.GetValueOrDefault(name);
        return samples.ContainsKey("raft_term") && samples.ContainsKey("raft_applied_index")
            ? new NodeState(
                (ulong)Count("raft_term"),
                (int)Count("raft_leader_id"),
                (ulong)Count("raft_commit_index"),
                (ulong)Count("raft_applied_index"),
                Count("raft_elections_total"),
                Count("raft_snapshot_duration_seconds_count"),
                samples.GetValueOrDefault("raft_snapshot_duration_seconds_sum"),
                Count("raft_snapshots_installed_total"),
                Count("raft_snapshot_transfers_total"),
                Count("raft_snapshot_failures_total"),
                Count("raft_fsync_duration_seconds_count"),
                samples.GetValueOrDefault("raft_fsync_duration_seconds_sum"),
                Count("raft_fsync_duration_seconds_count") - Count("raft_fsync_duration_seconds_bucket{le=\"0.1\"}"))
            : null;
    }

    public async Task<ElectionCount?> ElectionCountAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Endpoint(node), ApiPaths.Metrics));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        return answer.Error is null && answer.Status == HttpStatusCode.OK ? ElectionCount.FromOurMetrics(Encoding.UTF8.GetString(answer.Body)) : null;
    }

    public async Task<bool> IsReadyAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Endpoint(node), ApiPaths.HealthReady));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        return answer.Error is null && answer.Status == HttpStatusCode.OK;
    }

    public async Task<long?> SnapshotsInstalledAsync(int node, CancellationToken cancellationToken) =>
        (await StateAsync(node, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false))?.SnapshotsInstalled;

    /// <summary><c>GET /v1/snapshot</c> of the node's applied state, streamed into the file, then fsynced.</summary>
    public async Task<BackupOutcome> BackupAsync(int node, string file, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Endpoint(node), ApiPaths.Snapshot));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(BackupLimit);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return new BackupOutcome(ErrorKinds.Status((int)response.StatusCode), 0, await response.Content.ReadAsStringAsync(deadline.Token).ConfigureAwait(false));
            }

            var index = response.Headers.TryGetValues(ApiHeaders.SnapshotIndex, out var values) ? values.FirstOrDefault() : null;
            await using var body = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            await using var destination = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, CopyBufferBytes, FileOptions.Asynchronous);
            await body.CopyToAsync(destination, CopyBufferBytes, deadline.Token).ConfigureAwait(false);
            destination.Flush(flushToDisk: true);
            return new BackupOutcome(null, destination.Length, $"snapshot index {index}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new BackupOutcome(ErrorKinds.Timeout, 0, $"not done within {BackupLimit.TotalMinutes:F0} min");
        }
        catch (HttpRequestException ex)
        {
            return new BackupOutcome(BenchHttp.Classify(ex), 0, ex.Message);
        }
        catch (IOException ex)
        {
            return new BackupOutcome(ErrorKinds.Reset, 0, ex.Message);
        }
    }

    /// <summary><c>dotnet Raft.Server.dll restore --snapshot FILE --data DIR</c>, the command the README gives an operator.</summary>
    public Task<ToolOutcome> RestoreAsync(string file, string directory, CancellationToken cancellationToken)
    {
        var serverDll = _cluster.Options.ServerDll ?? throw new InvalidOperationException("our cluster runs without a server dll to restore with");
        var info = NodeProcess.StartInfo(["restore", "--snapshot", file, "--data", directory], serverDll);
        return _tools.RunAsync(info, RestoreLimit, cancellationToken);
    }

    public Uri WatchUri(int node, string prefix) => new(Endpoint(node), $"{ApiPaths.Watch}?prefix={ResourceName.Escape(prefix)}");

    /// <summary><c>GET /v1/watch?prefix=&amp;fromIndex=</c>; the node names the index it streams after in <c>X-Raft-Index</c>.</summary>
    public async Task<WatchOpening> OpenWatchAsync(int node, string prefix, ulong? after, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var uri = WatchUri(node, prefix);
        using var request = new HttpRequestMessage(
            HttpMethod.Get, after is { } index ? new Uri(uri + string.Create(CultureInfo.InvariantCulture, $"&fromIndex={index}")) : uri);
        var (error, response) = await BenchHttp.OpenStreamAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        if (response is null)
        {
            return new WatchOpening(error, null, null);
        }

        var start = response.Headers.TryGetValues(ApiHeaders.Index, out var values)
            && ulong.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : (ulong?)null;
        if (start is null)
        {
            response.Dispose();
            return new WatchOpening(ErrorKinds.BadAnswer, null, null);
        }

        return new WatchOpening(null, response, start);
    }

    /// <summary>A line of ours: changes at one index, a progress line, or the last line of a watch the node ended.</summary>
    public WatchLine ReadWatchLine(ReadOnlySequence<byte> line) => ParseWatchLine(line);

    internal static WatchLine ParseWatchLine(ReadOnlySequence<byte> line)
    {
        WatchEventResponse? watchEvent;
        try
        {
            var json = new Utf8JsonReader(line);
            watchEvent = JsonSerializer.Deserialize(ref json, ProtocolJsonContext.Wire.WatchEventResponse);
        }
        catch (JsonException ex)
        {
            return WatchLine.Failed($"an unreadable line: {ex.Message}");
        }

        if (watchEvent is null)
        {
            return WatchLine.Failed("a line of null");
        }

        if (watchEvent.Error is not null)
        {
            return WatchLine.Failed($"the node ended the watch at index {watchEvent.Index}: {watchEvent.Error} ({watchEvent.Detail})");
        }

        IReadOnlyList<WatchedChange> changes = watchEvent.Changes is { Count: > 0 } list
            ? [.. list.Select(c => new WatchedChange(watchEvent.Index, c.Key, c.Type == "delete"))]
            : [];
        return new WatchLine(null, null, watchEvent.Index, changes);
    }

    private static bool IsVoter(byte[] members, int id)
    {
        try
        {
            return JsonSerializer.Deserialize(members, ProtocolJsonContext.Wire.MembersResponse)?.Members.Any(m => m.Id == id && m.Voter) == true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private Uri Endpoint(int node) => new(_cluster.Options.HttpEndpoint(_slots[node - 1]));

    private Uri KeyUri(int node, string key) => new(Endpoint(node), ApiPaths.KvPrefix + ResourceName.Escape(key));

    private static ulong? Header(HttpAnswer answer, string name) =>
        answer.Headers is not null && answer.Headers.TryGetValues(name, out var values)
            && ulong.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    // The slot of the node the answer names as leader (0: none, or a node in no slot).
    private int LeaderHint(HttpAnswer answer) => Header(answer, ApiHeaders.Leader) is { } id and <= int.MaxValue ? Array.IndexOf(_slots, (int)id) + 1 : 0;
}
