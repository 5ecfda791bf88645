using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>
/// What a key must hold when read back: one of the values of <see cref="Seqs"/> (the last acknowledged write, and any
/// failed one after it, which may have been applied), and, when the last attempt was acknowledged, that write's index
/// as the key's last-write index (ours: its version; etcd: <c>mod_revision</c>).
/// </summary>
internal sealed record KeyExpectation(string Key, IReadOnlyList<long> Seqs, ulong? Index)
{
    /// <summary>Each steady key's expectation from every attempt on it; keys no write of which was acknowledged are left out.</summary>
    public static IEnumerable<KeyExpectation> FromSteady(IEnumerable<SteadyWrite> writes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        foreach (var attempts in writes.GroupBy(w => w.Key))
        {
            var ordered = attempts.OrderBy(w => w.Seq).ToArray();
            var last = Array.FindLastIndex(ordered, w => w.Ok);
            if (last >= 0)
            {
                var possible = ordered[last..];
                yield return new KeyExpectation(attempts.Key, [.. possible.Select(w => w.Seq)], possible.Length == 1 ? possible[0].Index : null);
            }
        }
    }

    /// <summary>Null when <paramref name="read"/> is what this key may hold; otherwise what is wrong.</summary>
    public string? Check(ReadOutcome read, int valueBytes)
    {
        if (!read.Found)
        {
            return $"lost acknowledged write: key {Key} is missing";
        }

        if (!Seqs.Any(seq => ScaleValues.Value(Key, seq, valueBytes) == read.Value))
        {
            return $"key {Key}: its value is none of the {Seqs.Count} it may hold (the write of seq {Seqs[0]} was acknowledged)";
        }

        return Index is { } index && read.ModIndex != index
            ? $"key {Key}: expected the write acknowledged at index {index} to be its last, saw one at {read.ModIndex}"
            : null;
    }
}

internal sealed partial class ScaleRunner
{
    private const int FillStride = 100;
    private const int FillTail = 1000;
    private const int VerifyParallelism = 8;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Reads back, linearizably, every <see cref="FillStride"/>th key of the fill and its last <see cref="FillTail"/>
    /// (those acknowledged), and every key of every steady writer.
    /// </summary>
    private async Task<VerifyResult> VerifyAsync(ulong[] fillIndexes, CancellationToken cancellationToken)
    {
        var fill = FillSample(fillIndexes.Length)
            .Where(seq => fillIndexes[seq - 1] != 0)
            .Select(seq => new KeyExpectation(FillKey(seq), [0], fillIndexes[seq - 1]))
            .ToArray();
        var steady = _steadyWriters.SelectMany(w => KeyExpectation.FromSteady(w.Writes())).ToArray();
        var leader = await LeaderAsync(cancellationToken).ConfigureAwait(false);
        var problems = await Verifier.ReadBackAsync<KeyExpectation>(
            target, [.. fill, .. steady], e => e.Key, (e, read) => e.Check(read, plan.ValueBytes), ReadTimeout, VerifyParallelism, leader, cancellationToken).ConfigureAwait(false);
        foreach (var problem in problems)
        {
            Violation(problem);
        }

        await LogAsync($"read back {fill.Length} keys of the fill and {steady.Length} of the steady writers: {(problems.Count == 0 ? "all as acknowledged" : $"{problems.Count} PROBLEMS")}").ConfigureAwait(false);
        return new VerifyResult(fill.Length, steady.Length, problems.Count);
    }

    /// <summary>The fill's sequence numbers (1-based) read back: 1, 1 + stride, ... and the last <see cref="FillTail"/>.</summary>
    internal static IEnumerable<long> FillSample(long keys) =>
        Enumerable.Range(0, (int)((keys + FillStride - 1) / FillStride)).Select(i => 1 + ((long)i * FillStride))
            .Concat(Enumerable.Range(0, (int)Math.Min(keys, FillTail)).Select(i => keys - i))
            .Distinct()
            .Order();
}
