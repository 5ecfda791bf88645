using Raft.Core;
using Raft.KeyValue;
using Raft.Node;

namespace Raft.Node.Tests;

/// <summary>
/// Snapshots: the driver's policy, taking one off its thread while writes go on, recovery from the stores, and a
/// leader's snapshot streamed to a follower in chunks (lost, damaged and duplicated chunks, a receiver and a sender
/// that crash halfway) and replacing its log.
/// </summary>
public sealed class SnapshotTests
{
    private const int SnapshotEvery = 5;

    // Small enough that every snapshot of these scenarios takes many chunks.
    private const int ChunkBytes = 16;

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
            var (snapshot, image) = n.LatestSnapshot()!.Value;
            Assert.True(n.Store.AppliedIndex - snapshot.Index < SnapshotEvery);

            // Compacted right up to it, but on the leader not past what a follower was still being sent.
            Assert.InRange(n.Core.FirstIndex, snapshot.Index + 2 - SnapshotEvery, snapshot.Index + 1);
            Assert.Equal(n.Core.FirstIndex, n.Log.FirstIndex);
            Assert.Equal(snapshot, n.Events.SnapshotsTaken[^1]);

            // Each is taken once SnapshotEvery entries were applied past the one before.
            var indexes = n.Events.SnapshotsTaken.Select(s => s.Index).Prepend(0UL).ToList();
            Assert.All(indexes.Zip(indexes.Skip(1)), pair => Assert.True(pair.Second - pair.First >= SnapshotEvery));

            // The image is the state machine's at that index.
            var restored = new KvStore();
            restored.InstallImage(restored.LoadImage(new MemoryStream(image)));
            Assert.Equal(snapshot.Index, restored.AppliedIndex);
        });
    }

    [Fact]
    public void Policy_ASnapshotIsAlsoTakenOnceEnoughLogBytesAreApplied()
    {
        var cluster = Cluster.WithLeader(3, leader: 1, o => o with { SnapshotEveryEntries = 1_000_000, SnapshotEveryLogBytes = 2_000, SnapshotTrailingEntries = 0 });

        for (var i = 0; i < 8; i++)
        {
            cluster[1].Put($"k{i}", new string('x', 400));
        }

        cluster.Tick(2);

        Assert.All(cluster.Nodes, n => Assert.NotEmpty(n.Events.SnapshotsTaken));
    }

    [Fact]
    public void Policy_ALargeStateWaitsForLogOfItsMinimumShareOfTheLastSnapshotsSize()
    {
        var cluster = Cluster.WithLeader(3, leader: 1, o => o with { SnapshotEveryEntries = 5, SnapshotMinLogPercent = 50, SnapshotTrailingEntries = 0 });

        // The latest snapshot holds most of ten values of 2,000 bytes.
        for (var i = 0; i < 10; i++)
        {
            cluster[1].Put($"big{i}", new string('x', 2_000));
        }

        cluster.Tick(2);
        var taken = cluster[1].Events.SnapshotsTaken.Count;
        var first = cluster[1].Events.SnapshotsTaken[^1];
        var firstBytes = cluster[1].Events.SnapshotBytes[^1];
        Assert.True(firstBytes > 14_000, $"snapshot of {firstBytes} bytes");

        // Small writes pass SnapshotEveryEntries many times over but make a log well under half of it: no snapshot.
        for (var i = 0; i < 40; i++)
        {
            cluster[1].Put($"s{i}", "v");
        }

        cluster.Tick(2);
        Assert.Equal(taken, cluster[1].Events.SnapshotsTaken.Count);

        // Once the log since it adds up to half its size, the next one is taken.
        for (var i = 0; i < 6; i++)
        {
            cluster[1].Put($"big{i}", new string('y', 2_000));
        }

        cluster.Tick(2);
        Assert.Equal(taken + 1, cluster[1].Events.SnapshotsTaken.Count);
        Assert.True(cluster[1].Events.SnapshotsTaken[^1].Index > first.Index + 40);
    }

    [Fact]
    public void Policy_TheLogKeepsSnapshotTrailingEntriesBehindTheLatestSnapshot()
    {
        var cluster = Cluster.WithLeader(3, leader: 1, o => o with { SnapshotEveryEntries = SnapshotEvery, SnapshotTrailingEntries = 3 });

        for (var i = 0; i < 20; i++)
        {
            cluster[1].Put($"k{i}", $"v{i}");
        }

        cluster.Tick(2);

        Assert.All(cluster.Nodes, n =>
        {
            var snapshot = n.Core.LatestSnapshot!;
            Assert.Equal(snapshot.Index - 3 + 1, n.Core.FirstIndex);
        });
    }

    [Fact]
    public void Taking_TheStateIsFrozenAtOneIndex_WhileWritesGoOnBeingApplied()
    {
        var cluster = SnapshottingCluster();
        var leader = cluster[1];
        leader.JobsHeld = true;
        for (var i = 0; i < SnapshotEvery + 1; i++)
        {
            cluster[1].Put($"k{i}", $"v{i}");
        }

        cluster.Tick();
        Assert.Single(leader.Jobs);
        var frozenAt = Assert.Single(leader.Events.SnapshotsStarted).Index;

        // The node goes on while the snapshot waits to be written: more writes are committed and applied.
        var later = Enumerable.Range(0, 3).Select(i => cluster[1].Put($"later{i}", "x")).ToList();
        cluster.Tick(2);
        Assert.All(later, w => Assert.Equal(WriteStatus.Applied, w.Status));
        Assert.True(leader.Store.AppliedIndex > frozenAt);
        Assert.Null(leader.LatestSnapshot());
        var expected = StateAt(leader, frozenAt);

        leader.RunJobs(max: 1);

        // What was written is the state at the index it was frozen at, not the state the store holds now.
        var (snapshot, image) = leader.LatestSnapshot()!.Value;
        Assert.Equal(frozenAt, snapshot.Index);
        Assert.Equal(expected, image);
        Assert.NotEqual(leader.Image(), image);
        Assert.Equal(leader.Core.LatestSnapshot, snapshot);
    }

    [Fact]
    public void Recovery_ARestartedNodeComesBackFromItsStores_SnapshotThenLog()
    {
        var cluster = SnapshottingCluster();
        var writes = Enumerable.Range(0, 7).Select(i => cluster[1].Put($"k{i}", $"v{i}")).ToList();
        cluster.Tick(2);
        var (snapshot, image) = cluster[3].LatestSnapshot()!.Value;
        var lastIndex = cluster[3].Core.LastIndex;
        Assert.True(snapshot.Index < lastIndex);

        cluster.Crash(3);
        cluster.Restart(3);

        // Before it hears from anyone: the state of its snapshot, and its log after it. The commit index was not
        // saved, so what lies beyond the snapshot waits until the leader tells it what is committed.
        var node = cluster[3];
        Assert.Equal(snapshot.Index, node.Store.AppliedIndex);
        Assert.Equal(image, node.Image());
        Assert.Equal((snapshot.Index + 1, lastIndex), (node.Core.FirstIndex, node.Core.LastIndex));
        for (var i = 0; i < writes.Count; i++)
        {
            var covered = writes[i].Outcome!.Value.Index <= snapshot.Index;
            Assert.Equal(covered ? $"v{i}" : null, node.Value($"k{i}"));
        }

        cluster.Tick(2);

        Assert.Equal(cluster[1].Image(), node.Image());
    }

    [Fact]
    public void Install_AFollowerBehindTheLeadersCompaction_IsStreamedTheSnapshotInChunks()
    {
        var cluster = ChunkingCluster();
        cluster.Crash(3);
        WriteUntilCompactedPast(cluster, 3);

        cluster.Restart(3);
        cluster.Tick(3);

        var installed = Assert.Single(cluster[3].Events.SnapshotsInstalled);
        var (stored, _) = cluster[3].LatestSnapshot()!.Value;
        Assert.Equal(installed, stored);
        Assert.True(cluster[3].Log.FirstIndex > installed.Index);
        Assert.Equal(cluster[1].Image(), cluster[3].Image());

        // Many chunks, none larger than the chunk size, and the core never saw the bytes.
        var chunks = cluster[1].Events.Sent.Where(m => m.Type == MessageType.SnapshotChunk && m.To == 3).ToList();
        Assert.True(chunks.Count > 10, $"{chunks.Count} chunks");
        Assert.All(chunks, c => Assert.InRange(c.Data.Length, 1, ChunkBytes));
        Assert.DoesNotContain(cluster[1].Events.Sent, m => m.Type == MessageType.InstallSnapshot);
        Assert.Empty(cluster[3].Events.SnapshotFailures);
    }

    [Fact]
    public void Install_LostAndDuplicatedChunksAndAnswers_AreResentAndIgnored_UntilTheSnapshotArrivesWhole()
    {
        var cluster = ChunkingCluster();
        cluster.Crash(3);
        WriteUntilCompactedPast(cluster, 3);

        var seen = 0;
        cluster.Drop = m => m.Type is MessageType.SnapshotChunk or MessageType.SnapshotChunkResponse && ++seen % 3 == 0;
        cluster.Restart(3);
        cluster.TickUntil(() => cluster[3].Events.SnapshotsInstalled.Count > 0, maxTicks: 500);
        cluster.Drop = null;

        var chunks = cluster[1].Events.Sent.Where(m => m.Type == MessageType.SnapshotChunk && m.To == 3).ToList();
        Assert.True(chunks.Count > chunks.Select(c => c.Offset).Distinct().Count(), "nothing was sent twice");
        cluster.Tick(3);
        Assert.Equal(cluster[1].Image(), cluster[3].Image());
    }

    [Fact]
    public void Install_ADamagedChunkIsRefusedByItsChecksum_AndSentAgain()
    {
        var cluster = ChunkingCluster();
        cluster.Crash(3);
        WriteUntilCompactedPast(cluster, 3);

        var damaged = 0;
        cluster.Drop = m =>
        {
            if (m.Type == MessageType.SnapshotChunk && m.Offset > 0 && damaged < 3 && m.Data.Length > 1)
            {
                // The chunk arrives, one byte flipped.
                var bytes = m.Data.ToArray();
                bytes[bytes.Length / 2] ^= 0x40;
                damaged++;
                var copy = m;
                copy.Data = bytes;
                cluster[m.To].Receive(copy);
                return true;
            }

            return false;
        };
        cluster.Restart(3);
        cluster.TickUntil(() => cluster[3].Events.SnapshotsInstalled.Count > 0, maxTicks: 500);
        cluster.Drop = null;

        Assert.Equal(3, damaged);
        Assert.Equal(3, cluster[3].Events.Sent.Count(m => m.Type == MessageType.SnapshotChunkResponse && m.Reject));
        cluster.Tick(3);
        Assert.Equal(cluster[1].Image(), cluster[3].Image());
    }

    [Fact]
    public void Install_AReceiverThatCrashesHalfway_StartsOverCleanly()
    {
        var cluster = ChunkingCluster();
        CrashHalfwayThroughATransfer(cluster, crashing: 3, ticks: 3);
        Assert.Empty(cluster[3].Events.SnapshotsInstalled);
        Assert.Null(cluster[3].LatestSnapshot());

        cluster.Restart(3);
        cluster.TickUntil(() => cluster[3].Events.SnapshotsInstalled.Count > 0, maxTicks: 500);
        cluster.Tick(3);

        Assert.Equal(cluster[1].Image(), cluster[3].Image());
        Assert.True(cluster[1].Events.Sent.Count(m => m.Type == MessageType.SnapshotChunk && m.To == 3 && m.Offset == 0) >= 2, "the transfer did not start over");
    }

    [Fact]
    public void Install_ATransferCutOffForAWhile_ResumesWhereTheFollowerStands()
    {
        var cluster = ChunkingCluster();
        cluster.Crash(3);
        WriteUntilCompactedPast(cluster, 3);

        var taken = 0;
        cluster.Restart(3);
        cluster.Drop = m => m.Type == MessageType.SnapshotChunk && m.To == 3 && ++taken > 8;
        cluster.Tick(2 * Cluster.Defaults(1).Raft.ElectionTimeoutTicks);
        cluster.Drop = null;
        cluster.TickUntil(() => cluster[3].Events.SnapshotsInstalled.Count > 0, maxTicks: 500);

        // Offset 0 went once: the rest went on from what the follower held.
        Assert.Equal(1, cluster[1].Events.Sent.Count(m => m.Type == MessageType.SnapshotChunk && m.To == 3 && m.Offset == 0));
        cluster.Tick(3);
        Assert.Equal(cluster[1].Image(), cluster[3].Image());
    }

    [Fact]
    public void Install_ASenderThatCrashesHalfway_IsReplacedByANewLeaderWhoseSnapshotTheFollowerTakes()
    {
        var cluster = ChunkingCluster();
        CrashHalfwayThroughATransfer(cluster, crashing: 1, ticks: 1);

        cluster[2].PeerUnreachable(1);
        cluster[3].PeerUnreachable(1);
        cluster.TickUntil(() => cluster[2].Core.Role == RaftRole.Leader || cluster[3].Core.Role == RaftRole.Leader, maxTicks: 500);
        cluster.TickUntil(() => cluster[3].Store.AppliedIndex == cluster[2].Store.AppliedIndex && cluster[3].Core.CommitIndex == cluster[2].Core.CommitIndex, maxTicks: 500);

        Assert.Equal(cluster[2].Image(), cluster[3].Image());
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

    private static Cluster SnapshottingCluster() =>
        Cluster.WithLeader(3, leader: 1, o => o with { SnapshotEveryEntries = SnapshotEvery, SnapshotTrailingEntries = 0 });

    private static Cluster ChunkingCluster() =>
        Cluster.WithLeader(3, leader: 1, o => o with { SnapshotEveryEntries = SnapshotEvery, SnapshotTrailingEntries = 0, SnapshotChunkBytes = ChunkBytes, SnapshotChunksInFlight = 3 });

    // Node 3 comes back behind the leader's compaction, and node `crashing` (3, the receiver, or 1, the sender) crashes
    // as the eighth chunk of the snapshot sent to it is on its way.
    private static void CrashHalfwayThroughATransfer(Cluster cluster, int crashing, int ticks)
    {
        cluster.Crash(3);
        WriteUntilCompactedPast(cluster, 3);

        var taken = 0;
        cluster.Restart(3);
        cluster.Drop = m =>
        {
            if (m.Type == MessageType.SnapshotChunk && m.From == 1 && m.To == 3 && ++taken == 8)
            {
                cluster.Crash(crashing);
                return true;
            }

            return false;
        };
        cluster.Tick(ticks);
        cluster.Drop = null;
        Assert.False(cluster[crashing].IsUp);
    }

    // The image of a store that applied this node's log up to index, entry by entry.
    private static byte[] StateAt(TestNode node, ulong index)
    {
        var store = new KvStore();
        using var read = node.Log.Read(1, index, long.MaxValue);
        foreach (var entry in read.Span)
        {
            if (entry.Type == EntryType.Command)
            {
                store.Apply(entry.Index, entry.Data.Span);
            }
            else
            {
                store.Skip(entry.Index);
            }
        }

        return TestNode.ImageOf(store);
    }

    // Writes (with nodes down) until the leader's log starts past what the lagging node holds. The leader first waits
    // an election timeout: a follower it heard from that recently might be catching up, and holds the log back.
    private static void WriteUntilCompactedPast(Cluster cluster, int lagging)
    {
        cluster.Tick(Cluster.Defaults(1).Raft.ElectionTimeoutTicks);
        for (var i = 0; i < 12; i++)
        {
            cluster[1].Put($"k{i}", $"value {i}");
        }

        cluster.Tick(2);
        Assert.True(cluster[1].Core.FirstIndex > cluster[lagging].Log.LastIndex + 1);
    }
}
