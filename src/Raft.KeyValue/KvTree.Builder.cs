namespace Raft.KeyValue;

internal sealed partial class KvTree
{
    /// <summary>
    /// Builds a frozen tree from keys given in ascending order, in O(n): leaves are filled in turn and each level of
    /// branches is built over the one below. The number of keys is known beforehand (an image's header says it), so
    /// leaves and branches are filled evenly and full, the last ones no emptier than the others.
    /// </summary>
    /// <remarks>Nothing is allocated for keys not yet given, so a count that lies costs nothing before it is caught.</remarks>
    internal sealed class Builder
    {
        private readonly int _count;
        private readonly int _leafCapacity;
        private readonly int _branchCapacity;
        private readonly long _epoch = NextEpoch();

        // Leaves [0, _fuller) get one key more than the others.
        private readonly int _perLeaf;
        private readonly int _fuller;
        private readonly List<Node> _leaves = [];
        private readonly List<string> _lowerBounds = [];
        private Leaf? _leaf;
        private int _added;

        public Builder(int count)
            : this(count, DefaultCapacity, DefaultCapacity)
        {
        }

        public Builder(int count, int leafCapacity, int branchCapacity)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(count);
            ArgumentOutOfRangeException.ThrowIfLessThan(leafCapacity, CapacityMin);
            ArgumentOutOfRangeException.ThrowIfLessThan(branchCapacity, CapacityMin);
            _count = count;
            _leafCapacity = leafCapacity;
            _branchCapacity = branchCapacity;
            var leaves = Groups(count, leafCapacity);
            (_perLeaf, _fuller) = leaves == 0 ? (0, 0) : Math.DivRem(count, leaves);
        }

        /// <summary>Adds the next key; false (nothing added) when it does not come after the previous one.</summary>
        public bool TryAdd(string key, KvValue value)
        {
            ArgumentNullException.ThrowIfNull(key);
            if (_added == _count)
            {
                throw new InvalidOperationException($"more keys than the {_count} the builder was made for");
            }

            if (_leaf is not null && string.CompareOrdinal(_leaf.Keys[_leaf.Count - 1], key) >= 0)
            {
                return false;
            }

            if (_leaf is null || _leaf.Count == _perLeaf + (_leaves.Count <= _fuller ? 1 : 0))
            {
                _leaf = new Leaf(_leafCapacity, _epoch);
                _leaves.Add(_leaf);
                _lowerBounds.Add(key);
            }

            _leaf.Keys[_leaf.Count] = key;
            _leaf.Values[_leaf.Count] = value;
            _leaf.Count++;
            _added++;
            return true;
        }

        public Frozen Build()
        {
            if (_added != _count)
            {
                throw new InvalidOperationException($"{_added} keys added to a builder made for {_count}");
            }

            if (_count == 0)
            {
                return new Frozen(new Leaf(_leafCapacity, _epoch), 1, 0);
            }

            foreach (var leaf in _leaves)
            {
                Reprefix(leaf, headsCurrent: false);
            }

            var level = _leaves;
            var lowerBounds = _lowerBounds;
            var height = 1;
            while (level.Count > 1)
            {
                var groups = Groups(level.Count, _branchCapacity);
                var (perBranch, fuller) = Math.DivRem(level.Count, groups);
                var above = new List<Node>(groups);
                var aboveBounds = new List<string>(groups);
                var next = 0;
                for (var group = 0; group < groups; group++)
                {
                    var branch = new Branch(_branchCapacity, _epoch) { Count = perBranch + (group < fuller ? 1 : 0) };
                    level.CopyTo(next, branch.Children, 0, branch.Count);
                    lowerBounds.CopyTo(next, branch.Keys, 0, branch.Count);
                    Reprefix(branch, headsCurrent: false);
                    above.Add(branch);
                    aboveBounds.Add(lowerBounds[next]);
                    next += branch.Count;
                }

                level = above;
                lowerBounds = aboveBounds;
                height++;
            }

            return new Frozen(level[0], height, _count);
        }

        private static int Groups(int items, int capacity) => (int)(((long)items + capacity - 1) / capacity);
    }
}
