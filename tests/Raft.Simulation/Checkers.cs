using Raft.Core;

namespace Raft.Simulation;

/// <summary>
/// Raft's safety properties, checked as events happen:
/// election safety, log matching, leader completeness and state machine safety.
/// </summary>
internal sealed class SafetyChecker
{
    private readonly Dictionary<ulong, int> _leaderOfTerm = [];
    private readonly Dictionary<(ulong Index, ulong Term), (ulong PrevTerm, EntryType Type, ReadOnlyMemory<byte> Data)> _entries = [];
    private readonly List<ulong> _committedTerm = [0];

    // For each committed index, the lowest term any node was in when it saw the index committed: an upper
    // bound on the term in which it was committed. Leader completeness speaks of leaders of later terms only.
    private readonly List<ulong> _committedInTerm = [0];
    private readonly List<(ulong Term, EntryType Type, ReadOnlyMemory<byte> Data)> _applied = [(0, EntryType.NoOp, ReadOnlyMemory<byte>.Empty)];

    public int Elections { get; private set; }

    /// <summary>The highest term of any entry committed so far.</summary>
    public ulong MaxCommittedTerm { get; private set; }

    public ulong MaxCommitted => (ulong)_committedTerm.Count - 1;

    /// <summary>At most one leader per term.</summary>
    public void OnLeader(int node, ulong term, RaftNode raft)
    {
        Elections++;
        if (_leaderOfTerm.TryGetValue(term, out var other) && other != node)
        {
            throw new SimulationViolation($"election safety: nodes {other} and {node} both lead term {term}");
        }

        _leaderOfTerm[term] = node;

        // Leader completeness: the new leader holds every entry committed so far.
        for (var i = (ulong)_committedTerm.Count - 1; i >= 1; i--)
        {
            if (i < raft.FirstIndex)
            {
                var snapshot = raft.LatestSnapshot;
                if (snapshot is not null && snapshot.Index < (ulong)_committedTerm.Count && snapshot.Index > 0 && _committedTerm[(int)snapshot.Index] != snapshot.Term)
                {
                    throw new SimulationViolation($"leader completeness: leader {node} of term {term} has a snapshot ({snapshot.Index}, t{snapshot.Term}) but t{_committedTerm[(int)snapshot.Index]} was committed there");
                }

                break;
            }

            if (_committedInTerm[(int)i] >= term)
            {
                continue;
            }

            var have = raft.TermAt(i);
            if (_committedTerm[(int)i] != 0 && have != _committedTerm[(int)i])
            {
                throw new SimulationViolation($"leader completeness: leader {node} of term {term} has t{have} at {i} where t{_committedTerm[(int)i]} was committed (last index {raft.LastIndex})");
            }
        }
    }

    /// <summary>
    /// Log matching, checked entry by entry: an (index, term) pair always carries the same entry and follows the same
    /// term, so two logs that share an entry share everything before it.
    /// </summary>
    public void OnPersisted(int node, RaftNode raft, ReadOnlySpan<Entry> entries)
    {
        foreach (ref readonly var e in entries)
        {
            var prevTerm = raft.TermAt(e.Index - 1);
            if (_entries.TryGetValue((e.Index, e.Term), out var known))
            {
                if (known.PrevTerm != prevTerm || known.Type != e.Type || !known.Data.Span.SequenceEqual(e.Data.Span))
                {
                    throw new SimulationViolation($"log matching: node {node} holds a different entry at ({e.Index}, t{e.Term}) (previous term t{prevTerm}, was t{known.PrevTerm})");
                }
            }
            else
            {
                _entries[(e.Index, e.Term)] = (prevTerm, e.Type, e.Data);
            }
        }
    }

    /// <summary>An index, once committed anywhere, is committed with the same term everywhere.</summary>
    public void OnCommitted(int node, RaftNode raft, ulong from, ulong to)
    {
        for (var i = from; i <= to; i++)
        {
            if (i < raft.FirstIndex - 1)
            {
                continue;
            }

            var term = raft.TermAt(i);
            if (term == 0)
            {
                continue;
            }

            MaxCommittedTerm = Math.Max(MaxCommittedTerm, term);

            if (i < (ulong)_committedTerm.Count)
            {
                _committedInTerm[(int)i] = Math.Min(_committedInTerm[(int)i], raft.Term);
                if (_committedTerm[(int)i] == 0)
                {
                    _committedTerm[(int)i] = term;
                }
                else if (_committedTerm[(int)i] != term)
                {
                    throw new SimulationViolation($"state machine safety: node {node} committed t{term} at {i}, where t{_committedTerm[(int)i]} was committed before");
                }
            }
            else if (i == (ulong)_committedTerm.Count)
            {
                _committedTerm.Add(term);
                _committedInTerm.Add(raft.Term);
            }
            else
            {
                // A node restored from a snapshot may skip ahead; what it cannot tell is recorded as 0 (unknown)
                // and filled in by the next node that commits it.
                while ((ulong)_committedTerm.Count < i)
                {
                    var t = raft.TermAt((ulong)_committedTerm.Count);
                    _committedTerm.Add(t);
                    _committedInTerm.Add(raft.Term);
                }

                _committedTerm.Add(term);
                _committedInTerm.Add(raft.Term);
            }
        }
    }

    /// <summary>Every node applies the same entry at each index.</summary>
    public void OnApplied(int node, in Entry e)
    {
        if (e.Index < (ulong)_applied.Count)
        {
            var known = _applied[(int)e.Index];
            if (known.Term != e.Term || known.Type != e.Type || !known.Data.Span.SequenceEqual(e.Data.Span))
            {
                throw new SimulationViolation($"state machine safety: node {node} applied ({e.Index}, t{e.Term}) but ({e.Index}, t{known.Term}) was applied elsewhere");
            }
        }
        else if (e.Index == (ulong)_applied.Count)
        {
            _applied.Add((e.Term, e.Type, e.Data));
        }
        else
        {
            throw new SimulationViolation($"state machine safety: node {node} applied {e.Index} before anyone applied {_applied.Count}");
        }

        if (e.Index < (ulong)_committedTerm.Count && _committedTerm[(int)e.Index] != 0 && _committedTerm[(int)e.Index] != e.Term)
        {
            throw new SimulationViolation($"state machine safety: node {node} applied ({e.Index}, t{e.Term}) but t{_committedTerm[(int)e.Index]} is committed there");
        }
    }

    public bool TryGetApplied(ulong index, out (ulong Term, EntryType Type, ReadOnlyMemory<byte> Data) entry)
    {
        if (index < (ulong)_applied.Count)
        {
            entry = _applied[(int)index];
            return true;
        }

        entry = default;
        return false;
    }

    public ulong MaxApplied => (ulong)_applied.Count - 1;
}

/// <summary>A checker found a broken property; the message says which and where.</summary>
internal sealed class SimulationViolation : Exception
{
    public SimulationViolation()
    {
    }

    public SimulationViolation(string message)
        : base(message)
    {
    }

    public SimulationViolation(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
