using System.Diagnostics;
using Raft.Simulation.Checking;
using Xunit.Abstractions;

namespace Raft.Simulation.CheckingTests;

/// <summary>
/// The checker against the real store: histories the store produced, blurred into concurrent ones with lost
/// answers, are all accepted; the same histories with one read made stale are all rejected, naming that read.
/// </summary>
public sealed class RegisterPropertyTests(ITestOutputHelper output)
{
    public static TheoryData<ulong, int, int, int> Shapes => new()
    {
        // seed, keys, clients, operations
        { 1, 1, 1, 300 },
        { 2, 1, 3, 600 },
        { 3, 2, 5, 1_000 },
        { 4, 3, 8, 2_000 },
        { 5, 4, 8, 3_000 },
        { 6, 1, 8, 2_000 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Blurred_store_histories_are_accepted_and_one_stale_read_is_rejected(ulong seed, int keys, int clients, int operations)
    {
        var history = StoreHistories.Generate(seed, new HistoryShape(keys, clients, operations, Widen: 12, LostRate: 0.06));

        var stopwatch = Stopwatch.StartNew();
        var result = RegisterChecker.Check(history);
        var elapsed = stopwatch.Elapsed;

        output.WriteLine($"seed {seed}: {history.Count} operations ({history.Count(o => o.Outcome == RegisterOutcome.Unknown)} lost) on {keys} key(s), {result.Steps} steps, {elapsed.TotalMilliseconds:F1} ms");
        Assert.True(result.Verdict == CheckVerdict.Pass, result.ToString());

        var (corrupted, read) = WithOneStaleRead(history, seed);
        var rejected = RegisterChecker.Check(corrupted);

        output.WriteLine(rejected.Explanation);
        Assert.Equal(CheckVerdict.Violation, rejected.Verdict);
        Assert.Contains($"ends with the answer of #{read} ", rejected.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Throughput_on_the_largest_histories()
    {
        // One key with 2 000 operations from 8 clients, and 4 keys with 8 000 in all; half of the answers of a
        // tenth of them lost.
        (ulong Seed, HistoryShape Shape)[] shapes = [(11, new HistoryShape(1, 8, 2_000, 12, 0.1)), (12, new HistoryShape(4, 8, 8_000, 20, 0.1))];
        foreach (var (seed, shape) in shapes)
        {
            var history = StoreHistories.Generate(seed, shape);
            RegisterChecker.Check(history);
            var stopwatch = Stopwatch.StartNew();
            const int Rounds = 5;
            RegisterCheckResult? result = null;
            for (var i = 0; i < Rounds; i++)
            {
                result = RegisterChecker.Check(history);
            }

            var seconds = stopwatch.Elapsed.TotalSeconds / Rounds;
            var lostWrites = history.Count(o => o.IsWrite && o.Outcome == RegisterOutcome.Unknown);
            output.WriteLine($"{history.Count} operations on {shape.Keys} key(s), {lostWrites} lost writes: {seconds * 1000:F1} ms, {history.Count / seconds:F0} operations/s, {result!.Steps} steps");
            Assert.Equal(CheckVerdict.Pass, result.Verdict);
        }
    }

    // A read answered after a write W2 of its key answered is made to return a value older than W2's: impossible,
    // because W2 must precede the read, and versions fix that the older value's write precedes W2.
    private static (List<RegisterOp> History, int Read) WithOneStaleRead(List<RegisterOp> history, ulong seed)
    {
        var acknowledged = history.Select((op, id) => (op, id)).Where(x => x.op.IsWrite && x.op.Outcome == RegisterOutcome.Ok).ToArray();
        var reads = history.Select((op, id) => (op, id)).Where(x => x.op.Kind == RegisterOpKind.Get && x.op.IsCompleted).ToArray();
        var start = (int)(seed * 7919 % (ulong)reads.Length);
        for (var i = 0; i < reads.Length; i++)
        {
            var (read, id) = reads[(start + i) % reads.Length];
            var before = acknowledged.Where(w => w.op.Key == read.Key && w.op.CompletedAt < read.InvokedAt).Select(w => w.op).ToArray();
            if (before.Length < 2)
            {
                continue;
            }

            var newest = before.MaxBy(w => w.Version)!;
            var stale = before.Where(w => w.Version < newest.Version).MinBy(w => w.Version)!;
            var corrupted = history.ToList();
            corrupted[id] = read with { Outcome = RegisterOutcome.Ok, Value = stale.Value, Version = stale.Version };
            return (corrupted, id);
        }

        throw new InvalidOperationException("no read follows two acknowledged writes of its key");
    }
}
