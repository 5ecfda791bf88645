using System.Diagnostics.CodeAnalysis;

namespace Raft.KeyValue;

internal sealed partial class KvTree
{
    /// <summary>Keys in order from the first at or after <paramref name="start"/>; valid until the next write.</summary>
    public Enumerator From(ReadOnlySpan<char> start) => new(_root, _height, start, inclusive: true);

    /// <summary>Keys in order from the first strictly after <paramref name="key"/>; valid until the next write.</summary>
    public Enumerator After(ReadOnlySpan<char> key) => new(_root, _height, key, inclusive: false);

    /// <summary>A tree as it was when frozen: never written again, readable from any thread, by several at once.</summary>
    internal readonly struct Frozen
    {
        internal Frozen(Node root, int height, int count)
        {
            Root = root;
            Height = height;
            Count = count;
        }

        public int Count { get; }

        internal Node? Root { get; }

        internal int Height { get; }

        public bool TryGetValue(ReadOnlySpan<char> key, out KvValue value) => KvTree.TryGetValue(Root!, Height, key, out value);

        /// <summary>Keys in order from the first at or after <paramref name="start"/>.</summary>
        public Enumerator From(ReadOnlySpan<char> start) => new(Root!, Height, start, inclusive: true);

        /// <summary>Keys in order from the first strictly after <paramref name="key"/>.</summary>
        public Enumerator After(ReadOnlySpan<char> key) => new(Root!, Height, key, inclusive: false);

        /// <inheritdoc cref="KvTree.Validate"/>
        public void Validate()
        {
            if (Root is null || Height < 1)
            {
                ThrowBroken("no root");
            }

            if (ValidateNode(Root, Height, null, null, isRoot: true) != Count)
            {
                ThrowBroken($"the leaves hold another number of keys than the count, {Count}");
            }
        }

        // Checks a subtree whose keys must lie in [lower, upper) (null: unbounded); returns its number of keys.
        private static int ValidateNode(Node node, int levels, string? lower, string? upper, bool isRoot)
        {
            ValidateHeads(node);
            if (levels == 1)
            {
                var leaf = node as Leaf ?? throw new InvalidOperationException("broken tree: a branch where a leaf belongs");
                if (leaf.Count == 0 && !isRoot)
                {
                    ThrowBroken("an empty leaf below the root");
                }

                for (var i = 0; i < leaf.Keys.Length; i++)
                {
                    var key = leaf.Keys[i];
                    if (i >= leaf.Count ? key is not null || leaf.Values[i] != default : !InRange(key, i == 0 ? lower : leaf.Keys[i - 1], upper, i > 0))
                    {
                        ThrowBroken($"leaf slot {i} of {leaf.Count} out of order or not cleared");
                    }
                }

                return leaf.Count;
            }

            var branch = node as Branch ?? throw new InvalidOperationException("broken tree: a leaf where a branch belongs");
            if (branch.Count == 0 || (isRoot && branch.Count == 1))
            {
                ThrowBroken($"a branch with {branch.Count} children {(isRoot ? "at" : "below")} the root");
            }

            var keys = 0;
            for (var i = 0; i < branch.Children.Length; i++)
            {
                if (i >= branch.Count)
                {
                    if (branch.Children[i] is not null || branch.Keys[i] is not null)
                    {
                        ThrowBroken($"branch slot {i} of {branch.Count} not cleared");
                    }

                    continue;
                }

                var childLower = i == 0 ? lower : branch.Keys[i];
                if (i > 0 && !InRange(childLower!, i == 1 ? lower : branch.Keys[i - 1], upper, i > 1))
                {
                    ThrowBroken($"branch bound {i} out of order");
                }

                var childUpper = i + 1 < branch.Count ? branch.Keys[i + 1] : upper;
                keys += ValidateNode(branch.Children[i], levels - 1, childLower, childUpper, isRoot: false);
            }

            return keys;
        }

        // The node's keys share its prefix, and each head is the 4 chars after it.
        private static void ValidateHeads(Node node)
        {
            for (var i = node.FirstKey; i < node.Count; i++)
            {
                var key = node.Keys[i];
                if (key is null || key.Length < node.PrefixLength
                    || !key.AsSpan(0, node.PrefixLength).SequenceEqual(node.Keys[node.FirstKey].AsSpan(0, node.PrefixLength))
                    || node.Heads[i] != Head(key, node.PrefixLength))
                {
                    ThrowBroken($"key {i} of {node.Count} does not share the node's prefix of {node.PrefixLength} chars or has another head");
                }
            }
        }

        // lower <= key < upper, or lower < key when strict; a null bound does not bound.
        private static bool InRange(string key, string? lower, string? upper, bool strict) =>
            key is not null
            && (lower is null || string.CompareOrdinal(lower, key) is var order && (strict ? order < 0 : order <= 0))
            && (upper is null || string.CompareOrdinal(key, upper) < 0);

        [DoesNotReturn]
        private static void ThrowBroken(string what) => throw new InvalidOperationException($"broken tree: {what}");
    }

    /// <summary>
    /// Walks keys in order, from a start key on (the start itself included or not). The start is found by one
    /// descent, as a lookup is, whatever the number of keys before it. A struct, so a walk allocates only its path
    /// (one small array, none for a tree that is a single leaf).
    /// </summary>
    internal struct Enumerator
    {
        // The branch at each level above the leaf and the slot being walked in it.
        private readonly (Branch Branch, int Slot)[] _path;
        private Leaf _leaf;
        private int _slot;

        internal Enumerator(Node root, int height, ReadOnlySpan<char> start, bool inclusive)
        {
            _path = height > 1 ? new (Branch, int)[height - 1] : [];
            var node = root;
            for (var level = 0; level < _path.Length; level++)
            {
                var branch = (Branch)node;
                var slot = ChildSlot(branch, start);
                _path[level] = (branch, slot);
                node = branch.Children[slot];
            }

            _leaf = (Leaf)node;
            // One slot before the first key to yield, as MoveNext steps before it reads (from a leaf's end into the next).
            var found = Search(_leaf, start);
            _slot = found >= 0 ? (inclusive ? found - 1 : found) : ~found - 1;
        }

        public readonly Entry Current => new(_leaf.Keys[_slot], _leaf.Values[_slot]);

        public readonly Enumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            while (++_slot >= _leaf.Count)
            {
                if (!NextLeaf())
                {
                    _slot = _leaf.Count;
                    return false;
                }

                _slot = -1;
            }

            return true;
        }

        // Moves to the leftmost leaf of the next subtree of the deepest branch that has one.
        private bool NextLeaf()
        {
            for (var level = _path.Length - 1; level >= 0; level--)
            {
                var (branch, slot) = _path[level];
                if (slot + 1 < branch.Count)
                {
                    _path[level].Slot = slot + 1;
                    var node = branch.Children[slot + 1];
                    for (var below = level + 1; below < _path.Length; below++)
                    {
                        var child = (Branch)node;
                        _path[below] = (child, 0);
                        node = child.Children[0];
                    }

                    _leaf = (Leaf)node;
                    return true;
                }
            }

            return false;
        }
    }
}
