namespace Raft.Core;

public sealed partial class RaftNode
{
    // Membership entries after the snapshot, in log order; the last one is in force (thesis §4.1:
    // a server uses the latest configuration in its log, committed or not).
    private readonly List<(ulong Index, Membership Membership)> _membershipLog = [];
    private Membership _snapshotMembership;
    private Membership _membership;
    private ulong _pendingMembershipIndex;

    /// <summary>The log index of the membership in force: its entry's, or the snapshot's that carries it (0: the bootstrap one).</summary>
    public ulong MembershipIndex => _membershipLog.Count > 0 ? _membershipLog[^1].Index : _latestSnapshot?.Index ?? 0;

    /// <summary>
    /// Proposes one single-server change. It is in force as soon as it is appended; the next may be
    /// proposed once it commits. <paramref name="error"/> says why a change is invalid.
    /// </summary>
    public ProposeResult ProposeMembershipChange(MembershipChange change, out ulong index, out string? error)
    {
        AssertNoReadyOutstanding();
        index = 0;
        error = null;
        if (_role != RaftRole.Leader)
        {
            return ProposeResult.NotLeader;
        }

        if (_leadTransferee != 0)
        {
            return ProposeResult.TransferInProgress;
        }

        // One change at a time, and only after this leader has committed in its term: otherwise a change
        // from a previous leader that this one never saw could combine with it into a double change.
        if (_pendingMembershipIndex > _log.Committed || !CommittedInCurrentTerm)
        {
            error = "an earlier membership change is not committed yet";
            return ProposeResult.MembershipChangePending;
        }

        if (!_membership.TryApply(change, out var next, out error))
        {
            return ProposeResult.InvalidMembershipChange;
        }

        index = AppendEntry(EntryType.Membership, next.ToBytes());
        _pendingMembershipIndex = index;
        ApplyMembershipEntry(_log.At(index));
        return ProposeResult.Accepted;
    }

    // A restarted node's membership is the latest one in its log: read the membership entries after the snapshot back.
    private void RecoverMembership(IEntryStorage? storage, ulong snapshotIndex, ulong lastIndex)
    {
        if (storage is null || lastIndex <= snapshotIndex)
        {
            return;
        }

        var read = new List<Entry>();
        var next = snapshotIndex + 1;
        while (next <= lastIndex)
        {
            read.Clear();
            storage.ReadEntries(next, lastIndex, _options.MaxCommittedBytesPerReady, read);
            if (read.Count == 0)
            {
                throw new InvalidOperationException($"the log storage returned nothing for [{next}, {lastIndex}]");
            }

            foreach (var e in read)
            {
                if (e.Type == EntryType.Membership)
                {
                    _membershipLog.Add((e.Index, DecodeMembership(e)));
                    _membership = _membershipLog[^1].Membership;
                }
            }

            next += (ulong)read.Count;
        }
    }

    private void ApplyMembershipEntry(in Entry entry)
    {
        _membershipLog.Add((entry.Index, DecodeMembership(entry)));
        SetMembership(_membershipLog[^1].Membership);
    }

    // Entries after index were dropped: fall back to the membership that was in force at index.
    private void TruncateMembership(ulong index)
    {
        var removed = _membershipLog.RemoveAll(m => m.Index > index);
        if (removed > 0)
        {
            SetMembership(_membershipLog.Count > 0 ? _membershipLog[^1].Membership : _snapshotMembership);
        }
    }

    private Membership MembershipAt(ulong index)
    {
        var result = _snapshotMembership;
        foreach (var (i, m) in _membershipLog)
        {
            if (i <= index)
            {
                result = m;
            }
        }

        return result;
    }

    private void SetMembership(Membership membership)
    {
        _membership = membership;
        if (_role != RaftRole.Leader)
        {
            return;
        }

        RebuildProgress();
        if (_leadTransferee != 0 && !_membership.IsVoter(_leadTransferee))
        {
            AbortLeaderTransfer();
        }

        // A smaller quorum may already hold more; a new member needs entries.
        MaybeCommit();
        ReleaseConfirmedReads();
        _replicationPending = true;
    }

    // Keeps one progress per member, preserving what is known about members that stay.
    private void RebuildProgress()
    {
        _progress.RemoveAll(pr => !_membership.Contains(pr.Id) && pr.Id != Id);
        foreach (var id in _membership.Voters)
        {
            EnsureProgress(id, isLearner: false);
        }

        foreach (var id in _membership.Learners)
        {
            EnsureProgress(id, isLearner: true);
        }

        EnsureProgress(Id, isLearner: !_membership.IsVoter(Id));
    }

    private void EnsureProgress(int id, bool isLearner)
    {
        var pr = FindProgress(id);
        if (pr is null)
        {
            pr = new Progress(id, _options.MaxInflightAppends, _options.MaxInflightBytes, isLearner);
            pr.Reset(_log.LastIndex + 1);
            if (id == Id)
            {
                pr.Match = _log.Stable;
                pr.BecomeReplicate();
            }

            _progress.Add(pr);
        }

        pr.IsLearner = isLearner;
    }

    private static Membership DecodeMembership(in Entry entry)
    {
        if (!Membership.TryDecode(entry.Data.Span, out var membership, out _))
        {
            ThrowProtocol($"membership entry {entry.Index} is malformed");
        }

        return membership;
    }
}
