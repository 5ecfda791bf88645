using Raft.Core;
using Raft.Simulation.Checking;
using Xunit.Abstractions;

namespace Raft.Simulation.CheckingTests;

/// <summary>
/// The checker against a dumb reference: on small histories, valid ones from the store and the same with one field
/// changed at random, its verdict is that of an exhaustive search that tries every order and every subset of lost
/// operations, with none of the checker's reductions, and the store's rules written out again.
/// </summary>
public sealed class RegisterReferenceTests(ITestOutputHelper output)
{
    [Fact]
    public void Small_random_histories_get_the_verdict_of_an_exhaustive_search()
    {
        int accepted = 0, rejected = 0;
        for (var seed = 1UL; seed <= 12_000; seed++)
        {
            var random = new SeededRandom(seed);
            var shape = new HistoryShape(Keys: 1, Clients: 1 + random.Next(4), Operations: 3 + random.Next(8), Widen: random.Next(8), LostRate: 0.35);
            var history = StoreHistories.Generate(seed, shape);
            for (var changes = random.Chance(0.2) ? 0 : 1 + random.Next(2); changes > 0; changes--)
            {
                history = Mutate(history, random);
            }

            RegisterCheckResult result;
            try
            {
                result = RegisterChecker.Check(history);
            }
            catch (ArgumentException)
            {
                // The change made the history malformed; the checker refuses those.
                continue;
            }

            var expected = ExhaustiveSearch.IsLinearizable(history);
            Assert.True(expected == (result.Verdict == CheckVerdict.Pass), $"seed {seed}: reference says {expected}, checker {result}\n{string.Join("\n", history.Select((o, i) => $"#{i} {o.Describe()}"))}");
            (expected ? ref accepted : ref rejected)++;
        }

        output.WriteLine($"{accepted} accepted, {rejected} rejected by both");
        Assert.True(accepted > 2_000 && rejected > 2_000, "the mix must exercise both verdicts");
    }

    // One field of one operation changed: a read's answer, an outcome, a version, an expectation, or an interval.
    private static List<RegisterOp> Mutate(List<RegisterOp> history, SeededRandom random)
    {
        var copy = history.ToList();
        var reads = Enumerable.Range(0, copy.Count).Where(i => copy[i].Kind == RegisterOpKind.Get).ToArray();
        var id = reads.Length > 0 && random.Chance(0.4) ? reads[random.Next(reads.Length)] : random.Next(copy.Count);
        var op = copy[id];
        var values = history.Where(o => o.IsWrite).Select(o => o.Value).Append(0UL).ToArray();
        var versions = history.Select(o => o.Version).Concat(history.Select(o => o.ExpectedVersion)).Append(0UL).Distinct().ToArray();
        copy[id] = (op.Kind == RegisterOpKind.Get && random.Chance(0.7) ? 0 : random.Next(1, 5)) switch
        {
            0 when op.Kind == RegisterOpKind.Get => values[random.Next(values.Length)] is var v && v == 0
                ? op with { Outcome = RegisterOutcome.NotFound, Value = 0, Version = 0 }
                : op with { Outcome = RegisterOutcome.Ok, Value = v, Version = Math.Max(1, versions[random.Next(versions.Length)]) },
            1 => op with { Outcome = (RegisterOutcome)random.Next(5), CompletedAt = op.IsCompleted || op.Outcome == RegisterOutcome.Failed ? op.CompletedAt : op.InvokedAt + 1 + random.Next(10) },
            2 => op with { Version = (ulong)Math.Max(0, (long)op.Version + random.Next(-2, 3)) },
            3 => op with { ExpectedVersion = versions[random.Next(versions.Length)] },
            _ => op with { InvokedAt = Math.Max(0, op.InvokedAt - random.Next(6)), CompletedAt = op.CompletedAt + random.Next(6) },
        };
        return copy;
    }

    /// <summary>
    /// Tries every order of every subset of lost operations together with all answered ones, keeping real time:
    /// an operation may go next only if no answered operation still unplaced had answered before it was invoked.
    /// </summary>
    private static class ExhaustiveSearch
    {
        public static bool IsLinearizable(List<RegisterOp> history)
        {
            var ops = history.Where(o => o.Outcome != RegisterOutcome.Failed && (o.IsCompleted || o.Kind != RegisterOpKind.Get)).ToArray();
            var learned = new Dictionary<ulong, ulong>();
            foreach (var op in history.Where(o => o.Outcome == RegisterOutcome.Ok && (o.IsWrite || o.Kind == RegisterOpKind.Get)))
            {
                learned.TryAdd(op.Value, op.Version);
            }

            var tied = learned.Values.ToHashSet();
            return VersionsFollowRealTime(history, learned) && Extend(ops, new bool[ops.Length], (Value: 0UL, Version: 0UL, Floor: 0UL), learned, tied);
        }

        // A write that took effect with version v was proposed after every answer that completed before it was
        // invoked; every version such an answer showed was committed then, so it is below v.
        private static bool VersionsFollowRealTime(List<RegisterOp> history, Dictionary<ulong, ulong> learned)
        {
            foreach (var write in history.Where(o => o.IsWrite))
            {
                var version = write.Outcome == RegisterOutcome.Ok ? write.Version
                    : write.Outcome == RegisterOutcome.Unknown && learned.TryGetValue(write.Value, out var seen) ? seen
                    : 0;
                if (version != 0 && history.Any(o => o.IsCompleted && o.CompletedAt < write.InvokedAt && o.Version >= version))
                {
                    return false;
                }
            }

            return true;
        }

        private static bool Extend(RegisterOp[] ops, bool[] placed, (ulong Value, ulong Version, ulong Floor) state, Dictionary<ulong, ulong> learned, HashSet<ulong> tied)
        {
            if (Enumerable.Range(0, ops.Length).All(i => placed[i] || !ops[i].IsCompleted))
            {
                return true;
            }

            for (var i = 0; i < ops.Length; i++)
            {
                var mayGo = !placed[i] && Enumerable.Range(0, ops.Length).All(b => b == i || placed[b] || !ops[b].IsCompleted || ops[b].CompletedAt >= ops[i].InvokedAt);
                if (mayGo && Step(state, ops[i], learned, tied, out var next))
                {
                    placed[i] = true;
                    var found = Extend(ops, placed, next, learned, tied);
                    placed[i] = false;
                    if (found)
                    {
                        return true;
                    }
                }
            }

            return false;
        }

        // The store's rules for one operation, or for a lost one whatever it would have done. A lost write whose
        // value nobody read leaves a write of unknown version, which matches no expected version (clients expect
        // only versions they saw) and may be any version nobody tied to a value, above those written before.
        private static bool Step((ulong Value, ulong Version, ulong Floor) s, RegisterOp op, Dictionary<ulong, ulong> learned, HashSet<ulong> tied, out (ulong Value, ulong Version, ulong Floor) next)
        {
            const ulong Unknown = ulong.MaxValue;
            next = s;
            var absent = s.Value == 0;
            var unknownVersion = s.Value == Unknown;
            bool Matches(ulong expected) => expected == 0 ? absent : !unknownVersion && !absent && s.Version == expected;

            // An unknown write's version, once reported, is that one from then on.
            bool Reports(ulong version, out (ulong Value, ulong Version, ulong Floor) after)
            {
                after = s;
                if (!unknownVersion || s.Version != 0)
                {
                    return version == s.Version;
                }

                after = (Unknown, version, version);
                return version != 0 && !tied.Contains(version) && version > s.Floor;
            }

            var lost = op.Outcome == RegisterOutcome.Unknown;
            switch (op.Kind)
            {
                case RegisterOpKind.Get:
                    return op.Outcome == RegisterOutcome.Ok ? !absent && !unknownVersion && s.Value == op.Value && s.Version == op.Version : absent;
                case RegisterOpKind.Put:
                case RegisterOpKind.PutIfVersion:
                    var applies = op.Kind == RegisterOpKind.Put || Matches(op.ExpectedVersion);
                    if (lost)
                    {
                        if (!applies)
                        {
                            return true;
                        }

                        if (!learned.TryGetValue(op.Value, out var version))
                        {
                            next = (Unknown, 0, s.Floor);
                            return true;
                        }

                        next = (op.Value, version, version);
                        return version > s.Floor;
                    }

                    if (op.Outcome == RegisterOutcome.PreconditionFailed)
                    {
                        return !applies && Reports(op.Version, out next);
                    }

                    next = (op.Value, op.Version, op.Version);
                    return applies && op.Version > s.Floor;
                default:
                    var checks = op.Kind == RegisterOpKind.Delete || Matches(op.ExpectedVersion);
                    if (lost)
                    {
                        next = checks ? (0, 0, s.Floor) : s;
                        return true;
                    }

                    if (op.Outcome == RegisterOutcome.PreconditionFailed)
                    {
                        return !checks && Reports(op.Version, out next);
                    }

                    if (op.Outcome == RegisterOutcome.NotFound)
                    {
                        return checks && absent;
                    }

                    if (!checks || absent || !Reports(op.Version, out var removed))
                    {
                        return false;
                    }

                    next = (0, 0, removed.Floor);
                    return op.Kind == RegisterOpKind.Delete || op.Version == op.ExpectedVersion;
            }
        }
    }
}
