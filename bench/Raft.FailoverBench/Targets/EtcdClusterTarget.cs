using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

using Raft.FailoverBench.Report;

namespace Raft.FailoverBench.Targets;

/// <summary>How one etcd cluster is configured: its name in the tables and its Raft timing.</summary>
internal sealed record EtcdProfile(string Name, int HeartbeatMs, int ElectionMs)
{
    /// <summary>Our nodes' timing: heartbeat 50 ms, election timeout 300 ms.</summary>
    public static EtcdProfile OurTimeouts { get; } = new("etcd-ours", 50, 300);

    /// <summary>The bench's low-latency profile (<c>--low-latency</c>): heartbeat 10 ms, election timeout 100 ms, as ours runs with it.</summary>
    public static EtcdProfile LowLatency { get; } = new("etcd-ours", BenchOptions.LowLatencyHeartbeatMs, BenchOptions.LowLatencyElectionMs);

    /// <summary>etcd's own defaults: heartbeat 100 ms, election timeout 1000 ms.</summary>
    public static EtcdProfile Defaults { get; } = new("etcd-default", 100, 1000);
}

/// <summary>
/// Three <c>etcd</c> processes on 127.0.0.1, spoken to through etcd 3.4's JSON gateway (<c>/v3/...</c>). Numbers in
/// that JSON are 64-bit integers written as strings. A linearizable range is etcd's default. Backups and restores go
/// through <c>etcdctl</c> (the Debian package etcd-client), as an operator's would.
/// </summary>
internal sealed class EtcdClusterTarget : IScaleTarget, IFailoverWatchTarget, IElectionCountTarget
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ToolLimit = TimeSpan.FromMinutes(30);

    // What etcd 3.4 logs when a follower has installed a snapshot received from the leader.
    private const string SnapshotAppliedLogText = "applied incoming Raft snapshot";

    private readonly HttpClient _http;
    private readonly EtcdProfile _profile;
    private readonly string _dataDirectory;
    private readonly int[] _clientPorts;
    private readonly int[] _peerPorts;
    private readonly IReadOnlyList<string> _extraArguments;
    private readonly NodeProcesses _processes = new("etcd", 4);
    private readonly long[] _logStart;
    private readonly ulong[] _memberIds;
    private readonly string[] _names;
    private int _replacements;
    private readonly ToolProcesses _tools = new();
    private readonly Lock _gate = new();

    /// <param name="extraArguments">Appended to every node's command line (the scale mode's snapshot count and quota).</param>
    public EtcdClusterTarget(HttpClient http, EtcdProfile profile, string dataDirectory, int clientBasePort, int peerBasePort, IReadOnlyList<string>? extraArguments = null)
    {
        _http = http;
        _profile = profile;
        _dataDirectory = dataDirectory;
        // Nodes 1 to 3, then the spare ports a replacement takes (and, once swapped in, the ports the replaced node freed).
        _clientPorts = [clientBasePort, clientBasePort + 1, clientBasePort + 2, clientBasePort + 3];
        _peerPorts = [peerBasePort, peerBasePort + 1, peerBasePort + 2, peerBasePort + 3];
        _names = ["e1", "e2", "e3", "spare"];
        _extraArguments = extraArguments ?? [];
        _logStart = new long[4];
        _memberIds = new ulong[4];
    }

    public string Name => _profile.Name;

    public int Nodes => 3;

    /// <summary>The executable <paramref name="name"/> (<c>etcd</c>, <c>etcdctl</c>) on PATH, or null.</summary>
    public static string? FindExecutable(string name = "etcd")
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The first line of <c>etcd --version</c>, or null when there is no etcd.</summary>
    public static string? Version()
    {
        if (FindExecutable() is not { } etcd)
        {
            return null;
        }

        var info = new ProcessStartInfo(etcd, "--version") { RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(info);
        if (process is null)
        {
            return null;
        }

        var text = process.StandardOutput.ReadToEnd();
        process.WaitForExit(5000);
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
    }

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
                var known = 0;
                var leaders = 0;
                for (var node = 1; node <= Nodes; node++)
                {
                    var status = await StatusAsync(node, TimeSpan.FromMilliseconds(500), deadline.Token).ConfigureAwait(false);
                    if (status?.Header?.MemberId is { } id && ulong.TryParse(id, CultureInfo.InvariantCulture, out var memberId))
                    {
                        _memberIds[node - 1] = memberId;
                        known++;
                        leaders += status.Leader == id ? 1 : 0;
                    }
                }

                if (known == Nodes && leaders == 1)
                {
                    return;
                }

                await Task.Delay(50, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BenchException($"{Name}: no leader within {StartTimeout.TotalSeconds:F0} s; etcd logs are in {_dataDirectory}");
        }
    }

    public async Task<WriteOutcome> PutAsync(int node, string key, string value, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new EtcdPutRequest(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value)), BenchJsonContext.Default.EtcdPutRequest);
        var answer = await PostAsync(node, "/v3/kv/put", body, timeout, cancellationToken).ConfigureAwait(false);
        if (answer.Error is not null)
        {
            return WriteOutcome.Failed(answer.Error);
        }

        if (answer.Status != HttpStatusCode.OK)
        {
            return WriteOutcome.Failed(ErrorKinds.Status((int)answer.Status));
        }

        var put = Parse(answer.Body, BenchJsonContext.Default.EtcdPutResponse);
        return put?.Header?.Revision is { } revision && ulong.TryParse(revision, CultureInfo.InvariantCulture, out var index)
            ? new WriteOutcome(null, index, 0)
            : WriteOutcome.Failed(ErrorKinds.BadAnswer);
    }

    public async Task<ReadOutcome> GetAsync(int node, string key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new EtcdRangeRequest(Encoding.UTF8.GetBytes(key)), BenchJsonContext.Default.EtcdRangeRequest);
        var answer = await PostAsync(node, "/v3/kv/range", body, timeout, cancellationToken).ConfigureAwait(false);
        if (answer.Error is not null)
        {
            return ReadOutcome.Failed(answer.Error);
        }

        if (answer.Status != HttpStatusCode.OK)
        {
            return ReadOutcome.Failed(ErrorKinds.Status((int)answer.Status));
        }

        var range = Parse(answer.Body, BenchJsonContext.Default.EtcdRangeResponse);
        if (range?.Header?.Revision is not { } revisionText || !ulong.TryParse(revisionText, CultureInfo.InvariantCulture, out var revision))
        {
            return ReadOutcome.Failed(ErrorKinds.BadAnswer);
        }

        if (range.Kvs is not { Count: > 0 } kvs)
        {
            return ReadOutcome.NotFound(revision);
        }

        var kv = kvs[0];
        return new ReadOutcome(
            null,
            true,
            kv.Value is null ? string.Empty : Encoding.UTF8.GetString(kv.Value),
            revision,
            ParseOrZero(kv.ModRevision),
            ParseOrZero(kv.CreateRevision),
            (long)ParseOrZero(kv.Version),
            0);
    }

    /// <summary>
    /// <c>POST /v3/watch</c> with a create request for the prefix's range, from revision <paramref name="after"/> + 1. The
    /// gateway sends its headers with the first response, the watch's created response, so the watch is in place once
    /// this returns.
    /// </summary>
    public async Task<WatchOpening> OpenWatchAsync(int node, string prefix, ulong? after, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var key = Encoding.UTF8.GetBytes(prefix);
        var create = new EtcdWatchCreateRequest(key, PrefixEnd(key), after is { } revision ? (revision + 1).ToString(CultureInfo.InvariantCulture) : null);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"http://127.0.0.1:{_clientPorts[node - 1]}/v3/watch"))
        {
            Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(new EtcdWatchRequest(create), BenchJsonContext.Default.EtcdWatchRequest)),
        };
        var (error, response) = await BenchHttp.OpenStreamAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        return new WatchOpening(error, response, null);
    }

    /// <summary>
    /// A line of the gateway: <c>{"result": WatchResponse}</c> (the created response, whose header revision a watch from
    /// now streams after; a batch of events; a cancellation) or <c>{"error": ...}</c>.
    /// </summary>
    public WatchLine ReadWatchLine(ReadOnlySequence<byte> line) => ParseWatchLine(line);

    internal static WatchLine ParseWatchLine(ReadOnlySequence<byte> line)
    {
        EtcdWatchLine? parsed;
        try
        {
            var json = new Utf8JsonReader(line);
            parsed = JsonSerializer.Deserialize(ref json, BenchJsonContext.Default.EtcdWatchLine);
        }
        catch (JsonException ex)
        {
            return WatchLine.Failed($"an unreadable line: {ex.Message}");
        }

        if (parsed?.Error is { } gatewayError)
        {
            return WatchLine.Failed($"the gateway ended the watch: {gatewayError.HttpCode} {gatewayError.Message}");
        }

        if (parsed?.Result is not { } result)
        {
            return WatchLine.Failed("a line with neither result nor error");
        }

        if (result.Canceled)
        {
            return WatchLine.Failed($"etcd canceled the watch: {result.CancelReason} (compact revision {result.CompactRevision})");
        }

        var start = result.Created && ulong.TryParse(result.Header?.Revision, CultureInfo.InvariantCulture, out var created) ? created : (ulong?)null;
        var changes = new List<WatchedChange>(result.Events?.Count ?? 0);
        foreach (var watchEvent in result.Events ?? [])
        {
            if (watchEvent.Kv is not { Key: { } key } kv || !ulong.TryParse(kv.ModRevision, CultureInfo.InvariantCulture, out var revision))
            {
                return WatchLine.Failed("an event without a key or a mod_revision");
            }

            changes.Add(new WatchedChange(revision, Encoding.UTF8.GetString(key), watchEvent.Type == "DELETE"));
        }

        return new WatchLine(null, start, changes.Count > 0 ? changes.Max(c => c.Index) : null, changes);
    }

    /// <summary>The end of the range of every key that starts with <paramref name="prefix"/> (etcd's <c>GetPrefixRangeEnd</c>): its last byte below 0xff plus one, what follows it cut.</summary>
    internal static byte[] PrefixEnd(byte[] prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        for (var i = prefix.Length - 1; i >= 0; i--)
        {
            if (prefix[i] < 0xff)
            {
                var end = prefix[..(i + 1)];
                end[i]++;
                return end;
            }
        }

        // Every byte 0xff (or none): the range runs to the end of the key space, which etcd writes as one zero byte.
        return [0];
    }

    public async Task<bool?> ClaimsLeadershipAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var status = await StatusAsync(node, timeout, cancellationToken).ConfigureAwait(false);
        return status?.Header?.MemberId is { } id ? status.Leader == id : null;
    }

    public async Task<bool> TransferLeadershipAsync(int leader, CancellationToken cancellationToken)
    {
        var follower = (leader % Nodes) + 1;
        var body = JsonSerializer.SerializeToUtf8Bytes(
            new EtcdMoveLeaderRequest(_memberIds[follower - 1].ToString(CultureInfo.InvariantCulture)), BenchJsonContext.Default.EtcdMoveLeaderRequest);
        var answer = await PostAsync(leader, "/v3/maintenance/transfer-leadership", body, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// etcd's procedure for a failed member (its runtime reconfiguration guide): <c>member remove</c> of the dead member,
    /// <c>member add --learner</c> for a new member on the spare ports, start it with <c>--initial-cluster-state
    /// existing</c> on an empty data directory, then <c>member promote</c> once etcd finds it in sync; through the JSON
    /// gateway, as the workload. The new member then takes the dead one's number, and the dead one's ports become the spare.
    /// </summary>
    public async Task ReplaceAsync(int dead, CancellationToken cancellationToken)
    {
        const int Spare = 4;
        var alive = Enumerable.Range(1, Nodes).First(n => n != dead && _processes.IsRunning(n));
        _names[Spare - 1] = $"r{++_replacements}";
        var dataDirectory = Path.Combine(_dataDirectory, _names[Spare - 1]);
        if (Directory.Exists(dataDirectory))
        {
            Directory.Delete(dataDirectory, recursive: true);
        }

        // etcd refuses to add any member, a learner too, while a voter is down ("unhealthy cluster", its strict reconfig
        // check, on by default): its procedure for a failed member removes it first.
        var remove = JsonSerializer.SerializeToUtf8Bytes(new EtcdMemberIdRequest(_memberIds[dead - 1].ToString(CultureInfo.InvariantCulture)), BenchJsonContext.Default.EtcdMemberIdRequest);
        var removed = await PostAsync(alive, "/v3/cluster/member/remove", remove, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        if (removed.Error is not null || removed.Status != HttpStatusCode.OK)
        {
            throw new BenchException($"{Name}: member remove answered {removed.Error ?? ((int)removed.Status).ToString(CultureInfo.InvariantCulture)}: {Encoding.UTF8.GetString(removed.Body)}");
        }

        var peer = $"http://127.0.0.1:{_peerPorts[Spare - 1]}";
        // Refused as "unhealthy cluster" until every voter has been connected for etcd's health interval: asked again.
        var addBody = JsonSerializer.SerializeToUtf8Bytes(new EtcdMemberAddRequest([peer], IsLearner: true), BenchJsonContext.Default.EtcdMemberAddRequest);
        using var addDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        addDeadline.CancelAfter(StartTimeout);
        HttpAnswer add;
        while (true)
        {
            add = await PostAsync(alive, "/v3/cluster/member/add", addBody, TimeSpan.FromSeconds(10), addDeadline.Token).ConfigureAwait(false);
            if (add.Error is not null || add.Status == HttpStatusCode.OK || !Encoding.UTF8.GetString(add.Body).Contains("unhealthy cluster", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(10, addDeadline.Token).ConfigureAwait(false);
        }

        var added = add.Error is null && add.Status == HttpStatusCode.OK ? Parse(add.Body, BenchJsonContext.Default.EtcdMemberAddResponse) : null;
        if (added?.Member?.Id is not { } newId || added.Members is not { } members)
        {
            throw new BenchException($"{Name}: member add answered {add.Error ?? ((int)add.Status).ToString(CultureInfo.InvariantCulture)}: {Encoding.UTF8.GetString(add.Body)}");
        }

        var cluster = string.Join(',', members.Select(m => $"{(m.Id == newId ? _names[Spare - 1] : m.Name)}={m.PeerUrls![0]}"));
        var client = $"http://127.0.0.1:{_clientPorts[Spare - 1]}";
        StartNode(Spare,
        [
            "--name", _names[Spare - 1],
            "--data-dir", dataDirectory,
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", cluster,
            "--initial-cluster-state", "existing",
            "--heartbeat-interval", _profile.HeartbeatMs.ToString(CultureInfo.InvariantCulture),
            "--election-timeout", _profile.ElectionMs.ToString(CultureInfo.InvariantCulture),
            "--logger", "zap",
            "--log-outputs", "stderr",
            .. _extraArguments,
        ]);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(StartTimeout);
        var promote = JsonSerializer.SerializeToUtf8Bytes(new EtcdMemberIdRequest(newId), BenchJsonContext.Default.EtcdMemberIdRequest);
        while (true)
        {
            // etcd refuses while the learner is not yet in sync with the leader.
            var answer = await PostAsync(alive, "/v3/cluster/member/promote", promote, TimeSpan.FromSeconds(5), deadline.Token).ConfigureAwait(false);
            if (answer.Error is null && answer.Status == HttpStatusCode.OK)
            {
                break;
            }

            await Task.Delay(10, deadline.Token).ConfigureAwait(false);
        }

        _processes.ReleaseExited(dead);
        _processes.Move(Spare, dead);
        lock (_gate)
        {
            _memberIds[dead - 1] = ulong.Parse(newId, CultureInfo.InvariantCulture);
            (_clientPorts[dead - 1], _clientPorts[Spare - 1]) = (_clientPorts[Spare - 1], _clientPorts[dead - 1]);
            (_peerPorts[dead - 1], _peerPorts[Spare - 1]) = (_peerPorts[Spare - 1], _peerPorts[dead - 1]);
            (_names[dead - 1], _names[Spare - 1]) = (_names[Spare - 1], "spare");
            (_logStart[dead - 1], _logStart[Spare - 1]) = (_logStart[Spare - 1], 0);
        }
    }

    public void KillAll()
    {
        _tools.KillAll();
        _processes.KillAll();
    }

    public ValueTask DisposeAsync() => _processes.DisposeAsync();

    /// <summary>The command line of node <paramref name="node"/>; a restart reuses it, and etcd ignores the initial-cluster flags once its data directory exists.</summary>
    internal IReadOnlyList<string> ArgumentsFor(int node)
    {
        var cluster = string.Join(',', Enumerable.Range(1, Nodes).Select(n => $"{_names[n - 1]}=http://127.0.0.1:{_peerPorts[n - 1]}"));
        var client = $"http://127.0.0.1:{_clientPorts[node - 1]}";
        var peer = $"http://127.0.0.1:{_peerPorts[node - 1]}";
        return
        [
            "--name", _names[node - 1],
            "--data-dir", Path.Combine(_dataDirectory, _names[node - 1]),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", cluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", $"failover-bench-{_profile.Name}",
            "--heartbeat-interval", _profile.HeartbeatMs.ToString(CultureInfo.InvariantCulture),
            "--election-timeout", _profile.ElectionMs.ToString(CultureInfo.InvariantCulture),
            "--logger", "zap",
            "--log-outputs", "stderr",
            .. _extraArguments,
        ];
    }

    public async Task<NodeState?> StateAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var status = await StatusAsync(node, timeout, cancellationToken).ConfigureAwait(false);
        if (status is null
            || !ulong.TryParse(status.RaftTerm, CultureInfo.InvariantCulture, out var term)
            || !ulong.TryParse(status.RaftIndex, CultureInfo.InvariantCulture, out var commit)
            || !ulong.TryParse(status.RaftAppliedIndex, CultureInfo.InvariantCulture, out var applied))
        {
            return null;
        }

        var leader = ulong.TryParse(status.Leader, CultureInfo.InvariantCulture, out var leaderId) ? Array.IndexOf(_memberIds, leaderId) + 1 : 0;
        return new NodeState(term, leader, commit, applied);
    }

    /// <summary>The term from the node's status, its leader changes from its <c>/metrics</c>.</summary>
    public async Task<ElectionCount?> ElectionCountAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var status = await StatusAsync(node, timeout, cancellationToken).ConfigureAwait(false);
        if (status is null || !ulong.TryParse(status.RaftTerm, CultureInfo.InvariantCulture, out var term))
        {
            return null;
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{_clientPorts[node - 1]}/metrics"));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        return answer.Error is null && answer.Status == HttpStatusCode.OK && ElectionCount.Counter(Encoding.UTF8.GetString(answer.Body), ElectionCount.EtcdLeaderChanges) is { } changes
            ? new ElectionCount(term, changes)
            : null;
    }

    public async Task<bool> IsReadyAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{_clientPorts[node - 1]}/health"));
        var answer = await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
        return answer.Error is null && answer.Status == HttpStatusCode.OK && Parse(answer.Body, BenchJsonContext.Default.EtcdHealthResponse)?.Health == "true";
    }

    /// <summary>Counted in the node's log since its process last started: etcd has no metric of installed snapshots.</summary>
    public async Task<long?> SnapshotsInstalledAsync(int node, CancellationToken cancellationToken)
    {
        var path = LogPath(node);
        if (!File.Exists(path))
        {
            return null;
        }

        await using var log = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        log.Seek(Math.Min(_logStart[node - 1], log.Length), SeekOrigin.Begin);
        using var reader = new StreamReader(log);
        long count = 0;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            count += line.Contains(SnapshotAppliedLogText, StringComparison.Ordinal) ? 1 : 0;
        }

        return count;
    }

    /// <summary><c>etcdctl snapshot save</c> against the node (etcdctl fsyncs the file before it renames it into place).</summary>
    public async Task<BackupOutcome> BackupAsync(int node, string file, CancellationToken cancellationToken)
    {
        var outcome = await RunEtcdctlAsync(
            ["--endpoints", $"http://127.0.0.1:{_clientPorts[node - 1]}", "--command-timeout", $"{ToolLimit.TotalSeconds:F0}s", "snapshot", "save", file],
            cancellationToken).ConfigureAwait(false);
        return outcome.ExitCode == 0 && File.Exists(file)
            ? new BackupOutcome(null, new FileInfo(file).Length, outcome.Output)
            : new BackupOutcome($"etcdctl exit code {outcome.ExitCode}", 0, outcome.Output);
    }

    /// <summary><c>etcdctl snapshot restore</c> into a data directory for member e1 of a cluster like this one.</summary>
    public Task<ToolOutcome> RestoreAsync(string file, string directory, CancellationToken cancellationToken)
    {
        var cluster = string.Join(',', Enumerable.Range(1, Nodes).Select(n => $"e{n}=http://127.0.0.1:{_peerPorts[n - 1]}"));
        return RunEtcdctlAsync(
            ["snapshot", "restore", file, "--data-dir", directory, "--name", "e1", "--initial-cluster", cluster,
             "--initial-cluster-token", $"failover-bench-{_profile.Name}-restored", "--initial-advertise-peer-urls", $"http://127.0.0.1:{_peerPorts[0]}"],
            cancellationToken);
    }

    private Task<ToolOutcome> RunEtcdctlAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var etcdctl = FindExecutable("etcdctl") ?? throw new BenchException(EtcdctlMissing);
        var info = new ProcessStartInfo(etcdctl);
        info.Environment["ETCDCTL_API"] = "3";
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return _tools.RunAsync(info, ToolLimit, cancellationToken);
    }

    private string LogPath(int node) => Path.Combine(_dataDirectory, $"{_names[node - 1]}.log");

    private void StartNode(int node, IReadOnlyList<string>? arguments = null)
    {
        var etcd = FindExecutable() ?? throw new BenchException(EtcdMissing);
        var info = new ProcessStartInfo(etcd);
        foreach (var argument in arguments ?? ArgumentsFor(node))
        {
            info.ArgumentList.Add(argument);
        }

        var path = LogPath(node);
        _logStart[node - 1] = File.Exists(path) ? new FileInfo(path).Length : 0;
        _processes.Start(node, info, path);
    }

    public const string EtcdMissing =
        "etcd is not on PATH: install the Debian package etcd-server (apt-get install etcd-server, or bench/install-etcd.sh), or run with --target ours";

    public const string EtcdctlMissing =
        "etcdctl is not on PATH: install the Debian package etcd-client (apt-get install etcd-client, or bench/install-etcd.sh), or run with --target ours";

    private async Task<EtcdStatusResponse?> StatusAsync(int node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var answer = await PostAsync(node, "/v3/maintenance/status", "{}"u8.ToArray(), timeout, cancellationToken).ConfigureAwait(false);
        return answer.Error is null && answer.Status == HttpStatusCode.OK ? Parse(answer.Body, BenchJsonContext.Default.EtcdStatusResponse) : null;
    }

    private async Task<HttpAnswer> PostAsync(int node, string path, byte[] body, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"http://127.0.0.1:{_clientPorts[node - 1]}{path}"))
        {
            Content = new ByteArrayContent(body),
        };
        return await BenchHttp.SendAsync(_http, request, timeout, cancellationToken).ConfigureAwait(false);
    }

    private static T? Parse<T>(byte[] body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
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

    private static ulong ParseOrZero(string? text) => ulong.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value : 0;

}
