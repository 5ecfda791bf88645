using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Tests;

public sealed class PrometheusTextTests
{
    [Fact]
    public void Samples_AreGivenByName_AndLabelledOnesByNameAndLabels()
    {
        var samples = PrometheusText.Parse(
            "# HELP raft_term The current term.\n# TYPE raft_term gauge\nraft_term 7\n" +
            "raft_snapshot_duration_seconds_bucket{le=\"0.5\"} 3\nraft_snapshot_duration_seconds_sum 1.25\n" +
            "raft_snapshot_duration_seconds_count 4 1700000000000\nbroken\nhttp_requests_total{route=\"a b\",status=\"200\"} 9\nhalf{le=\"1\" 2\n");
        Assert.Equal(7, samples["raft_term"]);
        Assert.Equal(1.25, samples["raft_snapshot_duration_seconds_sum"]);
        Assert.Equal(4, samples["raft_snapshot_duration_seconds_count"]);
        Assert.Equal(3, samples["raft_snapshot_duration_seconds_bucket{le=\"0.5\"}"]);
        Assert.Equal(9, samples["http_requests_total{route=\"a b\",status=\"200\"}"]);
        Assert.Equal(5, samples.Count);
    }
}
