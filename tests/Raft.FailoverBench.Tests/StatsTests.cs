using Raft.FailoverBench.Report;

namespace Raft.FailoverBench.Tests;

public sealed class StatsTests
{
    [Theory]
    [InlineData(50, 5)]
    [InlineData(90, 9)]
    [InlineData(99, 10)]
    [InlineData(100, 10)]
    [InlineData(10, 1)]
    [InlineData(0, 1)]
    public void Percentile_IsTheNearestRank(double percent, double expected)
    {
        double[] sample = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        Assert.Equal(expected, Stats.Percentile(sample, percent));
    }

    [Fact]
    public void Percentile_AgreesWithANaiveDefinition_OnSeededSamples()
    {
        var random = new Random(1234);
        for (var round = 0; round < 200; round++)
        {
            var sample = Enumerable.Range(0, random.Next(1, 60)).Select(_ => Math.Round(random.NextDouble() * 1000, 1)).Order().ToArray();
            foreach (var p in new[] { 50.0, 90.0, 99.0 })
            {
                // The smallest value with at least p percent of the sample at or below it.
                var naive = sample.First(v => sample.Count(x => x <= v) * 100.0 >= p * sample.Length);
                Assert.Equal(naive, Stats.Percentile(sample, p));
            }
        }
    }

    [Fact]
    public void Summary_OfNothing_IsNull_AndOfOneValue_IsThatValue()
    {
        Assert.Null(Summary.Of([]));
        Assert.Equal(new Summary(1, 7, 7, 7, 7, 7), Summary.Of([7]));
        Assert.Equal(new Summary(4, 1, 2, 40, 40, 40), Summary.Of([40, 2, 1, 3]));
    }

    [Fact]
    public void Percentile_OfAnEmptySample_Throws() =>
        Assert.Throws<ArgumentException>(() => Stats.Percentile([], 50));

    [Fact]
    public void Ratio_IsEtcdOverOurs_AndADashWithoutADenominator()
    {
        Assert.Equal("4.00", Tables.Ratio(100, 25));
        Assert.Equal("–", Tables.Ratio(100, 0));
        Assert.Equal("–", Tables.Ratio(null, 3));
    }
}
