using Raft.Core;
using Raft.Node;

namespace Raft.Server;

/// <summary>The cluster status the HTTP API shows, from the driver's status and this node's configuration.</summary>
internal static class StatusView
{
    public static ClusterStatus Build(NodeStatus status, NodeOptions options, DateTimeOffset? leaderSince)
    {
        var members = new List<MemberStatus>(status.Members.Count);
        foreach (var member in status.Members)
        {
            options.Peers.TryGetValue(member.Id, out var peer);
            options.HttpEndpoints.TryGetValue(member.Id, out var http);
            var role = member.Id == options.Id ? RoleName(status.Role) : member.IsLeader ? "leader" : member.IsVoter ? "follower" : "learner";
            members.Add(new MemberStatus(member.Id, peer, http, member.IsVoter, role, member.MatchIndex, member.Lag));
        }

        return new ClusterStatus(options.Id, RoleName(status.Role), status.Term, status.LeaderId, leaderSince,
            status.CommitIndex, status.AppliedIndex, status.LastIndex, members);
    }

    public static string RoleName(RaftRole role) => role switch
    {
        RaftRole.Leader => "leader",
        RaftRole.Candidate => "candidate",
        RaftRole.PreCandidate => "precandidate",
        _ => "follower",
    };
}
