using System.Diagnostics.CodeAnalysis;

namespace Raft.Core;

/// <summary>
/// One Raft node as a pure, synchronous state machine: no IO, no threads, no clock. The host feeds it
/// <see cref="Tick"/>, <see cref="Step"/> and client calls, and carries out the work it returns through
/// <see cref="GetReady"/> before calling <see cref="Advance"/>.
/// </summary>
/// <remarks>
/// Not thread-safe: one thread owns a node. Between <see cref="GetReady"/> and <see cref="Advance"/> no other
/// call may be made. The partial files split it by concern: elections, replication, reads, membership,
/// snapshots and the ready batch.
/// </remarks>
public sealed partial class RaftNode
{
    private readonly RaftOptions _options;
    private readonly SeededRandom _random;
    private readonly RaftLog _log;
    private readonly Ready _ready = new();
    private readonly List<Progress> _progress = [];

    private ulong _term;
    private int _votedFor;
    private int _leaderId;
    private RaftRole _role;

    // Ticks since this node started; only compared with itself (leases, snapshot retries).
    private ulong _tick = 1;
    private int _electionElapsed;
    private int _heartbeatElapsed;
    private int _randomizedElectionTimeout;

    // A restarted node forgets whom it heard from, so for one election timeout it behaves as if it had
    // just heard from a leader: a vote it gave now could break a lease it granted before the crash.
    private bool _startupLease;

    // The host reported the leader unreachable and nothing has been heard from it since.
    private bool _leaderLost;
    private int _fastCampaignCountdown;

    // A pre-vote that arrived while this node still heard the leader, and when: the asker saw the leader go first.
    // If this node loses the leader too, soon after (reported unreachable, or its own election timeout), it answers
    // that campaign instead of starting one that would cross it.
    private Message _deferredPreVote;
    private bool _hasDeferredPreVote;
    private ulong _deferredPreVoteTick;

    private bool _readyOutstanding;
    private HardState _durableHardState;
    private RaftRole _reportedRole;
    private int _reportedLeader;

    /// <summary>
    /// Starts a node from what it made durable: the latest snapshot's metadata (for a new cluster, one at index 0 whose
    /// membership is the initial one), its hard state, and its log, whose entries after the snapshot up to
    /// <paramref name="lastIndex"/> are in <paramref name="storage"/>. None are loaded into memory: the core reads them
    /// back as it needs them.
    /// </summary>
    public RaftNode(RaftOptions options, SeededRandom random, SnapshotMetadata snapshot, HardState hardState, IEntryStorage? storage, ulong lastIndex)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(snapshot);
        options.Validate();
        _options = options;
        _random = random;
        _log = new RaftLog(storage, options.MaxLogMemoryBytes);

        _log.Restore(snapshot.Index, snapshot.Term, Math.Max(hardState.Commit, snapshot.Index), lastIndex);
        _latestSnapshot = snapshot.Index > 0 ? snapshot : null;
        _snapshotMembership = snapshot.Membership;
        _membership = _snapshotMembership;
        RecoverMembership(storage, snapshot.Index, lastIndex);

        _term = hardState.Term;
        _votedFor = hardState.VotedFor;
        _durableHardState = new HardState(_term, _votedFor, _log.Committed);
        _role = RaftRole.Follower;
        _startupLease = true;
        ResetRandomizedElectionTimeout();
    }

    /// <summary>A node of a new cluster: empty log, term 0, the given initial membership.</summary>
    public static RaftNode Bootstrap(RaftOptions options, SeededRandom random, Membership initialMembership, IEntryStorage? storage = null) =>
        new(options, random, new SnapshotMetadata(0, 0, initialMembership), default, storage, 0);

    public int Id => _options.Id;

    public RaftOptions Options => _options;

    public RaftRole Role => _role;

    public ulong Term => _term;

    public int VotedFor => _votedFor;

    /// <summary>The leader this node knows of in the current term, or 0.</summary>
    public int LeaderId => _leaderId;

    public ulong CommitIndex => _log.Committed;

    public ulong AppliedIndex => _log.Applied;

    public ulong LastIndex => _log.LastIndex;

    public ulong LastTerm => _log.LastTerm;

    public ulong FirstIndex => _log.FirstIndex;

    /// <summary>The last index known durable in this node's log.</summary>
    public ulong StableIndex => _log.Stable;

    /// <summary>The membership in force: the latest one in the log, committed or not.</summary>
    public Membership Membership => _membership;

    /// <summary>The latest snapshot this node took or received, or null while it has none.</summary>
    public SnapshotMetadata? LatestSnapshot => _latestSnapshot;

    /// <summary>The first index of the log held in memory (LastIndex + 1 when none is); older entries are read back from storage.</summary>
    public ulong MemoryFirstIndex => _log.MemoryFirstIndex;

    /// <summary>The bytes (<see cref="Entry.SizeBytes"/>) of the entries held in memory.</summary>
    public long MemoryLogBytes => _log.MemoryBytes;

    public HardState HardState => new(_term, _votedFor, _log.Committed);

    /// <summary>The entry at <paramref name="index"/>, which must lie in [FirstIndex, LastIndex]; from memory or read back from storage.</summary>
    public Entry EntryAt(ulong index) => _log.At(index);

    /// <summary>The term at <paramref name="index"/>, or 0 when it is compacted or beyond the log.</summary>
    public ulong TermAt(ulong index) => _log.TermOrZero(index);

    /// <summary>
    /// On a leader, the lowest match index of the followers it replicates to from entries and that acknowledged new
    /// entries within an election timeout (a follower catching up); <see cref="ulong.MaxValue"/> when there is none. A
    /// host compacting its log keeps those entries, or the follower would need a whole snapshot again.
    /// </summary>
    public ulong CatchingUpFollowersMatch()
    {
        var lowest = ulong.MaxValue;
        if (_role != RaftRole.Leader)
        {
            return lowest;
        }

        foreach (var pr in _progress)
        {
            if (pr.Id != Id && pr.State == ReplicationState.Replicate && pr.Match < _log.LastIndex && _tick - pr.MatchAdvancedTick < (ulong)_options.ElectionTimeoutTicks)
            {
                lowest = Math.Min(lowest, pr.Match);
            }
        }

        return lowest;
    }

    /// <summary>The leader's replication state of <paramref name="peer"/>, for metrics; false when not leading or unknown.</summary>
    public bool TryGetProgress(int peer, out ulong match, out ulong next, out ReplicationState state)
    {
        var pr = _role == RaftRole.Leader ? FindProgress(peer) : null;
        match = pr?.Match ?? 0;
        next = pr?.Next ?? 0;
        state = pr?.State ?? ReplicationState.Probe;
        return pr is not null;
    }

    /// <summary>
    /// Advances logical time by <paramref name="elapsedTicks"/> at once, as a host whose process was stopped (SIGSTOP,
    /// a VM freeze, a long pause) reports the monotonic time that passed. The lease clock takes all of it, so a leader
    /// never believes a lease that lapsed while it was stopped. Timers (elections, heartbeats, CheckQuorum,
    /// transfers) take at most one heartbeat interval of it: the peers' messages that waited in its sockets speak
    /// for the time they cover, and a stall alone must not depose a healthy leader or start a campaign. Counting
    /// timers short is safe: it only makes this node wait, and refuse votes, a little longer.
    /// </summary>
    public void Tick(ulong elapsedTicks)
    {
        AssertNoReadyOutstanding();
        if (elapsedTicks == 0)
        {
            return;
        }

        var timed = Math.Min(elapsedTicks, (ulong)_options.HeartbeatIntervalTicks);
        _tick += elapsedTicks - timed;
        for (ulong i = 0; i < timed; i++)
        {
            Tick();
        }
    }

    /// <summary>Advances logical time by one tick.</summary>
    public void Tick()
    {
        AssertNoReadyOutstanding();
        _tick++;
        if (_role == RaftRole.Leader)
        {
            TickLeader();
        }
        else
        {
            TickElection();
        }
    }

    /// <summary>
    /// Handles one message from a peer. Throws <see cref="RaftProtocolException"/> for a message that
    /// breaks the protocol, having changed nothing.
    /// </summary>
    public void Step(in Message m)
    {
        AssertNoReadyOutstanding();
        if (m.To != Id || m.From == Id || m.From <= 0)
        {
            return;
        }

        if (m.Type == MessageType.Append)
        {
            ValidateAppend(m);
        }

        // A campaign by a node outside this node's configuration (one removed that has not heard of it) is ignored
        // like a lost message: it neither raises this node's term nor gets an answer, so a removed node cannot disrupt
        // the cluster. A member that this node does not know of yet loses nothing it needs: the nodes that know it
        // answer. A learner does answer a member's campaign, as etcd's do: its promotion may have committed without
        // reaching it, and the voters that know of it may then need its vote to elect anyone at all (a leader that
        // removed itself leaves them no one else to hear from). The vote counts only where the candidate's own
        // configuration makes this node a voter. A node not yet in any configuration contains no member, so it
        // ignores every campaign.
        if (m.Type is MessageType.Vote or MessageType.PreVote && !_membership.Contains(m.From))
        {
            return;
        }

        if (!StepTerm(m))
        {
            return;
        }

        switch (m.Type)
        {
            case MessageType.PreVote:
            case MessageType.Vote:
                HandleVoteRequest(m);
                return;
            case MessageType.ReadIndex when _role != RaftRole.Leader:
                Send(new Message { Type = MessageType.ReadIndexResponse, To = m.From, Reject = true, Context = m.Context });
                return;
        }

        switch (_role)
        {
            case RaftRole.Leader:
                StepLeader(m);
                break;
            case RaftRole.PreCandidate:
            case RaftRole.Candidate:
                StepCandidate(m);
                break;
            default:
                StepFollower(m);
                break;
        }
    }

    /// <summary>
    /// The host reports that its connection to <paramref name="peer"/> broke and a reconnect was refused.
    /// A follower that loses its leader this way campaigns without waiting for the election timeout; a
    /// leader stops counting that peer towards its lease until it acknowledges a newer heartbeat.
    /// </summary>
    public void PeerUnreachable(int peer)
    {
        AssertNoReadyOutstanding();
        if (_role == RaftRole.Leader)
        {
            var pr = FindProgress(peer);
            if (pr is null || pr.Id == Id)
            {
                return;
            }

            if (pr.State == ReplicationState.Replicate)
            {
                pr.BecomeProbe();
            }

            pr.LeaseRevokedThrough = _heartbeatSeq;
            pr.LeaseSentTick = 0;
            return;
        }

        if (_role == RaftRole.Follower && peer == _leaderId && peer != 0)
        {
            _leaderLost = true;
            if (_options.FastFailover && IsPromotable && !AnswerDeferredPreVote(preferredOnly: false))
            {
                // Voters with lower ids (the lost leader aside) go first; a follower that hears their vote
                // requests, or a new leader, before its turn drops its own campaign.
                var rank = 0;
                foreach (var voter in _membership.Voters)
                {
                    if (voter < Id && voter != peer)
                    {
                        rank++;
                    }
                }

                _fastCampaignCountdown = rank * _options.FastFailoverStaggerTicks;
                if (_fastCampaignCountdown == 0)
                {
                    Campaign(CampaignKind.PreElection, MessageFlags.LeaderUnreachable);
                }
            }
        }
    }

    // Applies the term rules every message shares; false when the message needs nothing more.
    private bool StepTerm(in Message m)
    {
        if (m.Term > _term)
        {
            if (m.Type is MessageType.PreVote or MessageType.Vote && IgnoresVoteRequest(m))
            {
                if (m.Type == MessageType.PreVote)
                {
                    _deferredPreVote = m;
                    _hasDeferredPreVote = true;
                    _deferredPreVoteTick = _tick;
                }

                return false;
            }

            if (m.Type == MessageType.PreVote || (m.Type == MessageType.PreVoteResponse && !m.Reject))
            {
                // A pre-vote, and a granted pre-vote answer, speak of a term nobody is in yet.
                return true;
            }

            var leader = m.Type is MessageType.Append or MessageType.Heartbeat or MessageType.InstallSnapshot ? m.From : 0;
            BecomeFollower(m.Term, leader);
            return true;
        }

        if (m.Term < _term)
        {
            if (m.Type is MessageType.Append or MessageType.Heartbeat && (_options.CheckQuorum || _options.PreVote || !IsPromotable))
            {
                // Tell a stale leader about the newer term, or it would never learn of it: a node that
                // pre-votes does not raise its term, so its votes alone cannot depose the stale leader; and a
                // learner never campaigns, so without this answer a learner whose term is ahead would never be
                // reached again.
                Send(new Message { Type = MessageType.AppendResponse, To = m.From });
            }
            else if (m.Type == MessageType.PreVote)
            {
                Send(new Message { Type = MessageType.PreVoteResponse, To = m.From, Reject = true });
            }

            return false;
        }

        return true;
    }

    private void StepFollower(in Message m)
    {
        switch (m.Type)
        {
            case MessageType.Append:
                HeardFromLeader(m.From);
                HandleAppend(m);
                break;
            case MessageType.Heartbeat:
                HeardFromLeader(m.From);
                HandleHeartbeat(m);
                break;
            case MessageType.InstallSnapshot:
                HeardFromLeader(m.From);
                HandleSnapshot(m);
                break;
            case MessageType.TimeoutNow:
                if (IsPromotable)
                {
                    Campaign(CampaignKind.Transfer, MessageFlags.Transfer);
                }

                break;
            case MessageType.ReadIndexResponse:
                _ready.ReadStateList.Add(new ReadState(m.Context, m.Index, m.Reject ? ReadStatus.Failed : ReadStatus.Ready));
                break;
        }
    }

    private void StepCandidate(in Message m)
    {
        switch (m.Type)
        {
            case MessageType.Append:
            case MessageType.Heartbeat:
            case MessageType.InstallSnapshot:
                // A leader exists in this term: stand down and follow it.
                BecomeFollower(_term, m.From);
                StepFollower(m);
                break;
            case MessageType.PreVoteResponse when _role == RaftRole.PreCandidate:
            case MessageType.VoteResponse when _role == RaftRole.Candidate:
                HandleVoteResponse(m);
                break;
            case MessageType.ReadIndexResponse:
                _ready.ReadStateList.Add(new ReadState(m.Context, m.Index, m.Reject ? ReadStatus.Failed : ReadStatus.Ready));
                break;
        }
    }

    private void HeardFromLeader(int leader)
    {
        _electionElapsed = 0;
        _leaderId = leader;
        _leaderLost = false;
        _fastCampaignCountdown = 0;
        _hasDeferredPreVote = false;
    }

    private void TickElection()
    {
        _electionElapsed++;
        if (_startupLease && _electionElapsed >= _options.ElectionTimeoutTicks)
        {
            _startupLease = false;
        }

        if (_fastCampaignCountdown > 0 && --_fastCampaignCountdown == 0 && _role == RaftRole.Follower && _leaderLost)
        {
            Campaign(CampaignKind.PreElection, MessageFlags.LeaderUnreachable);
            return;
        }

        if (IsPromotable && _electionElapsed >= _randomizedElectionTimeout)
        {
            _electionElapsed = 0;
            _leaderLost = true;
            if (_options.PreVote && AnswerDeferredPreVote(preferredOnly: true))
            {
                ResetRandomizedElectionTimeout();
                return;
            }

            Campaign(_options.PreVote ? CampaignKind.PreElection : CampaignKind.Election, MessageFlags.None);
        }
    }

    private void TickLeader()
    {
        _heartbeatElapsed++;
        _electionElapsed++;

        if (_leadTransferee != 0 && ++_transferElapsed >= _options.ElectionTimeoutTicks)
        {
            AbortLeaderTransfer();
        }

        if (_electionElapsed >= _options.ElectionTimeoutTicks)
        {
            _electionElapsed = 0;
            if (_options.CheckQuorum)
            {
                if (!QuorumRecentlyActive())
                {
                    // Isolated: stop acting as leader so no client waits on a leader that cannot commit.
                    BecomeFollower(_term, 0);
                    return;
                }

                foreach (var pr in _progress)
                {
                    pr.RecentActive = pr.Id == Id;
                }
            }
        }

        if (_heartbeatElapsed >= _options.HeartbeatIntervalTicks)
        {
            _heartbeatElapsed = 0;
            BroadcastHeartbeat();
        }
    }

    private bool IsPromotable => _membership.IsVoter(Id);

    private void ResetRandomizedElectionTimeout() =>
        _randomizedElectionTimeout = _options.ElectionTimeoutTicks + _random.Next(_options.ElectionJitter);

    private void Reset(ulong term)
    {
        if (_term != term)
        {
            _term = term;
            _votedFor = 0;
        }

        _leaderId = 0;
        _electionElapsed = 0;
        _heartbeatElapsed = 0;
        _leaderLost = false;
        _fastCampaignCountdown = 0;
        _hasDeferredPreVote = false;
        ResetRandomizedElectionTimeout();
        AbortLeaderTransfer();
        _votes.Clear();
    }

    private void BecomeFollower(ulong term, int leader)
    {
        var wasLeader = _role == RaftRole.Leader;
        Reset(term);
        _role = RaftRole.Follower;
        _leaderId = leader;
        if (wasLeader)
        {
            FailPendingReads();
        }
    }

    private void Send(Message m)
    {
        m.From = Id;
        if (m.Term == 0)
        {
            m.Term = _term;
        }

        // Whatever vouches for durable state waits until this batch is durable.
        if (m.Type is MessageType.AppendResponse or MessageType.VoteResponse or MessageType.Vote)
        {
            _ready.AfterPersistBuffer.Add(m);
        }
        else
        {
            _ready.MessageBuffer.Add(m);
        }
    }

    private Progress? FindProgress(int id)
    {
        foreach (var pr in _progress)
        {
            if (pr.Id == id)
            {
                return pr;
            }
        }

        return null;
    }

    private void AssertNoReadyOutstanding()
    {
        if (_readyOutstanding)
        {
            ThrowReadyOutstanding();
        }
    }

    [DoesNotReturn]
    private static void ThrowReadyOutstanding() =>
        throw new InvalidOperationException("a ready batch is outstanding: call Advance before anything else");

    [DoesNotReturn]
    private static void ThrowProtocol(string message) => throw new RaftProtocolException(message);

    private static void ValidateAppend(in Message m)
    {
        var entries = m.Entries.Span;
        var expected = m.Index + 1;
        var lastTerm = m.LogTerm;
        foreach (ref readonly var e in entries)
        {
            if (e.Index != expected || e.Term < lastTerm || e.Term > m.Term)
            {
                ThrowProtocol($"append from {m.From}: entry ({e.Index}, t{e.Term}) does not follow ({expected - 1}, t{lastTerm}) in term {m.Term}");
            }

            expected++;
            lastTerm = e.Term;
        }
    }

    public override string ToString() =>
        $"node {Id} {_role} t{_term} lead={_leaderId} vote={_votedFor} last=({_log.LastIndex},t{_log.LastTerm}) commit={_log.Committed} applied={_log.Applied}";
}
