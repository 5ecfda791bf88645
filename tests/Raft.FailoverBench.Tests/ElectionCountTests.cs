using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Tests;

public sealed class ElectionCountTests
{
    [Fact]
    public void OurMetrics_GiveTheTermAndTheLeaderChanges()
    {
        var count = ElectionCount.FromOurMetrics(
            "# TYPE raft_term gauge\nraft_term 4\n# TYPE raft_leader_changes_total counter\nraft_leader_changes_total 3\n" +
            "# TYPE raft_elections_total counter\nraft_elections_total 1\n");
        Assert.Equal(new ElectionCount(4, 3), count);

        Assert.Null(ElectionCount.FromOurMetrics("raft_term 4\n"));
    }

    [Fact]
    public void EtcdMetrics_GiveItsLeaderChangesSeen()
    {
        const string Text =
            "# HELP etcd_server_leader_changes_seen_total The number of leader changes seen.\n" +
            "# TYPE etcd_server_leader_changes_seen_total counter\netcd_server_leader_changes_seen_total 2\netcd_server_has_leader 1\n";
        Assert.Equal(2, ElectionCount.Counter(Text, ElectionCount.EtcdLeaderChanges));
        Assert.Null(ElectionCount.Counter("etcd_server_has_leader 1\n", ElectionCount.EtcdLeaderChanges));
    }

    [Fact]
    public void Between_IsTheRiseOfTheHighestTerm_AndTheMostChangesOneNodeSaw()
    {
        ElectionCount?[] before = [new(5, 1), new(5, 1), new(4, 2)];
        ElectionCount?[] quiet = [new(5, 1), new(5, 1), new(5, 3)];
        ElectionCount?[] elected = [new(7, 3), new(7, 2), new(6, 3)];

        Assert.Equal((0L, 1L), ElectionCount.Between(before, quiet));
        Assert.Equal((2L, 2L), ElectionCount.Between(before, elected));
    }

    [Fact]
    public void Between_IsUnknown_WhenANodeDidNotAnswerOrRestarted()
    {
        ElectionCount?[] before = [new(5, 1), new(5, 1), new(5, 1)];
        Assert.Null(ElectionCount.Between(before, [new(5, 1), null, new(5, 1)]));
        Assert.Null(ElectionCount.Between(before, [new(5, 1), new(5, 0), new(5, 1)]));
        Assert.Null(ElectionCount.Between([], []));
    }
}
