using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Raft.Core;
using Raft.Node;

namespace Raft.Server.Api;

internal static class LeaderWait
{
    private static readonly TimeSpan SilenceRecheck = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// This node's view for a request that needs the leader: at once while one is known, otherwise once an election
    /// names one (up to <see cref="NodeOptions.LeaderWaitMs"/>), so requests sent during a failover are served late
    /// rather than refused.
    /// </summary>
    public static ValueTask<NodeView> LeaderViewAsync(this NodeLoop node, NodeOptions options, HttpContext context) =>
        node.LeaderKnownAsync(TimeSpan.FromMilliseconds(options.LeaderWaitMs), context.RequestAborted);

    /// <summary>
    /// On a follower whose leader has gone quiet for three heartbeat intervals (hung, or cut off), waits until it is
    /// heard again or replaced (up to <see cref="NodeOptions.LeaderWaitMs"/>) rather than forwarding a request to it
    /// that would hang; returns the view to route by. A quiet leader the follower gives up on while it waits (its
    /// election timeout fired) is waited past too, until the election names the next one.
    /// </summary>
    public static async ValueTask<NodeView> AudibleLeaderViewAsync(this NodeLoop node, NodeView view, NodeOptions options, HttpContext context)
    {
        var silenceLimit = TimeSpan.FromMilliseconds(3 * options.HeartbeatIntervalMs);
        var started = Stopwatch.GetTimestamp();
        var limit = TimeSpan.FromMilliseconds(options.LeaderWaitMs);
        var knewLeader = view.LeaderId != 0;
        while (view.Role != RaftRole.Leader && knewLeader && (view.LeaderId == 0 || node.LeaderSilence > silenceLimit))
        {
            var left = limit - Stopwatch.GetElapsedTime(started);
            if (left <= TimeSpan.Zero || context.RequestAborted.IsCancellationRequested)
            {
                break;
            }

            // A new leader wakes this at once; a leader heard again is noticed within the slice.
            var slice = left < SilenceRecheck ? left : SilenceRecheck;
            view = await node.LeaderOtherThanAsync(view.LeaderId, slice, context.RequestAborted).ConfigureAwait(false);
        }

        return view;
    }
}
