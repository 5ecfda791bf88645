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

    /// <summary>etcd's own defaults: heartbeat 100 ms, election timeout 1000 ms.</summary>
    public static EtcdProfile Defaults { get; } = new("etcd-default", 100, 1000);
}

/// <summary>
/// Three <c>etcd</c> processes on 127.0.0.1, spoken to through etcd 3.4's JSON gateway (<c>/v3/...</c>). Numbers in
/// that JSON are 64-bit integers written as strings. A linearizable range is etcd's default. Backups and restores go
/// through <c>etcdctl</c> (the Debian package etcd-client), as an operator's would.
/// </summary>
internal sealed class EtcdClusterTarget : IScaleTarget
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
    private readonly Process?[] _processes;
    private readonly long[] _logStart;
    private readonly ulong[] _memberIds;
    private readonly ToolProcesses _tools = new();
    private readonly Lock _gate = new();

    /// <param name="extraArguments">Appended to every node's command line (the scale mode's snapshot count and quota).</param>
    public EtcdClusterTarget(HttpClient http, EtcdProfile profile, string dataDirectory, int clientBasePort, int peerBasePort, IReadOnlyList<string>? extraArguments = null)
    {
        _http = http;
        _profile = profile;
        _dataDirectory = dataDirectory;
        _clientPorts = [clientBasePort, clientBasePort + 1, clientBasePort + 2];
        _peerPorts = [peerBasePort, peerBasePort + 1, peerBasePort + 2];
        _extraArguments = extraArguments ?? [];
        _processes = new Process?[3];
        _logStart = new long[3];
        _memberIds = new ulong[3];
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

    public async Task CrashAsync(int node, CancellationToken cancellationToken)
    {
        var process = _processes[node - 1] ?? throw new InvalidOperationException($"etcd node {node} is not running");
        if (!process.HasExited)
        {
            process.Kill();
        }

        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Pause(int node) => Signals.Stop(Pid(node));

    public void Resume(int node) => Signals.Continue(Pid(node));

    public Task RestartAsync(int node, CancellationToken cancellationToken)
    {
        var old = _processes[node - 1];
        if (old is { HasExited: false })
        {
            throw new InvalidOperationException($"etcd node {node} (pid {old.Id}) is still running");
        }

        old?.Dispose();
        StartNode(node);
        return Task.CompletedTask;
    }

    public int Pid(int node) => _processes[node - 1]?.Id ?? throw new InvalidOperationException($"etcd node {node} was never started");

    public void KillAll()
    {
        _tools.KillAll();
        lock (_gate)
        {
            foreach (var process in _processes)
            {
                try
                {
                    if (process is { HasExited: false })
                    {
                        process.Kill();
                    }
                }
                catch (InvalidOperationException)
                {
                    // It exited in the meantime.
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        KillAll();
        foreach (var process in _processes)
        {
            if (process is not null)
            {
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
                process.Dispose();
            }
        }
    }

    /// <summary>The command line of node <paramref name="node"/>; a restart reuses it, and etcd ignores the initial-cluster flags once its data directory exists.</summary>
    internal IReadOnlyList<string> ArgumentsFor(int node)
    {
        var cluster = string.Join(',', Enumerable.Range(1, Nodes).Select(n => $"e{n}=http://127.0.0.1:{_peerPorts[n - 1]}"));
        var client = $"http://127.0.0.1:{_clientPorts[node - 1]}";
        var peer = $"http://127.0.0.1:{_peerPorts[node - 1]}";
        return
        [
            "--name", $"e{node}",
            "--data-dir", Path.Combine(_dataDirectory, $"e{node}"),
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

    private string LogPath(int node) => Path.Combine(_dataDirectory, $"e{node}.log");

    private void StartNode(int node)
    {
        var etcd = FindExecutable() ?? throw new BenchException(EtcdMissing);
        var info = new ProcessStartInfo(etcd) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in ArgumentsFor(node))
        {
            info.ArgumentList.Add(argument);
        }

        var path = LogPath(node);
        _logStart[node - 1] = File.Exists(path) ? new FileInfo(path).Length : 0;
        var log = TextWriter.Synchronized(new StreamWriter(path, append: true) { AutoFlush = true });
        lock (_gate)
        {
            var process = Process.Start(info) ?? throw new BenchException($"could not start {etcd}");
            process.OutputDataReceived += (_, e) => WriteLine(log, e.Data);
            process.ErrorDataReceived += (_, e) => WriteLine(log, e.Data);
            process.Exited += (_, _) => log.Dispose();
            process.EnableRaisingEvents = true;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _processes[node - 1] = process;
        }
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

    private static void WriteLine(TextWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        try
        {
            log.WriteLine(line);
        }
        catch (ObjectDisposedException)
        {
            // The process exited while its last lines were in flight.
        }
    }
}
