using Microsoft.AspNetCore.Http;

namespace Raft.Server.Api;

internal static class LeaderWait
{
    /// <summary>
    /// This node's view for a request that needs the leader: at once while one is known, otherwise once an election
    /// names one (up to <see cref="NodeOptions.LeaderWaitMs"/>), so requests sent during a failover are served late
    /// rather than refused.
    /// </summary>
    public static ValueTask<NodeView> LeaderViewAsync(this NodeLoop node, NodeOptions options, HttpContext context) =>
        node.LeaderKnownAsync(TimeSpan.FromMilliseconds(options.LeaderWaitMs), context.RequestAborted);
}
