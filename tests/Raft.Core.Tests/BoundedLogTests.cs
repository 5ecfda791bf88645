using System.Text;
using Raft.Core;

namespace Raft.Core.Tests;

/// <summary>
/// The log in memory is bounded: entries that are durable and applied leave memory once it holds more than
/// <see cref="RaftOptions.MaxLogMemoryBytes"/>, and are read back from the log storage when a follower, a replay or a
/// term lookup needs them. Nothing that is not durable, committed and applied ever leaves.
/// </summary>
public sealed class BoundedLogTests
{
    private const long Budget = 1_000;

    private static RaftOptions Options(int id) => new() { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1, MaxLogMemoryBytes = Budget };

    [Fact]
    public void DurableAppliedEntries_BeyondTheBudget_LeaveMemory_AndAreReadBack()
    {
        var storage = new ListStorage();
        var node = RaftNode.Bootstrap(Options(1), new SeededRandom(1), Membership.Create([1]), storage);
        for (var i = 0; i < 50 && node.Role != RaftRole.Leader; i++)
        {
            node.Tick();
            RunReadies(node, storage);
        }

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(ProposeResult.Accepted, node.Propose(Payload(i), out _));
            RunReadies(node, storage);
        }

        Assert.True(node.MemoryLogBytes <= Budget, $"memory holds {node.MemoryLogBytes} bytes");
        Assert.True(node.MemoryFirstIndex > 60, $"memory starts at {node.MemoryFirstIndex}");
        for (ulong index = 1; index <= node.LastIndex; index++)
        {
            var expected = storage.Entries[(int)index - 1];
            var actual = node.EntryAt(index);
            Assert.Equal(expected.Term, actual.Term);
            Assert.Equal(expected.Term, node.TermAt(index));
            Assert.True(expected.Data.Span.SequenceEqual(actual.Data.Span));
        }
    }

    [Fact]
    public void UncommittedEntries_StayInMemory_WhateverTheBudget()
    {
        var cluster = new TestCluster(3, Options);
        var leader = cluster.ElectLeader();
        cluster.Isolate(leader);
        var committed = cluster[leader].CommitIndex;
        for (var i = 0; i < 50; i++)
        {
            cluster.Propose(leader, Text(i));
        }

        cluster.Tick(3);

        var node = cluster[leader];
        Assert.Equal(committed, node.CommitIndex);
        Assert.True(node.MemoryFirstIndex <= committed + 1, $"memory starts at {node.MemoryFirstIndex}, past the commit index {committed}");
        Assert.True(node.MemoryLogBytes > Budget);
    }

    [Fact]
    public void FollowerThatFellBehind_CatchesUpFromEntriesReadBack_WithoutASnapshot()
    {
        var cluster = new TestCluster(3, Options);
        var leader = cluster.ElectLeader();
        var lagging = cluster.Nodes.Keys.First(id => id != leader);
        cluster.Crash(lagging);
        for (var i = 0; i < 100; i++)
        {
            cluster.Propose(leader, Text(i));
            cluster.Tick();
        }

        Assert.True(cluster[leader].MemoryLogBytes <= Budget, $"the leader holds {cluster[leader].MemoryLogBytes} bytes");
        cluster.Restart(lagging);
        cluster.Tick(30);

        Assert.Null(cluster[leader].LatestSnapshot);
        Assert.Equal(Enumerable.Range(0, 100).Select(Text), cluster.AppliedCommands(lagging));
        Assert.Equal(cluster[leader].CommitIndex, cluster[lagging].AppliedIndex);
    }

    [Fact]
    public void Restart_LoadsNoEntryIntoMemory_AndReplaysTheLogFromStorage()
    {
        var cluster = new TestCluster(3, Options);
        var leader = cluster.ElectLeader();
        for (var i = 0; i < 100; i++)
        {
            cluster.Propose(leader, Text(i));
        }

        cluster.Tick(3);
        var follower = cluster.Nodes.Keys.First(id => id != leader);
        cluster.Crash(follower);
        cluster.Restart(follower);

        Assert.Equal(0, cluster[follower].MemoryLogBytes);
        Assert.Equal(cluster[leader].LastIndex, cluster[follower].LastIndex);
        cluster.Tick(5);
        Assert.Equal(Enumerable.Range(0, 100).Select(Text), cluster.AppliedCommands(follower));
        Assert.True(cluster[follower].MemoryLogBytes <= Budget, $"the restarted follower holds {cluster[follower].MemoryLogBytes} bytes");
    }

    private static string Text(int i) => $"value {i} " + new string('x', 100);

    private static byte[] Payload(int i) => Encoding.UTF8.GetBytes(Text(i));

    // A host loop in miniature for one node: what a ready batch appends is durable at once, and committed entries apply.
    private static void RunReadies(RaftNode node, ListStorage storage)
    {
        while (node.HasReady)
        {
            var ready = node.GetReady();
            foreach (var e in ready.Entries.Span)
            {
                storage.Append(e);
            }

            node.Advance();
        }
    }

    private sealed class ListStorage : IEntryStorage
    {
        public List<Entry> Entries { get; } = [];

        public void Append(in Entry entry)
        {
            if (entry.Index <= (ulong)Entries.Count)
            {
                Entries.RemoveRange((int)entry.Index - 1, Entries.Count - (int)entry.Index + 1);
            }

            Entries.Add(entry);
        }

        public bool TryGetTerm(ulong index, out ulong term)
        {
            term = index >= 1 && index <= (ulong)Entries.Count ? Entries[(int)index - 1].Term : 0;
            return term != 0;
        }

        public void ReadEntries(ulong firstIndex, ulong lastIndex, long maxBytes, List<Entry> into)
        {
            long bytes = 0;
            for (var index = firstIndex; index <= lastIndex; index++)
            {
                var e = Entries[(int)index - 1];
                bytes += e.SizeBytes;
                if (index > firstIndex && bytes > maxBytes)
                {
                    return;
                }

                into.Add(e);
            }
        }
    }
}
