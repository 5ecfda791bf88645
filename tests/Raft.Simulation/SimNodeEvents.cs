using Raft.Core;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Simulation;

/// <summary>What one simulated node's driver reports, turned into checks: Raft's safety properties as they happen,
/// and an audit of what each replica's state machine did.</summary>
internal sealed class SimNodeEvents(Simulator simulator, SimNode node) : INodeEvents<KvApplyResult>
{
    public void RoleChanged(RaftRole role, int leaderId, ulong term, bool campaignStarted) =>
        simulator.OnRoleChanged(node, role, leaderId, term);

    public void EntriesAppended(ulong firstIndex, ulong lastIndex) => simulator.OnEntriesAppended(node, firstIndex, lastIndex);

    public void CommitAdvanced(ulong commitIndex) => simulator.OnCommitAdvanced(node, commitIndex);

    public void Applied(in Entry entry, in KvApplyResult result) => simulator.OnApplied(node, entry, result);

    public void PeerUnreachable(int peer) => simulator.TraceNode(node, $"peer {peer} unreachable");

    public void Failback(int preferred, bool started, string what) => simulator.OnFailback(node, preferred, started, what);

    public void SnapshotTaken(SnapshotMetadata snapshot, long bytes) => simulator.TraceNode(node, $"took snapshot ({snapshot.Index}, t{snapshot.Term}), {bytes} bytes");

    public void SnapshotInstalled(SnapshotMetadata snapshot, long bytes)
    {
        simulator.TraceNode(node, $"installed snapshot ({snapshot.Index}, t{snapshot.Term}), {bytes} bytes");
        simulator.OnSnapshotInstalledCounted();
        simulator.OnSnapshotInstalled(node);
    }

    public void SnapshotSendStarted(int peer, SnapshotMetadata snapshot, long bytes)
    {
        simulator.TraceNode(node, $"sending snapshot ({snapshot.Index}, t{snapshot.Term}), {bytes} bytes, to {peer}");
        simulator.OnSnapshotSendStarted();
    }

    public void SnapshotFailed(string what, Exception exception) => simulator.OnSnapshotFailed(node, what, exception);
}
