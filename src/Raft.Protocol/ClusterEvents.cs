using System.Text.Json.Serialization;

namespace Raft.Protocol;

/// <summary>The <c>cause</c> of a leader change or an election in <see cref="ClusterEventsResponse"/>.</summary>
public static class LeaderChangeCauses
{
    /// <summary>A follower heard nothing from a leader for an election timeout and campaigned.</summary>
    public const string ElectionTimeout = "election-timeout";

    /// <summary>A follower's connection to its leader broke and could not be made again, so it campaigned at once.</summary>
    public const string LeaderUnreachable = "leader-unreachable";

    /// <summary>A planned leadership transfer (the old leader sent TimeoutNow).</summary>
    public const string Transfer = "transfer";

    /// <summary>The leader stepped down: it had not heard from a quorum for an election timeout.</summary>
    public const string CheckQuorum = "check-quorum";

    /// <summary>The leader stepped down: its removal from the configuration was committed.</summary>
    public const string Removed = "removed";

    /// <summary>The leader stepped down: it saw a higher term.</summary>
    public const string HigherTerm = "higher-term";

    /// <summary>This node learned of a leader whose election it did not see (it started or rejoined since).</summary>
    public const string Discovered = "discovered";
}

/// <summary>The <c>outcome</c> of an election in <see cref="ClusterEventsResponse"/>.</summary>
public static class ElectionOutcomes
{
    /// <summary>Still under way.</summary>
    public const string Running = "running";

    /// <summary>The candidate became the leader.</summary>
    public const string Won = "won";

    /// <summary>Another node became the leader.</summary>
    public const string Lost = "lost";

    /// <summary>The candidate went back to following with no leader known (a pre-vote or vote refused, or a new campaign began).</summary>
    public const string Failed = "failed";
}

/// <summary>
/// The leader as one node saw it change: at <see cref="At"/> (this node's clock) it learned that
/// <see cref="LeaderId"/> leads <see cref="Term"/>, after <see cref="PreviousLeaderId"/>. A <see cref="LeaderId"/> of 0
/// is this node stepping down as leader. <see cref="Cause"/> is one of <see cref="LeaderChangeCauses"/>.
/// </summary>
public sealed record LeaderChangeEvent(DateTimeOffset At, ulong Term, int LeaderId, int PreviousLeaderId, string Cause);

/// <summary>
/// One campaign of <see cref="Candidate"/> (the node answering), from its first (pre-)vote request to the leader
/// known or the campaign given up; <see cref="Term"/> is the term it ended in, <see cref="DurationMs"/> null while it
/// runs. <see cref="Outcome"/> is one of <see cref="ElectionOutcomes"/>, <see cref="Cause"/> of <see cref="LeaderChangeCauses"/>.
/// </summary>
public sealed record ElectionEvent(
    int Candidate,
    ulong Term,
    DateTimeOffset Started,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? DurationMs,
    string Outcome,
    string Cause);

/// <summary>How long since this node last received a message from peer <see cref="Id"/>; null when it never has.</summary>
public sealed record PeerContactResponse(int Id, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] long? SilentMs);

/// <summary>
/// A node's recent history (<c>GET /v1/cluster/events</c>), oldest first, each list bounded: the leader changes it
/// saw, its own campaigns, and when it last heard from each peer. Kept in memory; a restart begins it afresh.
/// </summary>
public sealed record ClusterEventsResponse(
    int NodeId,
    DateTimeOffset Now,
    IReadOnlyList<LeaderChangeEvent> LeaderChanges,
    IReadOnlyList<ElectionEvent> Elections,
    IReadOnlyList<PeerContactResponse> Contacts);
