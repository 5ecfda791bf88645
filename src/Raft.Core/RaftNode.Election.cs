namespace Raft.Core;

public sealed partial class RaftNode
{
    private readonly List<(int Voter, bool Granted)> _votes = [];
    private MessageFlags _campaignFlags;

    private enum CampaignKind : byte
    {
        PreElection,
        Election,
        Transfer,
    }

    private enum VoteOutcome : byte
    {
        Pending,
        Won,
        Lost,
    }

    /// <summary>Starts an election now, as if the election timeout had passed (pre-voting first if enabled).</summary>
    public void Campaign()
    {
        AssertNoReadyOutstanding();
        if (_role != RaftRole.Leader)
        {
            Campaign(_options.PreVote ? CampaignKind.PreElection : CampaignKind.Election, MessageFlags.None);
        }
    }

    private void Campaign(CampaignKind kind, MessageFlags flags)
    {
        if (!IsPromotable)
        {
            return;
        }

        _campaignFlags = flags;
        MessageType request;
        ulong term;
        if (kind == CampaignKind.PreElection)
        {
            BecomePreCandidate();
            request = MessageType.PreVote;
            term = _term + 1;
        }
        else
        {
            BecomeCandidate();
            request = MessageType.Vote;
            term = _term;
        }

        if (Poll(Id, granted: true) == VoteOutcome.Won)
        {
            // A single voter wins at once.
            if (kind == CampaignKind.PreElection)
            {
                Campaign(CampaignKind.Election, flags);
            }
            else
            {
                BecomeLeader();
            }

            return;
        }

        foreach (var voter in _membership.Voters)
        {
            if (voter == Id)
            {
                continue;
            }

            Send(new Message
            {
                Type = request,
                To = voter,
                Term = term,
                Index = _log.LastIndex,
                LogTerm = _log.LastTerm,
                Flags = flags,
            });
        }
    }

    private void BecomePreCandidate()
    {
        // A pre-candidate keeps its term and vote: nothing it does is durable.
        _role = RaftRole.PreCandidate;
        _leaderId = 0;
        _startupLease = false;
        _fastCampaignCountdown = 0;
        _votes.Clear();
    }

    private void BecomeCandidate()
    {
        Reset(_term + 1);
        _role = RaftRole.Candidate;
        _votedFor = Id;
        _startupLease = false;
    }

    private void BecomeLeader()
    {
        Reset(_term);
        _role = RaftRole.Leader;
        _leaderId = Id;
        _leaseBrokenThisTerm = false;
        RebuildProgress();
        foreach (var pr in _progress)
        {
            pr.Reset(_log.LastIndex + 1);
            pr.MatchAdvancedTick = _tick;
            if (pr.Id == Id)
            {
                pr.Match = _log.Stable;
                pr.RecentActive = true;
                pr.BecomeReplicate();
            }
        }

        // A membership change must wait until everything before it, and this term's first entry, commits.
        _pendingMembershipIndex = _log.LastIndex + 1;

        // Only this leader's own proposals are charged against MaxUncommittedBytes (as etcd-raft does): its
        // predecessors' uncommitted entries may no longer be in memory, and they commit with its no-op anyway.
        _uncommittedBytes = 0;

        // The no-op lets this leader commit, and so learn the commit index, in its own term (Figure 8).
        AppendEntry(EntryType.NoOp, ReadOnlyMemory<byte>.Empty);
        BroadcastHeartbeat();
    }

    // Answers a vote request that passed the term rules.
    private void HandleVoteRequest(in Message m)
    {
        var isPreVote = m.Type == MessageType.PreVote;
        if (isPreVote && _role == RaftRole.PreCandidate && m.Term == _term + 1)
        {
            // Two pre-candidates for the same term (followers that lost the same leader, or whose timeouts
            // fired together): were each to grant the other's pre-vote, the real votes would split and only
            // another election timeout would end it. One order decides: the more up-to-date log, then the lower
            // id. The one preferred keeps going; the other stands down and grants.
            if (!Prefers(m))
            {
                Send(new Message { Type = MessageType.PreVoteResponse, To = m.From, Reject = true });
                return;
            }

            BecomeFollower(_term, 0);
            _leaderLost = true;
        }

        var canVote = _votedFor == m.From
            || (_votedFor == 0 && _leaderId == 0)
            || (isPreVote && m.Term > _term);
        var responseType = isPreVote ? MessageType.PreVoteResponse : MessageType.VoteResponse;
        if (canVote && _log.IsUpToDate(m.Index, m.LogTerm))
        {
            // A granted pre-vote answers in the term it was asked about, so the candidate can count it.
            Send(new Message { Type = responseType, To = m.From, Term = m.Term });
            if (!isPreVote)
            {
                _electionElapsed = 0;
                _votedFor = m.From;
            }
        }
        else
        {
            Send(new Message { Type = responseType, To = m.From, Reject = true });
        }
    }

    // Called when this follower loses its leader: answers a pre-vote that arrived while it still heard that leader
    // (the asker noticed first). True when it granted, so this node need not campaign itself; should that campaign
    // fail, the election timeout still runs. With preferredOnly (this node's own timeout fired, so it could campaign
    // as well), it grants only a campaign that the crossing-pre-vote order prefers to its own.
    private bool AnswerDeferredPreVote(bool preferredOnly)
    {
        if (!_hasDeferredPreVote)
        {
            return false;
        }

        _hasDeferredPreVote = false;
        var m = _deferredPreVote;
        if (m.Term <= _term || _tick - _deferredPreVoteTick > (ulong)_options.ElectionTimeoutTicks || !_log.IsUpToDate(m.Index, m.LogTerm)
            || (preferredOnly && !Prefers(m)))
        {
            return false;
        }

        HandleVoteRequest(m);
        return true;
    }

    // The order that settles crossing pre-votes: true when the asker's campaign goes before this node's (its log is
    // more up to date, or as up to date and its id lower).
    private bool Prefers(in Message m)
    {
        var ours = _log.LastTerm != m.LogTerm ? _log.LastTerm.CompareTo(m.LogTerm) : _log.LastIndex.CompareTo(m.Index);
        return ours < 0 || (ours == 0 && m.From < Id);
    }

    // True when a vote request for a higher term must be ignored: this node still hears from a leader,
    // and voting would depose it. A transfer's campaign was asked for by the leader itself.
    private bool IgnoresVoteRequest(in Message m)
    {
        if ((m.Flags & MessageFlags.Transfer) != 0)
        {
            return false;
        }

        var hearsLeader = (_leaderId != 0 || _startupLease)
            && _electionElapsed < _options.ElectionTimeoutTicks
            && !_leaderLost;
        if (!hearsLeader)
        {
            return false;
        }

        // Pre-votes always respect a live leader (Raft thesis §9.6). Real votes do so under CheckQuorum,
        // which is the promise a leader's lease rests on.
        return m.Type == MessageType.PreVote || _options.CheckQuorum;
    }

    private void HandleVoteResponse(in Message m)
    {
        switch (Poll(m.From, !m.Reject))
        {
            case VoteOutcome.Won when _role == RaftRole.PreCandidate:
                Campaign(CampaignKind.Election, _campaignFlags);
                break;
            case VoteOutcome.Won:
                BecomeLeader();
                break;
            case VoteOutcome.Lost:
                BecomeFollower(_term, 0);
                break;
        }
    }

    private VoteOutcome Poll(int voter, bool granted)
    {
        if (!_membership.IsVoter(voter))
        {
            return VoteOutcome.Pending;
        }

        var known = false;
        foreach (var (v, _) in _votes)
        {
            if (v == voter)
            {
                known = true;
                break;
            }
        }

        if (!known)
        {
            _votes.Add((voter, granted));
        }

        int yes = 0, no = 0;
        foreach (var (_, g) in _votes)
        {
            if (g)
            {
                yes++;
            }
            else
            {
                no++;
            }
        }

        var quorum = _membership.Quorum;
        if (yes >= quorum)
        {
            return VoteOutcome.Won;
        }

        return no > _membership.Voters.Length - quorum ? VoteOutcome.Lost : VoteOutcome.Pending;
    }

    private bool QuorumRecentlyActive()
    {
        var active = 0;
        foreach (var voter in _membership.Voters)
        {
            var pr = FindProgress(voter);
            if (voter == Id || (pr is not null && pr.RecentActive))
            {
                active++;
            }
        }

        return active >= _membership.Quorum;
    }
}
