using System.Globalization;
using Raft.KeyValue;

namespace Raft.Simulation.Checking;

internal enum WatchStepKind : byte
{
    /// <summary>The watch began after <see cref="WatchStep.Index"/>.</summary>
    Started,

    /// <summary>A change was delivered (<see cref="WatchStep.Change"/>).</summary>
    Delivered,

    /// <summary>The client's index to resume from is now <see cref="WatchStep.Index"/>: it holds that it has had every change up to it.</summary>
    SeenThrough,

    /// <summary>
    /// A node answered compacted; the client read the keys again (<see cref="WatchStep.State"/>, as of
    /// <see cref="WatchStep.Index"/>) and watches on after that index.
    /// </summary>
    Reread,
}

internal sealed record WatchStep(WatchStepKind Kind, ulong Index, WatchChange? Change = null, IReadOnlyList<KvListItem>? State = null);

/// <summary>What one watch client saw, in the order it saw it, across every node it watched through.</summary>
internal sealed class WatchTrace(int watcher, WatchFilter filter)
{
    private readonly List<WatchStep> _steps = [];

    public int Watcher { get; } = watcher;

    public WatchFilter Filter { get; } = filter;

    public IReadOnlyList<WatchStep> Steps => _steps;

    public int DeliveredCount { get; private set; }

    /// <summary>The last index the client said it had seen everything up to (its start, a re-read's index, or later).</summary>
    public ulong SeenThroughIndex { get; private set; }

    public void Started(ulong after)
    {
        _steps.Add(new WatchStep(WatchStepKind.Started, after));
        SeenThroughIndex = after;
    }

    public void Delivered(WatchChange change)
    {
        _steps.Add(new WatchStep(WatchStepKind.Delivered, change.Index, change));
        DeliveredCount++;
    }

    public void SeenThrough(ulong index)
    {
        if (index != SeenThroughIndex)
        {
            _steps.Add(new WatchStep(WatchStepKind.SeenThrough, index));
            SeenThroughIndex = index;
        }
    }

    public void Reread(ulong index, IReadOnlyList<KvListItem> state)
    {
        _steps.Add(new WatchStep(WatchStepKind.Reread, index, State: state));
        SeenThroughIndex = index;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"watcher {Watcher} ({(Filter.IsPrefix ? "prefix" : "key")} \"{Filter.Text}\")");
}

/// <summary>
/// Watches against the committed log: what a watch client got must be, exactly, the changes the log made to the keys
/// it watches, in index order, each once, with no gap but one a re-read covers (a node answered compacted, the client
/// read the keys again at some index and watched on after it), and, by the end, every change up to the index the
/// cluster converged on.
/// </summary>
/// <remarks>
/// <para>The reference (<c>log</c>) is every change the committed log made, in order: what a store applying every
/// committed entry from the first reports through <see cref="KvStoreOptions.KeyChanged"/>. A change is its index,
/// key, value (or deletion), version and create index; all must match.</para>
/// <para>Steps are read in order, with a place in the log's changes to the watched keys: a delivered change must be
/// the next one there; a client that says it has seen everything up to an index (the index it would resume from) must
/// have had every change up to it, so a gap shows there at the latest; a re-read must hold the log's state of the
/// watched keys at its index, and moves the place to just after that index.</para>
/// </remarks>
internal static class WatchChecker
{
    /// <param name="log">Every change the committed log made through <paramref name="logEnd"/>, in order.</param>
    /// <param name="logEnd">The last index <paramref name="log"/> covers; no client may have seen past it.</param>
    /// <param name="mustReach">The index each watch must have seen everything up to by the end.</param>
    public static CheckResult Check(IReadOnlyList<WatchChange> log, ulong logEnd, IEnumerable<WatchTrace> traces, ulong mustReach)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(traces);
        var violations = new List<string>();
        foreach (var trace in traces)
        {
            if (CheckOne(log, logEnd, trace, mustReach) is { } violation)
            {
                violations.Add($"{trace}: {violation}");
            }
        }

        return CheckResult.FromViolations(violations, "watches");
    }

    // The first thing wrong with one watch, or null; what follows a first violation would only repeat it.
    private static string? CheckOne(IReadOnlyList<WatchChange> log, ulong logEnd, WatchTrace trace, ulong mustReach)
    {
        var expected = log.Where(c => trace.Filter.Matches(c.Key)).ToList();
        var next = 0;
        ulong seenThrough = 0;
        for (var s = 0; s < trace.Steps.Count; s++)
        {
            var step = trace.Steps[s];
            if (step.Index > logEnd)
            {
                return $"step {s} ({step.Kind} {step.Index}) is past the committed log's last index {logEnd}";
            }

            switch (step.Kind)
            {
                case WatchStepKind.Started:
                    if (s != 0)
                    {
                        return $"step {s}: started again at {step.Index}";
                    }

                    next = FirstAfter(expected, step.Index);
                    seenThrough = step.Index;
                    break;
                case WatchStepKind.Delivered:
                    var change = step.Change!;
                    if (next < expected.Count && Same(expected[next], change))
                    {
                        next++;
                        break;
                    }

                    return Misplaced(expected, next, change, s);
                case WatchStepKind.SeenThrough:
                    if (next < expected.Count && expected[next].Index <= step.Index)
                    {
                        return $"step {s}: says it has seen everything up to {step.Index}, but was never delivered the log's change {Describe(expected[next])}";
                    }

                    seenThrough = step.Index;
                    break;
                case WatchStepKind.Reread:
                    if (StateDiffers(expected, step.Index, step.State!) is { } difference)
                    {
                        return $"step {s}: re-read at {step.Index} after {seenThrough}, {difference}";
                    }

                    next = FirstAfter(expected, step.Index);
                    seenThrough = step.Index;
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(trace), step.Kind, "not a watch step");
            }
        }

        if (trace.Steps.Count == 0)
        {
            return "never started";
        }

        if (seenThrough < mustReach)
        {
            var missing = next < expected.Count ? $"; the next change it is owed is {Describe(expected[next])}" : string.Empty;
            return $"has seen everything only up to {seenThrough}, short of {mustReach}{missing}";
        }

        return null;
    }

    // A delivered change that is not the next one the log owes this watch: delivered again, skipped ahead, or made up.
    private static string Misplaced(List<WatchChange> expected, int next, WatchChange change, int step)
    {
        var owed = next < expected.Count ? Describe(expected[next]) : "nothing more";
        var at = expected.FindIndex(c => Same(c, change));
        if (at < 0)
        {
            return $"step {step}: delivered {Describe(change)}, which is not a change the committed log made to a watched key (it owes {owed})";
        }

        if (at < next)
        {
            return $"step {step}: delivered {Describe(change)} again or out of order: it already had the log's changes through {Describe(expected[next - 1])}";
        }

        return $"step {step}: delivered {Describe(change)} but skipped {at - next} change(s) before it, the first {owed}";
    }

    // How a re-read's keys differ from the log's state of the watched keys at its index, or null when they are the same.
    private static string? StateDiffers(List<WatchChange> expected, ulong index, IReadOnlyList<KvListItem> state)
    {
        var want = new SortedDictionary<string, WatchChange>(StringComparer.Ordinal);
        foreach (var change in expected)
        {
            if (change.Index > index)
            {
                break;
            }

            if (change.Value is null)
            {
                want.Remove(change.Key);
            }
            else
            {
                want[change.Key] = change;
            }
        }

        var got = new SortedDictionary<string, KvValue>(StringComparer.Ordinal);
        foreach (var item in state)
        {
            got[item.Key] = item.Value;
        }

        foreach (var (key, change) in want)
        {
            if (!got.TryGetValue(key, out var value))
            {
                return $"it lacks \"{key}\", which the log holds as {Describe(change)}";
            }

            if (value.Version != change.Version || value.CreateIndex != change.CreateIndex || !value.Value.AsSpan().SequenceEqual(change.Value))
            {
                return $"it holds \"{key}\" at version {value.Version} (created {value.CreateIndex}) = {ValueText(value.Value)}, where the log holds {Describe(change)}";
            }
        }

        foreach (var key in got.Keys)
        {
            if (!want.ContainsKey(key))
            {
                return $"it holds \"{key}\", which the log does not hold there";
            }
        }

        return null;
    }

    private static int FirstAfter(List<WatchChange> expected, ulong index)
    {
        var i = 0;
        while (i < expected.Count && expected[i].Index <= index)
        {
            i++;
        }

        return i;
    }

    public static bool Same(WatchChange a, WatchChange b) =>
        a.Index == b.Index && a.Version == b.Version && a.CreateIndex == b.CreateIndex && a.Lease == b.Lease && string.Equals(a.Key, b.Key, StringComparison.Ordinal)
        && (a.Value is null ? b.Value is null : b.Value is not null && a.Value.AsSpan().SequenceEqual(b.Value));

    public static string Describe(WatchChange change) => change.Value is null
        ? string.Create(CultureInfo.InvariantCulture, $"{change.Index}: delete \"{change.Key}\"")
        : string.Create(CultureInfo.InvariantCulture, $"{change.Index}: put \"{change.Key}\" = {ValueText(change.Value)} version {change.Version} created {change.CreateIndex}");

    // A value by its first bytes (the simulator's values start with a number unique to their write) and its length.
    private static string ValueText(byte[] value) =>
        value.Length <= 8 ? Convert.ToHexString(value) : string.Create(CultureInfo.InvariantCulture, $"{Convert.ToHexString(value.AsSpan(0, 8))}.. ({value.Length} bytes)");
}
