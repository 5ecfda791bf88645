using System.ComponentModel;
using System.Globalization;
using System.Threading.Channels;

namespace Raft.Server.Launcher;

/// <summary>
/// The one driver of the <c>cluster</c> command's <see cref="LocalCluster"/>, which is not thread-safe: a loop that
/// reports every node exit (with the command that starts the node again) and every leader change, and carries out the
/// restarts, additions and removals asked for through <see cref="LauncherControl"/>, which reach it from the control
/// socket's thread through a bounded queue.
/// </summary>
internal sealed class ClusterSupervisor(LocalCluster cluster, TextWriter output) : IDisposable
{
    private const int PendingRequestsMax = 16;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    private readonly Channel<PendingRequest> _requests = Channel.CreateBounded<PendingRequest>(
        new BoundedChannelOptions(PendingRequestsMax) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    // Node id to the pid whose exit was reported: a restarted node's next exit is reported again.
    private readonly Dictionary<int, int> _reportedExits = [];
    private volatile bool _stopping;

    /// <summary>The command to print for starting an exited node again; null while restarting is not available.</summary>
    public Func<int, string>? RestartCommand { get; set; }

    /// <summary>
    /// Asks the loop to carry out <paramref name="request"/> and waits for its answer line (<see cref="LauncherControl"/>'s
    /// protocol). Any thread; the loop serves the request within one poll, or at its start if the launcher is still
    /// waiting for the first leader.
    /// </summary>
    public async Task<string> HandleAsync(LauncherRequest request, CancellationToken cancellationToken)
    {
        var pending = new PendingRequest(request, new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_requests.Writer.TryWrite(pending))
        {
            return _stopping ? "refused the launcher is stopping every node" : "refused the launcher has too many requests queued; try again";
        }

        return await pending.Outcome.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Supervises the cluster until cancelled; <paramref name="leader"/> is the leader already printed.</summary>
    public async Task RunAsync(int leader, CancellationToken cancellationToken)
    {
        try
        {
            Task<bool>? requestQueued = null;
            while (true)
            {
                requestQueued ??= _requests.Reader.WaitToReadAsync(cancellationToken).AsTask();
                await Task.WhenAny(requestQueued, Task.Delay(PollInterval, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();

                // An exit is reported before a restart of the same node can replace its process.
                await ReportExitsAsync().ConfigureAwait(false);
                if (requestQueued.IsCompleted)
                {
                    requestQueued = null;
                    while (_requests.Reader.TryRead(out var pending))
                    {
                        pending.Outcome.TrySetResult(pending.Request.Verb switch
                        {
                            LauncherVerb.Add => await AddNowAsync().ConfigureAwait(false),
                            LauncherVerb.Remove => await RemoveNowAsync(pending.Request.Id, cancellationToken).ConfigureAwait(false),
                            _ => LauncherControl.Format(await RestartNowAsync(pending.Request.Id).ConfigureAwait(false)),
                        });
                    }
                }

                var current = await cluster.PollLeaderAsync(cancellationToken).ConfigureAwait(false);

                // The poll may already see the successor of a leader that exited after the check above: its exit
                // is printed first, as it happened first.
                await ReportExitsAsync().ConfigureAwait(false);
                if (current is not null && current != leader)
                {
                    leader = current.Value;
                    await output.WriteLineAsync($"leader: node {leader} at {cluster.Options.HttpEndpoint(leader)}").ConfigureAwait(false);
                }
            }
        }
        finally
        {
            RefusePending();
        }
    }

    public void Dispose() => RefusePending();

    private async Task ReportExitsAsync()
    {
        foreach (var id in cluster.Ids)
        {
            if (cluster.ExitCode(id) is not { } code || _reportedExits.GetValueOrDefault(id) == cluster.Pid(id))
            {
                continue;
            }

            _reportedExits[id] = cluster.Pid(id);
            var restart = RestartCommand is { } command ? $"; start it again with: {command(id)}" : "";
            await output.WriteLineAsync($"node {id} exited with code {code}{restart}").ConfigureAwait(false);
        }
    }

    private async Task<RestartOutcome> RestartNowAsync(int id)
    {
        if (!cluster.Ids.Contains(id))
        {
            return RestartOutcome.Refused($"there is no node {id}: the nodes are {string.Join(", ", cluster.Ids)}");
        }

        if (cluster.IsRunning(id))
        {
            return RestartOutcome.Refused($"node {id} is running (pid {cluster.Pid(id)}); only a node that exited is started again");
        }

        try
        {
            cluster.Restart(id);
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            return RestartOutcome.Refused($"node {id} could not be started: {e.Message}");
        }

        await output.WriteLineAsync($"node {id} started again: pid {cluster.Pid(id)}  log {cluster.LogPath(id)}").ConfigureAwait(false);
        return RestartOutcome.Started(cluster.Pid(id), new Uri(cluster.Options.HttpEndpoint(id)), cluster.LogPath(id));
    }

    private async Task<string> AddNowAsync()
    {
        int id;
        try
        {
            id = cluster.AddNode();
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            return $"refused no node was added: {e.Message}";
        }

        var options = cluster.Options;
        await output.WriteLineAsync($"node {id} started to join the cluster: {options.HttpEndpoint(id)}  peers 127.0.0.1:{options.PeerPort(id)}  pid {cluster.Pid(id)}  log {cluster.LogPath(id)}").ConfigureAwait(false);
        return string.Create(CultureInfo.InvariantCulture, $"added {id} {cluster.Pid(id)} {options.HttpEndpoint(id)} 127.0.0.1:{options.PeerPort(id)} {cluster.LogPath(id)}");
    }

    private async Task<string> RemoveNowAsync(int id, CancellationToken cancellationToken)
    {
        try
        {
            var done = await cluster.RemoveNodeAsync(id, cancellationToken).ConfigureAwait(false);
            _reportedExits.Remove(id);
            await output.WriteLineAsync(done).ConfigureAwait(false);
            return $"removed {done}";
        }
        catch (InvalidOperationException e)
        {
            return $"refused {e.Message}";
        }
    }

    private void RefusePending()
    {
        _stopping = true;
        _requests.Writer.TryComplete();
        while (_requests.Reader.TryRead(out var pending))
        {
            pending.Outcome.TrySetResult("refused the launcher is stopping every node");
        }
    }

    private sealed record PendingRequest(LauncherRequest Request, TaskCompletionSource<string> Outcome);
}
