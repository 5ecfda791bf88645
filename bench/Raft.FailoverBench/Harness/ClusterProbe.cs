using System.Diagnostics;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>Who leads, and whether a cluster is whole again, asked of each node itself.</summary>
internal static class ClusterProbe
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromMilliseconds(250);

    /// <summary>The node that claims leadership (the only one, if several answer); null if none within <paramref name="timeout"/>.</summary>
    public static async Task<int?> FindLeaderAsync(IBenchTarget target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            var claims = await Task.WhenAll(Enumerable.Range(1, target.Nodes).Select(n => target.ClaimsLeadershipAsync(n, AskTimeout, cancellationToken))).ConfigureAwait(false);
            var leaders = Enumerable.Range(1, target.Nodes).Where(n => claims[n - 1] == true).ToArray();
            if (leaders.Length == 1)
            {
                return leaders[0];
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>
    /// Polls every node but <paramref name="oldLeader"/>, each about every 2 ms, until one says it leads; returns it and
    /// when it said so, or null after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<(int Node, long At)?> WatchForNewLeaderAsync(IBenchTarget target, int oldLeader, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        done.CancelAfter(timeout);
        var found = new TaskCompletionSource<(int, long)?>(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task PollAsync(int node)
        {
            try
            {
                while (!done.IsCancellationRequested)
                {
                    if (await target.ClaimsLeadershipAsync(node, AskTimeout, done.Token).ConfigureAwait(false) == true)
                    {
                        found.TrySetResult((node, Stopwatch.GetTimestamp()));
                        return;
                    }

                    await Task.Delay(2, done.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (done.IsCancellationRequested)
            {
                // Another poller found it, or time ran out.
            }
        }

        var pollers = Enumerable.Range(1, target.Nodes).Where(n => n != oldLeader).Select(n => Task.Run(() => PollAsync(n))).ToArray();
        var all = Task.WhenAll(pollers);
        var first = await Task.WhenAny(found.Task, all).ConfigureAwait(false);
        await done.CancelAsync().ConfigureAwait(false);
        await all.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return first == found.Task || found.Task.IsCompleted ? await found.Task.ConfigureAwait(false) : null;
    }

    /// <summary>
    /// Waits until exactly one node claims leadership and every node serves a linearizable read of
    /// <paramref name="probeKey"/> (a restarted node has caught up that far); false after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<bool> WaitHealthyAsync(IBenchTarget target, string probeKey, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            var claims = await Task.WhenAll(Enumerable.Range(1, target.Nodes).Select(n => target.ClaimsLeadershipAsync(n, AskTimeout, cancellationToken))).ConfigureAwait(false);
            if (claims.All(c => c is not null) && claims.Count(c => c == true) == 1)
            {
                var reads = await Task.WhenAll(Enumerable.Range(1, target.Nodes).Select(n => target.GetAsync(n, probeKey, TimeSpan.FromSeconds(1), cancellationToken))).ConfigureAwait(false);
                if (reads.All(r => r.Ok))
                {
                    return true;
                }
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }
}
