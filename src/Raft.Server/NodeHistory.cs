using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Raft.Core;
using Raft.Protocol;

namespace Raft.Server;

/// <summary>
/// A node's recent history for operators (<c>GET /v1/cluster/events</c>): the leader changes it saw with their cause,
/// its own campaigns with their duration, and when it last heard from each peer. Bounded rings in memory.
/// </summary>
/// <remarks>
/// Written on the node's thread (<see cref="NodeEvents"/>), read by HTTP handlers: the rings under a lock (they change
/// only when the leader or the role does), the contact times as one boxed long per peer, written with a volatile store:
/// every message received passes here, so that path takes no lock and allocates nothing once the peer is known. The
/// cause of a change is read off the vote requests of the campaign that made the leader: they carry the transfer or
/// leader-unreachable flag.
/// </remarks>
internal sealed class NodeHistory(int nodeId, TimeProvider time, int eventsMax = NodeHistory.DefaultEventsMax)
{
    public const int DefaultEventsMax = 64;

    private readonly Lock _lock = new();
    private readonly Queue<LeaderChangeEvent> _leaderChanges = new(eventsMax);
    private readonly Queue<ElectionEvent> _elections = new(eventsMax);

    // The newest (pre-)vote request seen from each candidate, this node included: its term and flags.
    private readonly Dictionary<int, (ulong Term, MessageFlags Flags)> _campaigns = [];
    private readonly ConcurrentDictionary<int, StrongBox<long>> _heard = new();

    private int _leader;
    private RaftRole _role = RaftRole.Follower;
    private ulong _term;
    private OpenElection? _election;

    /// <summary>A message from <paramref name="m"/>'s sender arrived (node thread).</summary>
    public void Received(in Message m)
    {
        var now = time.GetTimestamp();
        Volatile.Write(ref _heard.GetOrAdd(m.From, static (_, at) => new StrongBox<long>(at), now).Value, now);
        SawVoteRequest(m.From, m);
    }

    /// <summary>How long ago this node last heard from <paramref name="peer"/>; null if never (any thread).</summary>
    public TimeSpan? SinceHeard(int peer) =>
        _heard.TryGetValue(peer, out var heard) ? time.GetElapsedTime(Volatile.Read(ref heard.Value)) : null;

    /// <summary>This node sent <paramref name="m"/> (node thread).</summary>
    public void Sent(in Message m) => SawVoteRequest(nodeId, m);

    /// <summary>The role, leader or term changed (node thread); <paramref name="campaignStarted"/> when this node began campaigning.</summary>
    public void RoleChanged(RaftRole role, int leaderId, ulong term, bool campaignStarted, bool isVoter)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (campaignStarted)
            {
                EndElection(ElectionOutcomes.Failed, term);
                _election = new OpenElection(now, time.GetTimestamp());
            }
            else if (_election is not null && role is RaftRole.Leader or RaftRole.Follower)
            {
                EndElection(role == RaftRole.Leader ? ElectionOutcomes.Won : leaderId != 0 ? ElectionOutcomes.Lost : ElectionOutcomes.Failed, term);
            }

            if (leaderId != 0 && leaderId != _leader)
            {
                Add(_leaderChanges, new LeaderChangeEvent(now, term, leaderId, _leader, CauseOf(leaderId, term)));
                _leader = leaderId;
            }
            else if (leaderId == 0 && _role == RaftRole.Leader && role != RaftRole.Leader)
            {
                var cause = term != _term ? LeaderChangeCauses.HigherTerm : isVoter ? LeaderChangeCauses.CheckQuorum : LeaderChangeCauses.Removed;
                Add(_leaderChanges, new LeaderChangeEvent(now, term, 0, _leader, cause));
                _leader = 0;
            }

            _role = role;
            _term = term;
        }
    }

    /// <summary>The history as the API shows it.</summary>
    public ClusterEventsResponse Read()
    {
        LeaderChangeEvent[] changes;
        List<ElectionEvent> elections;
        lock (_lock)
        {
            changes = [.. _leaderChanges];
            elections = [.. _elections];
            if (_election is { } open)
            {
                elections.Add(new ElectionEvent(nodeId, _term, open.Started, null, ElectionOutcomes.Running, CauseOf(nodeId, _term, ownCampaign: true)));
            }
        }

        var now = time.GetTimestamp();
        var contacts = _heard.Select(pair => new PeerContactResponse(pair.Key, (long)time.GetElapsedTime(Volatile.Read(ref pair.Value.Value), now).TotalMilliseconds))
            .OrderBy(contact => contact.Id)
            .ToArray();
        return new ClusterEventsResponse(nodeId, time.GetUtcNow(), changes, elections, contacts);
    }

    private void SawVoteRequest(int candidate, in Message m)
    {
        if (m.Type is MessageType.PreVote or MessageType.Vote)
        {
            // A pre-vote names the term its election would have, so both requests of one campaign agree.
            lock (_lock)
            {
                _campaigns[candidate] = (m.Term, m.Flags);
            }
        }
    }

    // A campaign that failed ends in the term it began from, below the term its requests named: for one's own campaign
    // (ownCampaign) a request for a later term counts too.
    private string CauseOf(int leader, ulong term, bool ownCampaign = false)
    {
        if (!_campaigns.TryGetValue(leader, out var campaign) || (ownCampaign ? campaign.Term < term : campaign.Term != term))
        {
            // A leader elected alone (a single voter) sends no request; any other this node did not see being elected.
            return leader == nodeId ? LeaderChangeCauses.ElectionTimeout : LeaderChangeCauses.Discovered;
        }

        return (campaign.Flags & MessageFlags.Transfer) != 0 ? LeaderChangeCauses.Transfer
            : (campaign.Flags & MessageFlags.LeaderUnreachable) != 0 ? LeaderChangeCauses.LeaderUnreachable
            : LeaderChangeCauses.ElectionTimeout;
    }

    private void EndElection(string outcome, ulong term)
    {
        if (_election is not { } open)
        {
            return;
        }

        var elapsed = time.GetElapsedTime(open.Timestamp);
        Add(_elections, new ElectionEvent(nodeId, term, open.Started, Math.Round(elapsed.TotalMilliseconds, 3), outcome, CauseOf(nodeId, term, ownCampaign: true)));
        _election = null;
    }

    private void Add<T>(Queue<T> ring, T item)
    {
        if (ring.Count == eventsMax)
        {
            ring.Dequeue();
        }

        ring.Enqueue(item);
    }

    private sealed record OpenElection(DateTimeOffset Started, long Timestamp);
}
