using System.Diagnostics;
using System.Text.Json;

namespace Raft.Server.Launcher;

/// <summary>
/// The node processes of one local cluster (the <c>cluster</c> command's, or a benchmark's); disposing stops every one
/// of them. Node ids run from 1 to <see cref="ClusterLaunchOptions.Nodes"/>. Not thread-safe: one caller drives it
/// (for the <c>cluster</c> command, <see cref="ClusterSupervisor"/>).
/// </summary>
public sealed class LocalCluster(ClusterLaunchOptions options, TextWriter output) : IAsyncDisposable
{
    private static readonly TimeSpan GracefulStop = TimeSpan.FromSeconds(10);

    // How long a removal waits for a membership change still committing before it gives up.
    private static readonly TimeSpan ChangeInProgressPatience = TimeSpan.FromSeconds(15);

    private readonly Dictionary<int, Process> _processes = [];
    private readonly HashSet<int> _paused = [];
    // Made on first use, after Start: with --tls it trusts the authority Start makes.
    private HttpClient? _http;

    // The command lines of nodes added to the running cluster (they join it); the others bootstrapped it.
    private readonly Dictionary<int, IReadOnlyList<string>> _joined = [];
    private readonly HashSet<int> _removed = [];

    public ClusterLaunchOptions Options => options;

    private HttpClient Http => _http ??= ClusterTls.CreateClient(options.TlsDirectory, TimeSpan.FromSeconds(2));

    /// <summary>The nodes this cluster runs or ran and did not remove, in order.</summary>
    public IReadOnlyList<int> Ids => [.. _processes.Keys.Order()];

    public void Start()
    {
        if (options.Clean && Directory.Exists(options.DataDirectory))
        {
            Directory.Delete(options.DataDirectory, recursive: true);
        }

        Directory.CreateDirectory(options.DataDirectory);
        if (options.Tls)
        {
            ClusterTls.Ensure(options.TlsDirectory, Enumerable.Range(1, options.Nodes));
        }

        for (var id = 1; id <= options.Nodes; id++)
        {
            _processes[id] = StartNode(id, clusterStart: true);
        }
    }

    public string LogPath(int id) => Path.Combine(options.DataDirectory, $"node-{id}.log");

    /// <summary>The process id of node <paramref name="id"/>'s current process.</summary>
    public int Pid(int id) => _processes[id].Id;

    public bool IsRunning(int id) => _processes.TryGetValue(id, out var process) && !process.HasExited;

    /// <summary>The exit code of node <paramref name="id"/>'s current process; null while it runs.</summary>
    public int? ExitCode(int id) => _processes[id] is { HasExited: true } process ? process.ExitCode : null;

    /// <summary>kill -9 node <paramref name="id"/> and wait until it is gone.</summary>
    public async Task KillAsync(int id, CancellationToken cancellationToken)
    {
        var process = _processes[id];
        _paused.Remove(id);
        if (!process.HasExited)
        {
            process.Kill();
        }

        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>SIGSTOP node <paramref name="id"/>: it hangs with its sockets open.</summary>
    public void Stop(int id)
    {
        NodeProcess.Pause(_processes[id]);
        _paused.Add(id);
    }

    /// <summary>SIGCONT node <paramref name="id"/>.</summary>
    public void Continue(int id)
    {
        NodeProcess.Resume(_processes[id]);
        _paused.Remove(id);
    }

    /// <summary>Starts node <paramref name="id"/> again, after it exited, with the same arguments and data directory.</summary>
    public void Restart(int id)
    {
        var old = _processes[id];
        if (!old.HasExited)
        {
            throw new InvalidOperationException($"node {id} (pid {old.Id}) is still running");
        }

        // Started before the old one is let go, so a node that cannot start leaves the cluster as it was.
        _processes[id] = _joined.TryGetValue(id, out var joinArguments)
            ? NodeProcess.Start(joinArguments, LogPath(id), options.ServerDll)
            : StartNode(id, clusterStart: false);
        old.Dispose();
    }

    /// <summary>
    /// Starts a new node on an empty data directory: <paramref name="id"/>, which must not be running (a removed node's
    /// id may be given again: it joins as a new node), or by default the next id after every node this cluster has had.
    /// It joins through the running nodes as a learner and asks to be promoted once caught up. Returns its id.
    /// </summary>
    public int AddNode(int? id = null)
    {
        if (id is { } given && _processes.ContainsKey(given))
        {
            throw new InvalidOperationException($"node {given} is still a node of this cluster");
        }

        return AddNodeAs(id ?? (_processes.Keys.Concat(_removed).Max() + 1));
    }

    private int AddNodeAs(int id)
    {
        if (id > ClusterLaunchOptions.NodesMax)
        {
            throw new InvalidOperationException($"this launcher runs nodes 1 to {ClusterLaunchOptions.NodesMax}, and has had {id - 1}");
        }

        var taken = _processes.Keys.SelectMany(n => new[] { options.HttpPort(n), options.PeerPort(n) }).ToHashSet();
        if (taken.Contains(options.HttpPort(id)) || taken.Contains(options.PeerPort(id)) || options.HttpPort(id) == options.PeerPort(id))
        {
            throw new InvalidOperationException(
                $"node {id}'s ports ({options.HttpPort(id)}, {options.PeerPort(id)}) are taken by the other nodes: start the cluster with --peer-base-port further from --base-port");
        }

        var running = _processes.Where(p => !p.Value.HasExited).Select(p => p.Key).ToArray();
        if (running.Length == 0)
        {
            throw new InvalidOperationException("no node runs to join through");
        }

        var data = Path.Combine(options.DataDirectory, $"node-{id}");
        if (Directory.Exists(data))
        {
            Directory.Delete(data, recursive: true);
        }

        if (options.Tls)
        {
            ClusterTls.Ensure(options.TlsDirectory, [id]);
        }

        var arguments = options.JoinArgumentsFor(id, running);
        _processes[id] = NodeProcess.Start(arguments, LogPath(id), options.ServerDll);
        _joined[id] = arguments;
        _removed.Remove(id);
        return id;
    }

    /// <summary>
    /// Removes node <paramref name="id"/> from the cluster's members (asked of the other running nodes, then of itself:
    /// any of them passes it to the leader), then stops its process and forgets it. Returns what was done, in words;
    /// throws <see cref="InvalidOperationException"/> with the reason when no node would remove it.
    /// </summary>
    public async Task<string> RemoveNodeAsync(int id, CancellationToken cancellationToken)
    {
        if (!_processes.TryGetValue(id, out var process))
        {
            throw new InvalidOperationException($"there is no node {id}: the nodes are {string.Join(", ", Ids)}");
        }

        using var http = ClusterTls.CreateClient(options.TlsDirectory, TimeSpan.FromSeconds(15));
        string? failure = null;
        var removed = false;

        // A change still committing (a node just added is promoted once caught up) answers 409 change_in_progress:
        // asked again shortly, for a while.
        var deadline = DateTime.UtcNow + ChangeInProgressPatience;
        while (!removed && (failure is null || (failure.Contains("change_in_progress", StringComparison.Ordinal) && DateTime.UtcNow < deadline)))
        {
            if (failure is not null)
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }

            (removed, failure) = await TryRemoveAsync(http, id, cancellationToken).ConfigureAwait(false);
        }

        if (!removed)
        {
            throw new InvalidOperationException($"node {id} was not removed: {failure ?? "no node runs to ask"}");
        }

        var wasRunning = !process.HasExited;
        await StopAsync(id, process).ConfigureAwait(false);
        _processes.Remove(id);
        _paused.Remove(id);
        _removed.Add(id);
        return wasRunning ? $"node {id} is no longer a member, and was stopped" : $"node {id} is no longer a member";
    }

    // Asks the running nodes, the one removed last, until one removes it; otherwise the last refusal.
    private async Task<(bool Removed, string? Failure)> TryRemoveAsync(HttpClient http, int id, CancellationToken cancellationToken)
    {
        string? failure = "no node runs to ask";
        foreach (var asked in _processes.Where(p => !p.Value.HasExited).Select(p => p.Key).OrderBy(n => n == id ? 1 : 0).ThenBy(n => n))
        {
            try
            {
                using var response = await http.DeleteAsync(new Uri($"{options.HttpEndpoint(asked)}/v1/cluster/members/{id}"), cancellationToken).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode || (response.StatusCode == System.Net.HttpStatusCode.NotFound && body.Contains("member_not_found", StringComparison.Ordinal)))
                {
                    return (true, null);
                }

                failure = $"node {asked} answered {(int)response.StatusCode}: {body}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                failure = $"node {asked} did not answer: {e.Message}";
            }
        }

        return (false, failure);
    }

    /// <summary>kill -9 every node still running, without waiting: for a caller that is itself going away.</summary>
    public void KillAll()
    {
        foreach (var process in _processes.Values)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }
            }
            catch (InvalidOperationException)
            {
                // It exited in the meantime.
            }
        }

        _paused.Clear();
    }

    // At the cluster's start a node without data is a new cluster's first start; started again later it must find its
    // data (a node that lost it is refused rather than vote as if it never had).
    private Process StartNode(int id, bool clusterStart) =>
        NodeProcess.Start([.. options.ArgumentsFor(id), .. (clusterStart ? ["--Node:ClusterState=new"] : Array.Empty<string>())], LogPath(id), options.ServerDll);

    /// <summary>
    /// Polls every node's <c>/v1/cluster</c> until every running node answers, names the same leader and runs the cluster
    /// version they all support, so that once this returns each node the listing names takes every request, and the
    /// entry that raised the version is behind the first write a user makes.
    /// </summary>
    public async Task<int?> WaitForLeaderAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var leader = await PollLeaderAsync(everyRunningNode: true, deadline.Token).ConfigureAwait(false);
                if (leader is not null)
                {
                    return leader;
                }

                await Task.Delay(100, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    public async Task PrintEndpointsAsync(int leader)
    {
        foreach (var id in Ids)
        {
            await output.WriteLineAsync($"node {id}: {options.HttpEndpoint(id)}  peers 127.0.0.1:{options.PeerPort(id)}  pid {_processes[id].Id}  log {LogPath(id)}").ConfigureAwait(false);
        }

        await output.WriteLineAsync($"leader: node {leader} at {options.HttpEndpoint(leader)}").ConfigureAwait(false);
        if (options.Tls)
        {
            var authority = ClusterTls.AuthorityPath(options.TlsDirectory);
            await output.WriteLineAsync($"TLS: HTTPS only, peers by mutual TLS; clients trust {authority}, e.g. curl --cacert {ClusterLaunchOptions.QuoteForShell(authority)} {options.HttpEndpoint(leader)}/v1/cluster").ConfigureAwait(false);
        }

        // The command-line client's line for this cluster (README's raftctl section says how to install it).
        var endpoints = string.Join(',', Ids.Select(options.HttpEndpoint));
        var trust = options.Tls ? $" --cacert {ClusterLaunchOptions.QuoteForShell(ClusterTls.AuthorityPath(options.TlsDirectory))}" : string.Empty;
        await output.WriteLineAsync($"raftctl --endpoints {endpoints}{trust} status").ConfigureAwait(false);
        await output.WriteLineAsync("  (raftctl not installed: dotnet run --project src/Raft.Cli -- and the same arguments)").ConfigureAwait(false);
        await output.WriteLineAsync("Ctrl+C stops every node.").ConfigureAwait(false);
    }

    /// <summary>Asks every running node's <c>/v1/cluster</c> once; the leader a majority of all nodes name, if any.</summary>
    public Task<int?> PollLeaderAsync(CancellationToken cancellationToken) => PollLeaderAsync(everyRunningNode: false, cancellationToken);

    /// <summary>
    /// Asks every running node's <c>/v1/cluster</c> once: the leader a majority of all nodes name, or, with
    /// <paramref name="everyRunningNode"/>, the leader every running node names once each has applied the highest cluster
    /// version all of them support (null if one does not answer yet, or the version is not there yet).
    /// </summary>
    private async Task<int?> PollLeaderAsync(bool everyRunningNode, CancellationToken cancellationToken)
    {
        var votes = new Dictionary<int, int>();
        var running = 0;
        var (lowestApplied, lowestSupported) = (int.MaxValue, int.MaxValue);
        foreach (var id in Ids)
        {
            if (_processes[id].HasExited)
            {
                continue;
            }

            running++;
            try
            {
                using var response = await Http.GetAsync(new Uri($"{options.HttpEndpoint(id)}/v1/cluster"), cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    continue;
                }

                using var doc = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), cancellationToken: cancellationToken).ConfigureAwait(false);
                if (doc.RootElement.TryGetProperty("clusterVersion", out var version) && version.TryGetInt32(out var applied)
                    && doc.RootElement.TryGetProperty("supportsVersion", out var supports) && supports.TryGetInt32(out var supported))
                {
                    (lowestApplied, lowestSupported) = (Math.Min(lowestApplied, applied), Math.Min(lowestSupported, supported));
                }

                if (doc.RootElement.TryGetProperty("leaderId", out var leaderId) && leaderId.TryGetInt32(out var l) && l > 0)
                {
                    votes[l] = votes.GetValueOrDefault(l) + 1;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet, or gone.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // This node did not answer in time.
            }
        }

        if (everyRunningNode && lowestApplied < lowestSupported)
        {
            return null;
        }

        var majority = everyRunningNode ? Math.Max(running, (_processes.Count / 2) + 1) : (_processes.Count / 2) + 1;
        foreach (var (candidate, count) in votes)
        {
            if (count >= majority)
            {
                return candidate;
            }
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        _http?.Dispose();
        foreach (var id in _paused)
        {
            // A stopped process would sit on SIGTERM until the grace period ran out.
            if (!_processes[id].HasExited)
            {
                NodeProcess.Resume(_processes[id]);
            }
        }

        _paused.Clear();
        foreach (var process in _processes.Values)
        {
            NodeProcess.Terminate(process);
        }

        foreach (var (id, process) in _processes)
        {
            await WaitOrKillAsync(id, process).ConfigureAwait(false);
        }
    }

    // SIGTERM (a leader hands over), then kill after the grace period.
    private async Task StopAsync(int id, Process process)
    {
        if (_paused.Contains(id) && !process.HasExited)
        {
            NodeProcess.Resume(process);
        }

        NodeProcess.Terminate(process);
        await WaitOrKillAsync(id, process).ConfigureAwait(false);
    }

    private async Task WaitOrKillAsync(int id, Process process)
    {
        using var wait = new CancellationTokenSource(GracefulStop);
        try
        {
            await process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await output.WriteLineAsync($"node {id} did not stop within {GracefulStop.TotalSeconds:F0} s: killing it").ConfigureAwait(false);
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        process.Dispose();
    }
}
