using Raft.Core;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server;

/// <summary>The cluster status the HTTP API shows, from the driver's status and this node's configuration.</summary>
internal static class StatusView
{
    public static ClusterStatusResponse Build(NodeStatus status, NodeOptions options, DateTimeOffset? leaderSince, int clusterVersion)
    {
        var members = new List<MemberStatusResponse>(status.Members.Count);
        foreach (var member in status.Members)
        {
            var addresses = options.AddressesOf(status.Membership, member.Id);
            var role = !member.IsVoter ? "learner" : member.Id == options.Id ? RoleName(status.Role) : member.IsLeader ? "leader" : "follower";
            members.Add(new MemberStatusResponse(member.Id, NullIfEmpty(addresses?.Peer), NullIfEmpty(addresses?.Http), member.IsVoter, role, member.MatchIndex, member.Lag));
        }

        var self = status.Membership.IsLearner(options.Id) ? "learner" : status.Membership.Contains(options.Id) ? RoleName(status.Role) : "not-a-member";
        return new ClusterStatusResponse(options.Id, self, status.Term, status.LeaderId, leaderSince,
            status.CommitIndex, status.AppliedIndex, status.LastIndex, members,
            status.ConfigIndex, status.ChangeInProgress, clusterVersion, options.ClusterVersionMax);
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    public static string RoleName(RaftRole role) => role switch
    {
        RaftRole.Leader => "leader",
        RaftRole.Candidate => "candidate",
        RaftRole.PreCandidate => "precandidate",
        _ => "follower",
    };
}
