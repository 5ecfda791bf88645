namespace Raft.Core;

public sealed partial class RaftNode
{
    private int _leadTransferee;
    private int _transferElapsed;
    private bool _timeoutNowSent;

    /// <summary>The voter leadership is being handed to, or 0.</summary>
    public int LeadTransferee => _leadTransferee;

    /// <summary>
    /// A hand-over is under way and its target, caught up, has been told to campaign (TimeoutNow sent): from now on
    /// this leader proposes nothing more unless the hand-over is given up, and the target will most likely lead within
    /// a few message hops, so a host may send it the writes it would otherwise hold.
    /// </summary>
    public bool TransfereeToldToCampaign => _leadTransferee != 0 && _timeoutNowSent;

    /// <summary>
    /// On the leader: whether voter <paramref name="peer"/> is replicating, has every committed entry, and acknowledged a
    /// heartbeat sent within the last election timeout, so that leadership handed to it now would move promptly.
    /// </summary>
    public bool IsCaughtUpAndResponsive(int peer)
    {
        var pr = _role == RaftRole.Leader && peer != Id ? FindProgress(peer) : null;
        var heartbeatsPerTimeout = (ulong)Math.Max(1, _options.ElectionTimeoutTicks / Math.Max(1, _options.HeartbeatIntervalTicks));
        return pr is { IsLearner: false, State: ReplicationState.Replicate }
            && pr.Match >= _log.Committed
            && pr.AckedHeartbeat + heartbeatsPerTimeout >= _heartbeatSeq;
    }

    /// <summary>
    /// Hands leadership to <paramref name="to"/> (Raft thesis §3.10): bring it up to date, then tell it to
    /// campaign at once. Proposals are refused meanwhile; the transfer is abandoned after an election timeout.
    /// </summary>
    public TransferResult TransferLeadership(int to)
    {
        AssertNoReadyOutstanding();
        if (_role != RaftRole.Leader)
        {
            return TransferResult.NotLeader;
        }

        if (to == Id)
        {
            return TransferResult.AlreadyLeader;
        }

        var pr = FindProgress(to);
        if (pr is null)
        {
            return TransferResult.UnknownTarget;
        }

        if (!_membership.IsVoter(to))
        {
            return TransferResult.TargetNotVoter;
        }

        if (_leadTransferee == to)
        {
            return TransferResult.AlreadyInProgress;
        }

        _leadTransferee = to;
        _transferElapsed = 0;
        _timeoutNowSent = false;
        if (pr.Match == _log.LastIndex)
        {
            SendTimeoutNow(to);
        }
        else
        {
            _replicationPending = true;
        }

        return TransferResult.Started;
    }

    private void SendTimeoutNow(int to)
    {
        // The target's voters will set their lease promises aside for it, so this leader's lease is void.
        _leaseBrokenThisTerm = true;
        _timeoutNowSent = true;
        Send(new Message { Type = MessageType.TimeoutNow, To = to });
    }

    private void AbortLeaderTransfer()
    {
        _leadTransferee = 0;
        _transferElapsed = 0;
        _timeoutNowSent = false;
    }
}
