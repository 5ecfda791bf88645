using Raft.FailoverBench.Harness;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Tests;

public sealed class VerificationTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static async Task<IReadOnlyList<WriteRecord>> WriteAsync(FakeTarget target, int count)
    {
        var writes = new List<WriteRecord>();
        for (var i = 1; i <= count; i++)
        {
            var key = $"fb/test/1/0/{i}";
            var outcome = await target.PutAsync(1, key, key + "#v", Patience, CancellationToken.None);
            writes.Add(new WriteRecord(0, i, key, key + "#v", 1, i, i, outcome.Error, outcome.Index));
        }

        return writes;
    }

    [Fact]
    public async Task EveryWriteThere_ExactlyOnce_IsNoViolation()
    {
        var target = new FakeTarget();
        var writes = await WriteAsync(target, 20);
        Assert.Empty(await Verifier.VerifyAsync(target, writes, Patience, CancellationToken.None));
    }

    [Fact]
    public async Task AnAcknowledgedWriteThatIsMissing_IsAViolation()
    {
        var target = new FakeTarget { LoseWriteNumber = 7 };
        var writes = await WriteAsync(target, 20);
        var violation = Assert.Single(await Verifier.VerifyAsync(target, writes, Patience, CancellationToken.None));
        Assert.Contains("lost acknowledged write", violation, StringComparison.Ordinal);
        Assert.Contains("fb/test/1/0/7", violation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AWriteAppliedTwice_IsAViolation()
    {
        var target = new FakeTarget { ApplyTwice = true };
        var writes = await WriteAsync(target, 3);
        var violations = await Verifier.VerifyAsync(target, writes, Patience, CancellationToken.None);
        Assert.Equal(3, violations.Count);
        Assert.All(violations, v => Assert.Contains("expected version 1 (written once), saw version 2", v, StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheScaleReadBack_FindsTheOneAcknowledgedKeyThatIsMissing()
    {
        var target = new FakeTarget { LoseWriteNumber = 3 };
        var expected = new List<KeyExpectation>();
        for (var i = 1; i <= 6; i++)
        {
            var key = $"scale/test/fill/{i}";
            var outcome = await target.PutAsync(1, key, ScaleValues.Value(key, 0, 64), Patience, CancellationToken.None);
            expected.Add(new KeyExpectation(key, [0], outcome.Index));
        }

        var problems = await Verifier.ReadBackAsync<KeyExpectation>(target, expected, e => e.Key, (e, read) => e.Check(read, 64), Patience, 2, 2, CancellationToken.None);
        Assert.Equal("lost acknowledged write: key scale/test/fill/3 is missing", Assert.Single(problems));
    }

    [Fact]
    public void AWriteAppliedTwice_WithoutAWriteCount_IsCaughtByItsIndexes()
    {
        var write = new WriteRecord(0, 1, "k", "v", 1, 0, 1, null, 5);
        Assert.Null(Verifier.Check(write, new ReadOutcome(null, true, "v", 9, 5, 5, null, 0)));
        Assert.Contains("created at 5 and last written at 8", Verifier.Check(write, new ReadOutcome(null, true, "v", 9, 8, 5, null, 0)), StringComparison.Ordinal);
        Assert.Contains("acknowledged at index 5, saw it written at 6", Verifier.Check(write, new ReadOutcome(null, true, "v", 9, 6, 6, null, 0)), StringComparison.Ordinal);
        Assert.Contains("expected value 'v', saw 'w'", Verifier.Check(write, new ReadOutcome(null, true, "w", 9, 5, 5, null, 0)), StringComparison.Ordinal);
    }

    [Fact]
    public void AReadThatMissesAnAcknowledgedWrite_OrGoesBackInIndex_IsAViolation()
    {
        var write = new WriteRecord(0, 1, "k", "v", 1, 0, 1, null, 5);
        Assert.Null(Workload.CheckRead(write, new ReadOutcome(null, true, "v", 7, 5, 5, null, 0), 7));
        Assert.StartsWith("stale read", Workload.CheckRead(write, ReadOutcome.NotFound(7), 0), StringComparison.Ordinal);
        Assert.StartsWith("stale read", Workload.CheckRead(write, new ReadOutcome(null, true, "old", 7, 5, 5, null, 0), 0), StringComparison.Ordinal);
        Assert.StartsWith("read index went backwards", Workload.CheckRead(write, new ReadOutcome(null, true, "v", 6, 5, 5, null, 0), 7), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheReader_ReportsAStaleRead_FromAStoreThatServesOldState()
    {
        var workload = new Workload(new FakeTarget { StaleReads = true }, 1, Patience, "fb/test/1", 1);
        workload.Start();
        try
        {
            await workload.FirstViolation.WaitAsync(Patience);
        }
        finally
        {
            await workload.StopAsync().WaitAsync(Patience);
        }

        Assert.Contains(workload.Violations(), v => v.StartsWith("stale read", StringComparison.Ordinal));
        Assert.Contains(workload.Writes(), w => w.Ok);
    }
}
