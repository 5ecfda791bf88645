using System.Diagnostics;
using System.Globalization;

namespace Raft.Fuzzing;

/// <summary>What a decoder made of one input.</summary>
public enum Verdict
{
    /// <summary>It decoded a valid value (and, where the format has one, the value re-encoded to the same bytes).</summary>
    Accepted,

    /// <summary>It refused the input in its documented way: its typed exception, a false, a 4xx JSON answer.</summary>
    Refused,
}

/// <summary>
/// One decoder under fuzzing: how to make valid samples, how to reseal damaged ones, and the property each input must
/// keep. <see cref="Check"/> (or <see cref="CheckAsync"/>) returns the verdict when the property holds and throws when
/// it does not; any exception it lets through, of any type, fails the case.
/// </summary>
public sealed class FuzzTarget
{
    public required string Name { get; init; }

    public required Func<Random, FuzzSample> Generate { get; init; }

    /// <summary>Rewrites a damaged input's checksums (and the lengths they cover); null for formats without one.</summary>
    public Func<byte[], byte[]>? Reseal { get; init; }

    public Func<byte[], Verdict>? Check { get; init; }

    public Func<byte[], Task<Verdict>>? CheckAsync { get; init; }

    /// <summary>
    /// Most bytes a synchronous check may allocate for an input of the given length: a length read from the input
    /// must not make the decoder allocate far beyond what the input holds.
    /// </summary>
    public Func<int, long> AllocationBytesMax { get; init; } = static length => (16L << 20) + (64L * length);

    /// <summary>
    /// Whether a sample left unmutated must be accepted (true for decoders; false where a valid request may still be
    /// refused by the state it meets, such as a lock another owner holds).
    /// </summary>
    public bool AcceptsEveryValidSample { get; init; } = true;
}

/// <summary>How one target's campaign went.</summary>
public sealed record FuzzReport(string Target, ulong Seed, int Cases, int Accepted, int Refused, TimeSpan Elapsed)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Target}: {Cases} cases (seed {Seed}), {Accepted} accepted, {Refused} refused, {Elapsed.TotalSeconds:F2} s");
}

/// <summary>A case broke its target's property; the message holds what replays it.</summary>
public sealed class FuzzFailureException : Exception
{
    public FuzzFailureException()
    {
    }

    public FuzzFailureException(string message)
        : base(message)
    {
    }

    public FuzzFailureException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Runs a target for a fixed number of cases from a fixed seed. Case <c>n</c> draws everything from its own generator,
/// seeded from (seed, n), so any one case replays alone. The environment can make a campaign longer or replay a case:
/// <list type="bullet">
/// <item><c>FUZZ_CASES</c>: cases per target instead of the CI count (a longer campaign);</item>
/// <item><c>FUZZ_SEED</c>: the campaign seed instead of the target's fixed one;</item>
/// <item><c>FUZZ_CASE</c>: run only this case (with the seed a failure printed).</item>
/// </list>
/// A failing case reports the target, the seed, the case number, the mutations applied and the input in hex. A whole
/// campaign fails too when none of its inputs was accepted, or none refused.
/// </summary>
public static class Fuzz
{
    /// <summary>A case still running after this long is reported as a hang: decoders answer in microseconds.</summary>
    public static readonly TimeSpan CaseTimeLimit = TimeSpan.FromSeconds(30);

    private const int HexBytesMax = 4096;

    /// <summary>The number of cases to run: <c>FUZZ_CASES</c> when set, else <paramref name="ciCases"/>.</summary>
    public static int Cases(int ciCases) =>
        Environment.GetEnvironmentVariable("FUZZ_CASES") is { Length: > 0 } text ? int.Parse(text, CultureInfo.InvariantCulture) : ciCases;

    /// <summary>Runs a synchronous target on a thread of its own, watched for hangs.</summary>
    public static FuzzReport Run(FuzzTarget target, ulong seed, int ciCases)
    {
        ArgumentNullException.ThrowIfNull(target);
        var check = target.Check ?? throw new ArgumentException("a synchronous target needs Check", nameof(target));
        var state = new RunState(target, Seed(seed));
        Exception? failure = null;
        var worker = new Thread(() =>
        {
            try
            {
                state.Loop(Cases(ciCases), input => Checked(target, check, input));
            }
            catch (Exception e)
            {
                failure = e;
            }
        })
        {
            IsBackground = true,
            Name = "fuzz " + target.Name,
        };
        worker.Start();
        while (!worker.Join(TimeSpan.FromMilliseconds(200)))
        {
            if (state.CurrentCaseElapsed > CaseTimeLimit)
            {
                // The worker cannot be stopped; it is a background thread and dies with the test host.
                throw new FuzzFailureException(state.Describe($"the case did not finish within {CaseTimeLimit.TotalSeconds} s (a loop a length or count drives?)"));
            }
        }

        if (failure is not null)
        {
            throw failure;
        }

        return state.Result();
    }

    /// <summary>Runs an asynchronous target (one over HTTP or TCP); each case is bounded by <see cref="CaseTimeLimit"/>.</summary>
    public static async Task<FuzzReport> RunAsync(FuzzTarget target, ulong seed, int ciCases)
    {
        ArgumentNullException.ThrowIfNull(target);
        var check = target.CheckAsync ?? throw new ArgumentException("an asynchronous target needs CheckAsync", nameof(target));
        var state = new RunState(target, Seed(seed));
        await state.LoopAsync(Cases(ciCases), async input =>
        {
            try
            {
                return await check(input).WaitAsync(CaseTimeLimit).ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                throw new InvalidOperationException($"the case did not finish within {CaseTimeLimit.TotalSeconds} s", e);
            }
        }).ConfigureAwait(false);
        return state.Result();
    }

    /// <summary>The seed a case's generator starts from; SplitMix64 of the campaign seed and the case number.</summary>
    public static int CaseSeed(ulong seed, int caseNumber)
    {
        var z = seed + (0x9E37_79B9_7F4A_7C15UL * (ulong)(caseNumber + 1));
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return (int)((z ^ (z >> 31)) & int.MaxValue);
    }

    /// <summary>The bytes in hex, cut at <see cref="HexBytesMax"/> bytes with a note of how many there were.</summary>
    public static string Hex(ReadOnlySpan<byte> bytes) =>
        bytes.Length <= HexBytesMax
            ? Convert.ToHexString(bytes)
            : Convert.ToHexString(bytes[..HexBytesMax]) + $"... ({bytes.Length} bytes in all)";

    private static ulong Seed(ulong fixedSeed) =>
        Environment.GetEnvironmentVariable("FUZZ_SEED") is { Length: > 0 } text ? ulong.Parse(text, CultureInfo.InvariantCulture) : fixedSeed;

    private static Verdict Checked(FuzzTarget target, Func<byte[], Verdict> check, byte[] input)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var verdict = check(input);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var limit = target.AllocationBytesMax(input.Length);
        if (allocated > limit)
        {
            throw new InvalidOperationException($"decoding {input.Length} bytes allocated {allocated} bytes, more than the {limit} allowed");
        }

        return verdict;
    }

    private sealed class RunState(FuzzTarget target, ulong seed)
    {
        private readonly Stopwatch _elapsed = new();
        private readonly List<Mutation> _applied = [];
        private int _cases;
        private int _accepted;
        private int _refused;
        private volatile int _caseNumber = -1;
        private long _caseStartedTicks;
        private byte[] _input = [];

        public TimeSpan CurrentCaseElapsed =>
            _caseNumber < 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(Interlocked.Read(ref _caseStartedTicks));

        public void Loop(int cases, Func<byte[], Verdict> check)
        {
            _elapsed.Start();
            foreach (var caseNumber in CaseNumbers(cases))
            {
                var input = Next(caseNumber);
                Verdict verdict;
                try
                {
                    verdict = check(input);
                }
                catch (Exception e)
                {
                    throw new FuzzFailureException(Describe(e.GetType().Name + ": " + e.Message), e);
                }

                Count(verdict);
            }

            _elapsed.Stop();
        }

        public async Task LoopAsync(int cases, Func<byte[], Task<Verdict>> check)
        {
            _elapsed.Start();
            foreach (var caseNumber in CaseNumbers(cases))
            {
                var input = Next(caseNumber);
                Verdict verdict;
                try
                {
                    verdict = await check(input).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    throw new FuzzFailureException(Describe(e.GetType().Name + ": " + e.Message), e);
                }

                Count(verdict);
            }

            _elapsed.Stop();
        }

        // A campaign whose cases all went one way exercised one side of the decoder only: its samples or its mutations
        // are broken, and the property it kept says nothing. A single case replayed is exempt.
        public FuzzReport Result()
        {
            var report = new FuzzReport(target.Name, seed, _cases, _accepted, _refused, _elapsed.Elapsed);
            if (!IsReplay && (_accepted == 0 || _refused == 0))
            {
                throw new FuzzFailureException($"{report}: a campaign must see inputs both accepted and refused");
            }

            return report;
        }

        public string Describe(string problem) =>
            string.Create(CultureInfo.InvariantCulture, $"""
                fuzz target '{target.Name}' failed at case {_caseNumber} of seed {seed}: {problem}
                replay it alone: FUZZ_SEED={seed} FUZZ_CASE={_caseNumber} dotnet test <this test project> -c Release --filter <this test>
                mutations: {(_applied.Count == 0 ? "none (a valid sample)" : string.Join(", ", _applied))}
                input ({_input.Length} bytes): {Hex(_input)}
                """);

        private static string? ReplayedCase => Environment.GetEnvironmentVariable("FUZZ_CASE") is { Length: > 0 } one ? one : null;

        private static bool IsReplay => ReplayedCase is not null;

        private static IEnumerable<int> CaseNumbers(int cases) =>
            ReplayedCase is { } one ? [int.Parse(one, CultureInfo.InvariantCulture)] : Enumerable.Range(0, cases);

        private byte[] Next(int caseNumber)
        {
            var random = new Random(CaseSeed(seed, caseNumber));
            _applied.Clear();
            _input = [];
            _caseNumber = caseNumber;
            Interlocked.Exchange(ref _caseStartedTicks, Stopwatch.GetTimestamp());
            var input = Mutator.Mutate(target.Generate(random), random, () => target.Generate(random), target.Reseal, _applied);
            _input = input;
            return input;
        }

        private void Count(Verdict verdict)
        {
            if (verdict == Verdict.Refused && _applied.Count == 0 && target.AcceptsEveryValidSample)
            {
                throw new FuzzFailureException(Describe("a valid sample, left unmutated, was refused"));
            }

            _cases++;
            if (verdict == Verdict.Accepted)
            {
                _accepted++;
            }
            else
            {
                _refused++;
            }
        }
    }
}
