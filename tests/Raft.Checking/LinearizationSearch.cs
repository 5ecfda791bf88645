namespace Raft.Checking;

/// <summary>One operation of the deepest linearization the search reached, and the state it left.</summary>
internal readonly record struct SearchStep(int Source, RegisterState After);

/// <summary>What a search of one key found.</summary>
/// <param name="Deepest">The most completed operations any attempt put in order before it was stuck.</param>
/// <param name="Blocked">At that point, the operation whose answer came first among those not yet placed (its source id).</param>
/// <param name="BlockedState">The state it met there.</param>
/// <param name="Tail">The last operations of that attempt, oldest first.</param>
/// <param name="BlockedFits">Whether the blocked operation could have taken effect on that state at all.</param>
/// <param name="StillNeeded">
/// When it fitted but would have left a version others still needed: those others (source ids); they could never
/// have taken effect after.
/// </param>
internal sealed record SearchOutcome(
    CheckVerdict Verdict,
    long Steps,
    int Completed,
    int Deepest,
    int Blocked,
    RegisterState BlockedState,
    IReadOnlyList<SearchStep> Tail,
    bool BlockedFits,
    IReadOnlyList<int> StillNeeded,
    int Memoized);

/// <summary>
/// Wing and Gong's search for a linearization of one key's history, with Lowe's memo of (linearized set, state)
/// nodes already explored ("Testing for linearizability", 2017): depth first, an operation may be placed next when
/// it was invoked before the earliest answer among the operations not yet placed.
/// </summary>
/// <remarks>
/// <para>Completed operations are numbered by answer order (their rank), so a node's linearized set is a bitset
/// whose lowest clear bit is the earliest unplaced answer, the frontier; the memo stores it from the frontier's
/// word on. Candidates are kept in invocation order in a list the search unlinks them from as it places them and
/// relinks them into as it backs out (dancing links: undone in exactly the reverse order).</para>
/// <para>Four reductions keep the branching small, each exact:
/// an operation that only tests the state (a get, a failed precondition, a not-found delete) and passes leaving it
/// unchanged is placed at once, without trying alternatives, because it may be moved ahead of anything still
/// unplaced;
/// writes with known versions are placed only in version order, because versions along a key's linearization
/// increase; nothing leaves a version while an unplaced operation still needs it, because a version never
/// returns; operations that may never take effect (lost answers nobody observed) are grouped by what they do,
/// and only the earliest invoked unused member of a group is tried, because the members are interchangeable.</para>
/// </remarks>
internal sealed class LinearizationSearch
{
    private const int TailOps = 12;

    private const int GroupsPerStateMax = 4;

    // Words of a memo key before the linearized sets: the frontier's word and the state.
    private const int KeyHeaderWords = 4;

    private readonly SearchOp[] _ops;
    private readonly SearchOp[] _pending;
    private readonly int[] _groupStart;
    private readonly Dictionary<(RegisterOpKind Kind, ulong Expected), int> _groupOf = [];
    private readonly int[] _writeOrder;
    private readonly int[] _next;
    private readonly int[] _prev;
    private readonly ulong[] _done;
    private readonly ulong[] _pendingDone;
    private readonly int[] _used;
    private readonly ulong[] _key;

    // For each version, how many unplaced completed operations need the key to hold it.
    private readonly Dictionary<ulong, int> _needs = [];
    private readonly List<Frame> _stack = [];
    private readonly SearchCache _cache = new();
    private int _frontier;
    private int _writesDone;
    private int _placed;
    private long _steps;
    private int _deepest = -1;
    private int _blocked = -1;
    private RegisterState _blockedState;
    private SearchStep[] _tail = [];
    private bool _blockedFits;
    private int[] _stillNeeded = [];

    /// <param name="completed">Operations that must take effect before their <see cref="SearchOp.ReturnKey"/>.</param>
    /// <param name="pending">Operations of effect <see cref="SearchEffect.Any"/>: they may take effect after their invocation, or never.</param>
    public LinearizationSearch(IEnumerable<SearchOp> completed, IEnumerable<SearchOp> pending)
    {
        _ops = [.. completed.OrderBy(o => o.ReturnKey).ThenBy(o => o.InvokeKey).ThenBy(o => o.Source)];
        _pending = [.. pending.OrderBy(o => o.Kind).ThenBy(o => o.Expected).ThenBy(o => o.InvokeKey).ThenBy(o => o.Source)];
        var n = _ops.Length;
        foreach (var op in _ops)
        {
            if (op.Effect == SearchEffect.Any || op.InvokeKey >= op.ReturnKey)
            {
                throw new ArgumentException($"operation #{op.Source} cannot be a completed operation of the search", nameof(completed));
            }
        }

        _writeOrder = [.. Enumerable.Range(0, n).Where(r => _ops[r].IsKnownWrite).OrderBy(r => _ops[r].Version)];
        for (var i = 1; i < _writeOrder.Length; i++)
        {
            if (_ops[_writeOrder[i]].Version == _ops[_writeOrder[i - 1]].Version)
            {
                throw new ArgumentException($"operations #{_ops[_writeOrder[i - 1]].Source} and #{_ops[_writeOrder[i]].Source} write one version", nameof(completed));
            }
        }

        var starts = new List<int>();
        for (var i = 0; i < _pending.Length; i++)
        {
            if (_pending[i].Effect != SearchEffect.Any)
            {
                throw new ArgumentException($"operation #{_pending[i].Source} is not a pending operation", nameof(pending));
            }

            if (i == 0 || _pending[i].Kind != _pending[i - 1].Kind || _pending[i].Expected != _pending[i - 1].Expected)
            {
                _groupOf.Add((_pending[i].Kind, _pending[i].Expected), starts.Count);
                starts.Add(i);
            }
        }

        starts.Add(_pending.Length);
        _groupStart = [.. starts];
        _used = new int[_groupStart.Length - 1];

        // The candidate list: ranks in invocation order, with a sentinel at n.
        _next = new int[n + 1];
        _prev = new int[n + 1];
        var byInvoke = Enumerable.Range(0, n).OrderBy(r => _ops[r].InvokeKey).ThenBy(r => r).ToArray();
        var last = n;
        foreach (var r in byInvoke)
        {
            _next[last] = r;
            _prev[r] = last;
            last = r;
        }

        _next[last] = n;
        _prev[n] = last;

        foreach (var op in _ops)
        {
            if (op.NeededVersion != 0)
            {
                _needs[op.NeededVersion] = _needs.GetValueOrDefault(op.NeededVersion) + 1;
            }
        }

        _done = new ulong[(n + 63) / 64];
        _pendingDone = new ulong[(_pending.Length + 63) / 64];
        _key = new ulong[KeyHeaderWords + _pendingDone.Length + _done.Length];
    }

    private enum Phase : byte
    {
        Tests,
        Mutations,
        Pending,
    }

    private enum Expansion : byte
    {
        Advanced,
        Stuck,
        OutOfBudget,
    }

    /// <summary>Searches until a linearization is found, none can exist, or <paramref name="stepBudget"/> applications of the model are spent.</summary>
    public SearchOutcome Run(long stepBudget)
    {
        var n = _ops.Length;
        var state = default(RegisterState);
        var phase = Phase.Tests;
        var resume = n;
        while (_frontier < n)
        {
            var expansion = Expand(ref state, phase, resume, stepBudget);
            if (expansion == Expansion.OutOfBudget)
            {
                RecordDeadEnd(state);
                return Outcome(CheckVerdict.Inconclusive);
            }

            if (expansion == Expansion.Advanced)
            {
                phase = Phase.Tests;
                resume = n;
                continue;
            }

            RecordDeadEnd(state);
            if (!Backtrack(ref state, out phase, out resume))
            {
                return Outcome(CheckVerdict.Violation);
            }
        }

        return Outcome(CheckVerdict.Pass);
    }

    // Tries the children of the current node from (phase, resume): resume is the rank after which the candidate walk
    // continues (n: from the start) or, in the pending phase, the first group to try.
    private Expansion Expand(ref RegisterState state, Phase phase, int resume, long stepBudget)
    {
        var n = _ops.Length;
        var frontierKey = _ops[_frontier].ReturnKey;
        if (phase == Phase.Tests)
        {
            for (var c = _next[n]; c != n && _ops[c].InvokeKey < frontierKey; c = _next[c])
            {
                if (_ops[c].Mutates)
                {
                    continue;
                }

                if (!Spend(stepBudget))
                {
                    return Expansion.OutOfBudget;
                }

                if (_ops[c].TryApply(state, out var tested) && tested == state)
                {
                    // Placing a passing test now loses nothing, so the node stands or falls with this one child.
                    Place(c);
                    if (!_cache.Add(Key(state)))
                    {
                        Unplace(c);
                        return Expansion.Stuck;
                    }

                    _stack.Add(new Frame(c, Phase.Tests, state));
                    return Expansion.Advanced;
                }
            }

            phase = Phase.Mutations;
            resume = n;
        }

        if (phase == Phase.Mutations)
        {
            for (var c = _next[resume]; c != n && _ops[c].InvokeKey < frontierKey; c = _next[c])
            {
                var op = _ops[c];
                if ((!op.Mutates && !op.MayBind(state)) || (op.IsKnownWrite && _writeOrder[_writesDone] != c))
                {
                    continue;
                }

                if (!Spend(stepBudget))
                {
                    return Expansion.OutOfBudget;
                }

                if (!op.TryApply(state, out var next) || Strands(state, next, op))
                {
                    continue;
                }

                Place(c);
                if (_cache.Add(Key(next)))
                {
                    _stack.Add(new Frame(c, Phase.Mutations, state));
                    state = next;
                    return Expansion.Advanced;
                }

                Unplace(c);
            }

            resume = 0;
        }

        Span<int> groups = stackalloc int[GroupsPerStateMax];
        var count = GroupsThatMayAct(state, groups);
        for (var slot = resume; slot < count; slot++)
        {
            var g = groups[slot];
            var i = _groupStart[g] + _used[g];
            if (i == _groupStart[g + 1] || _pending[i].InvokeKey >= frontierKey)
            {
                continue;
            }

            if (!Spend(stepBudget))
            {
                return Expansion.OutOfBudget;
            }

            if (!_pending[i].TryApply(state, out var next) || Strands(state, next, _pending[i]))
            {
                continue;
            }

            _pendingDone[i >> 6] |= 1UL << i;
            _used[g]++;
            if (_cache.Add(Key(next)))
            {
                _stack.Add(new Frame(i, Phase.Pending, state) { Group = g, Slot = slot });
                state = next;
                return Expansion.Advanced;
            }

            _pendingDone[i >> 6] &= ~(1UL << i);
            _used[g]--;
        }

        return Expansion.Stuck;
    }

    // Backs out of the current node to the next sibling left to try; false when the root has none.
    private bool Backtrack(ref RegisterState state, out Phase phase, out int resume)
    {
        while (_stack.Count > 0)
        {
            var frame = _stack[^1];
            _stack.RemoveAt(_stack.Count - 1);
            state = frame.Before;
            if (frame.Phase == Phase.Pending)
            {
                _pendingDone[frame.Op >> 6] &= ~(1UL << frame.Op);
                _used[frame.Group]--;
                phase = Phase.Pending;
                resume = frame.Slot + 1;
                return true;
            }

            Unplace(frame.Op);
            if (frame.Phase == Phase.Mutations)
            {
                phase = Phase.Mutations;
                resume = frame.Op;
                return true;
            }

            // A test was the only child worth trying: its parent is stuck too.
        }

        phase = Phase.Tests;
        resume = 0;
        return false;
    }

    // The groups whose next member could change this state: a put or a delete always might; a conditional one only
    // when it expects what the state holds. The list depends on the state alone, so a slot in it is a resume point.
    private int GroupsThatMayAct(in RegisterState state, Span<int> groups)
    {
        var count = 0;
        var version = state.Value == RegisterState.Unobserved ? ulong.MaxValue : state.Version;
        ReadOnlySpan<(RegisterOpKind, ulong)> wanted =
        [
            (RegisterOpKind.Put, 0),
            (RegisterOpKind.PutIfVersion, version),
            (RegisterOpKind.Delete, 0),
            (RegisterOpKind.DeleteIfVersion, version),
        ];
        foreach (var group in wanted)
        {
            if (_groupOf.TryGetValue(group, out var g))
            {
                groups[count++] = g;
            }
        }

        return count;
    }

    // Counts one application of the model; false, counting nothing, once the budget is spent.
    private bool Spend(long stepBudget)
    {
        if (_steps == stepBudget)
        {
            return false;
        }

        _steps++;
        return true;
    }

    // Whether going from `state` to `next` by `op` leaves a version some other unplaced operation still needs: it
    // could never take effect, so the move leads nowhere.
    private bool Strands(in RegisterState state, in RegisterState next, in SearchOp op)
    {
        if (state.Version == 0 || next.Version == state.Version)
        {
            return false;
        }

        var others = _needs.GetValueOrDefault(state.Version) - (op.NeededVersion == state.Version ? 1 : 0);
        return others > 0;
    }

    private void Place(int rank)
    {
        _done[rank >> 6] |= 1UL << rank;
        _next[_prev[rank]] = _next[rank];
        _prev[_next[rank]] = _prev[rank];
        _placed++;
        if (_ops[rank].IsKnownWrite)
        {
            _writesDone++;
        }

        if (_ops[rank].NeededVersion != 0)
        {
            _needs[_ops[rank].NeededVersion]--;
        }

        while (_frontier < _ops.Length && (_done[_frontier >> 6] & (1UL << _frontier)) != 0)
        {
            _frontier++;
        }
    }

    private void Unplace(int rank)
    {
        _done[rank >> 6] &= ~(1UL << rank);
        _next[_prev[rank]] = rank;
        _prev[_next[rank]] = rank;
        _placed--;
        if (_ops[rank].IsKnownWrite)
        {
            _writesDone--;
        }

        if (_ops[rank].NeededVersion != 0)
        {
            _needs[_ops[rank].NeededVersion]++;
        }

        _frontier = Math.Min(_frontier, rank);
    }

    // The memo key of the node reached: every word of the completed set below the frontier's is all ones, so the
    // frontier's word index stands for them; trailing zero words are left out.
    private ReadOnlySpan<ulong> Key(in RegisterState state)
    {
        var first = _frontier >> 6;
        var last = _done.Length - 1;
        while (last >= first && _done[last] == 0)
        {
            last--;
        }

        _key[0] = (ulong)first;
        _key[1] = state.Value;
        _key[2] = state.Version;
        _key[3] = state.Floor;
        _pendingDone.CopyTo(_key, KeyHeaderWords);
        var length = KeyHeaderWords + _pendingDone.Length;
        for (var w = first; w <= last; w++)
        {
            _key[length++] = _done[w];
        }

        return _key.AsSpan(0, length);
    }

    private void RecordDeadEnd(in RegisterState state)
    {
        if (_placed <= _deepest || _frontier >= _ops.Length)
        {
            return;
        }

        _deepest = _placed;
        var blocked = _ops[_frontier];
        _blocked = blocked.Source;
        _blockedState = state;
        _blockedFits = blocked.TryApply(state, out var next);
        var version = state.Version;
        _stillNeeded = _blockedFits && blocked.Mutates && Strands(state, next, blocked)
            ? [.. _ops.Where((op, rank) => op.NeededVersion == version && rank != _frontier && (_done[rank >> 6] & (1UL << rank)) == 0).Select(op => op.Source)]
            : [];
        var count = Math.Min(TailOps, _stack.Count);
        _tail = new SearchStep[count];
        for (var i = 0; i < count; i++)
        {
            var at = _stack.Count - count + i;
            var frame = _stack[at];
            var source = frame.Phase == Phase.Pending ? _pending[frame.Op].Source : _ops[frame.Op].Source;
            _tail[i] = new SearchStep(source, at + 1 < _stack.Count ? _stack[at + 1].Before : state);
        }
    }

    private SearchOutcome Outcome(CheckVerdict verdict) =>
        new(verdict, _steps, _ops.Length, Math.Max(_deepest, 0), _blocked, _blockedState, _tail, _blockedFits, _stillNeeded, _cache.Count);

    /// <summary>
    /// A placed operation: a rank, or a pending index in <see cref="Group"/> (tried from <see cref="Slot"/> of the
    /// groups that may act on <see cref="Before"/>), and the state before it.
    /// </summary>
    private readonly record struct Frame(int Op, Phase Phase, RegisterState Before)
    {
        public int Group { get; init; }

        public int Slot { get; init; }
    }
}
