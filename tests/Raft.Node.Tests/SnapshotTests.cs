using Raft.Core;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>Snapshots: the driver's policy, recovery from the stores, and a leader's snapshot replacing a follower's log.</summary>
public sealed class SnapshotTests
{
    private const int SnapshotEvery = 5;

    [Fact]
    public void Policy_ASnapshotIsTakenEverySnapshotEveryEntries_AndTheLogCompactedBehindIt()
    {
        var cluster = SnapshottingCluster();

        for (var i = 0; i < 12; i++)
        {
            cluster[1].Put($"k{i}", $"v{i}");
        }

        cluster.Tick(2);

        Assert.All(cluster.Nodes, n =>
        {
            Assert.True(n.Snapshots.TryLoadLatest(out var snapshot));
            Assert.True(n.Store.AppliedIndex - snapshot.Index < SnapshotEvery);
            Assert.Equal(snapshot.Index + 1, n.Log.FirstIndex);
            Assert.Equal(snapshot.Index + 1, n.Core.FirstIndex);
            Assert.Equal(snapshot, n.Events.SnapshotsTaken[^1]);

            // Each is taken once SnapshotEvery entries were applied past the one before.
            var indexes = n.Events.SnapshotsTaken.Select(s => s.Index).Prepend(0UL).ToList();
            Assert.All(indexes.Zip(indexes.Skip(1)), pair => Assert.True(pair.Second - pair.First >= SnapshotEvery));

            // The image is the state machine's at that index.
            var restored = new KvStore();
            restored.RestoreSnapshot(snapshot.Data.Span);
            Assert.Equal(snapshot.Index, restored.AppliedIndex);
        });
    }

    [Fact]
    public void Recovery_ARestartedNodeComesBackFromItsStores_SnapshotThenLog()
    {
        var cluster = SnapshottingCluster();
        var writes = Enumerable.Range(0, 7).Select(i => cluster[1].Put($"k{i}", $"v{i}")).ToList();
        cluster.Tick(2);
        Assert.True(cluster[3].Snapshots.TryLoadLatest(out var snapshot));
        var lastIndex = cluster[3].Core.LastIndex;
        Assert.True(snapshot.Index < lastIndex);

        cluster.Crash(3);
        cluster.Restart(3);

        // Before it hears from anyone: the state of its snapshot, and its log after it. The commit index was not
        // saved, so what lies beyond the snapshot waits until the leader tells it what is committed.
        var node = cluster[3];
        Assert.Equal(snapshot.Index, node.Store.AppliedIndex);
        Assert.Equal(snapshot.Data.ToArray(), node.Store.CreateSnapshot());
        Assert.Equal((snapshot.Index + 1, lastIndex), (node.Core.FirstIndex, node.Core.LastIndex));
        for (var i = 0; i < writes.Count; i++)
        {
            var covered = writes[i].Outcome!.Value.Index <= snapshot.Index;
            Assert.Equal(covered ? $"v{i}" : null, node.Value($"k{i}"));
        }

        cluster.Tick(2);

        Assert.Equal(cluster[1].Store.CreateSnapshot(), node.Store.CreateSnapshot());
    }

    [Fact]
    public void Install_AFollowerBehindTheLeadersCompaction_IsSentTheSnapshot()
    {
        var cluster = SnapshottingCluster();
        cluster.Crash(3);
        for (var i = 0; i < 12; i++)
        {
            cluster[1].Put($"k{i}", $"v{i}");
        }

        cluster.Tick(2);
        Assert.True(cluster[1].Core.FirstIndex > cluster[3].Log.LastIndex + 1);

        cluster.Restart(3);
        cluster.Tick(3);

        var installed = Assert.Single(cluster[3].Events.SnapshotsInstalled);
        Assert.True(cluster[3].Snapshots.TryLoadLatest(out var stored));
        Assert.Equal(installed.Index, stored.Index);
        Assert.True(cluster[3].Log.FirstIndex > installed.Index);
        Assert.Equal(cluster[1].Store.CreateSnapshot(), cluster[3].Store.CreateSnapshot());
    }

    [Fact]
    public void Install_ADeposedLeadersWritesCoveredByTheSnapshot_AreAnsweredLeadershipLost()
    {
        var cluster = SnapshottingCluster();
        cluster.Isolate(1);
        var write = cluster[1].Put("x", "1");

        // Node 2 leads the next term and compacts its log past the index node 1's write took.
        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.Settle();
        for (var i = 0; i < 2 * SnapshotEvery; i++)
        {
            cluster[2].Put($"k{i}", "v");
        }

        cluster.Settle();
        Assert.True(cluster[2].Core.FirstIndex > cluster[1].Core.LastIndex);

        cluster.Heal();
        cluster.Tick(3);

        Assert.Single(cluster[1].Events.SnapshotsInstalled);
        Assert.Equal(WriteStatus.LeadershipLost, write.Status);
        Assert.Null(cluster[1].Value("x"));
    }

    private static Cluster SnapshottingCluster() => Cluster.WithLeader(3, leader: 1, o => o with { SnapshotEveryEntries = SnapshotEvery });
}
