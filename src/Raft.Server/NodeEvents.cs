using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Server;

/// <summary>What the node driver reports, turned into metrics, log lines, the write spans and (at Trace level) the write trace.</summary>
internal sealed class NodeEvents(int nodeId, NodeMetrics metrics, ILogger logger, WriteTrace? trace, TimeProvider time) : INodeEvents<KvApplyResult>
{
    private readonly bool _debug = logger.IsEnabled(LogLevel.Debug);
    private int _lastLeader;
    private long _snapshotStarted;

    /// <summary>When this node last saw a leader appear; null while none is known.</summary>
    public DateTimeOffset? LeaderSince { get; private set; }

    public RaftNode? Core { get; set; }

    /// <summary>The leader changes, elections and peer contact operators see (<c>GET /v1/cluster/events</c>).</summary>
    public NodeHistory History { get; } = new(nodeId, time);

    /// <summary>The steps of the writes this leader traces (<see cref="NodeTracing"/>).</summary>
    public WriteSpans Spans { get; } = new();

    public void MessageSent(in Message message)
    {
        History.Sent(message);
        TraceElection("sent", message);
        trace?.Sent(message);
    }

    public void MessageReceived(in Message message)
    {
        History.Received(message);
        TraceElection("received", message);
        trace?.Received(message);
    }

    public void MessageRefused(in Message message, RaftProtocolException exception) =>
        NodeLog.MessageDropped(logger, exception, nodeId, message.From);

    public void PeerUnreachable(int peer)
    {
        if (_debug && Core is { } core)
        {
            NodeLog.PeerUnreachable(logger, nodeId, core.Term, core.Role, peer);
        }
    }

    public void RoleChanged(RaftRole role, int leaderId, ulong term, bool campaignStarted)
    {
        History.RoleChanged(role, leaderId, term, campaignStarted, Core?.Membership.IsVoter(nodeId) ?? true);
        if (campaignStarted)
        {
            metrics.ElectionStarted();
        }

        if (leaderId != _lastLeader)
        {
            if (leaderId != 0)
            {
                metrics.LeaderChanged();
                LeaderSince = time.GetUtcNow();
            }
            else
            {
                LeaderSince = null;
            }

            NodeLog.LeaderChanged(logger, nodeId, leaderId, term, role);
            _lastLeader = leaderId;
        }
    }

    public void Proposed(WriteRequest<KvApplyResult> request, ulong index, ulong term)
    {
        if (request is ProposalRequest { Span: { } span })
        {
            Spans.Proposed(span, index, term);
        }

        trace?.Proposed(index);
    }

    public void EntriesAppended(ulong firstIndex, ulong lastIndex)
    {
        Spans.Appended(firstIndex, lastIndex);
        trace?.Appended(firstIndex, lastIndex);
    }

    public void Persisted(ulong lastIndex)
    {
        Spans.Persisted(lastIndex);
        trace?.Persisted(lastIndex);
    }

    public void MembershipProposed(MembershipChange change, ulong index, Membership membership) => NodeLog.MembershipProposed(logger, nodeId, index, change, membership);

    public void Failback(int preferred, bool started, string what) => NodeLog.Failback(logger, nodeId, preferred, what);

    public void CommitAdvanced(ulong commitIndex)
    {
        Spans.Committed(commitIndex);
        trace?.Committed(commitIndex);
    }

    public void Applied(in Entry entry, in KvApplyResult result)
    {
        Spans.Applied(entry.Index);
        trace?.Applied(entry.Index);
    }

    public void SnapshotStarted(SnapshotMetadata snapshot) => _snapshotStarted = time.GetTimestamp();

    public void SnapshotTaken(SnapshotMetadata snapshot, long bytes)
    {
        var elapsed = time.GetElapsedTime(_snapshotStarted);
        metrics.SnapshotTaken(elapsed, bytes);
        NodeLog.SnapshotTaken(logger, nodeId, snapshot.Index, snapshot.Term, bytes, (long)elapsed.TotalMilliseconds);
    }

    public void SnapshotInstalled(SnapshotMetadata snapshot, long bytes)
    {
        metrics.SnapshotInstalled(bytes);
        NodeLog.SnapshotInstalled(logger, nodeId, snapshot.Index, snapshot.Term, bytes);
    }

    public void SnapshotSendStarted(int peer, SnapshotMetadata snapshot, long bytes)
    {
        metrics.SnapshotSendStarted(bytes);
        NodeLog.SnapshotSendStarted(logger, nodeId, snapshot.Index, snapshot.Term, bytes, peer);
    }

    public void DiskFull(bool full, Storage.DiskFullException? exception)
    {
        metrics.DiskFull = full;
        if (full)
        {
            metrics.DiskFullStarted();
            NodeLog.DiskFull(logger, nodeId, exception?.Message ?? "no space left on the device");
        }
        else
        {
            NodeLog.DiskSpaceReturned(logger, nodeId);
        }
    }

    public void SnapshotFailed(string what, Exception exception)
    {
        metrics.SnapshotFailed();
        NodeLog.SnapshotFailed(logger, exception, nodeId, what);
    }

    // Debug level: every vote request and answer, and TimeoutNow, to show how an election went.
    private void TraceElection(string direction, in Message m)
    {
        if (_debug && m.Type is MessageType.PreVote or MessageType.PreVoteResponse or MessageType.Vote or MessageType.VoteResponse or MessageType.TimeoutNow && Core is { } core)
        {
            NodeLog.ElectionMessage(logger, nodeId, core.Term, core.Role, direction, m);
        }
    }
}
