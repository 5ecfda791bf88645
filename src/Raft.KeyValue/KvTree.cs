namespace Raft.KeyValue;

/// <summary>
/// The store's keys: an ordered map from string keys (ordinal UTF-16 order) to <see cref="KvValue"/>, a B+tree whose
/// leaves hold keys and values side by side in one array. It can be frozen in O(1) (<see cref="Freeze"/>): the frozen
/// tree is never written again, so another thread may read it while this one goes on writing.
/// </summary>
/// <remarks>
/// <para>Copy-on-write by epoch: every node carries the epoch it was created in. A node of the tree's current epoch
/// was created since the last freeze and belongs to this tree alone, so it is written in place; a node of any other
/// epoch (from before a freeze, or adopted from a loaded image) may be shared with a frozen tree, so the first write
/// that reaches it copies it, and the path above it, into the current epoch. Epochs are unique in the process, so a
/// node is never mistaken for another tree's.</para>
/// <para>Not thread-safe: one thread owns the tree. A <see cref="Frozen"/> tree may be read from any thread, by
/// several at once; it must reach them through something that orders memory (a queue, a task), as anything handed
/// to another thread does.</para>
/// <para>Deletion removes empty nodes and collapses a root with one child, but does not merge or rebalance
/// underfull nodes: a tree that shrinks keeps its height until it is rebuilt (<see cref="Builder"/>). Lookups stay
/// O(height), and height grows only by root splits, which need full nodes.</para>
/// </remarks>
internal sealed partial class KvTree
{
    /// <summary>Entries per leaf and children per branch of the store's tree.</summary>
    public const int DefaultCapacity = 64;

    /// <summary>The smallest node capacity: a split must leave at least two entries on its left.</summary>
    public const int CapacityMin = 4;

    private static long _lastEpoch;

    private readonly int _leafCapacity;
    private readonly int _branchCapacity;
    private Node _root;
    private int _height;
    private long _epoch;

    // The path of the last descent: the branch at each level above the leaf and the slot taken in it. Reused by
    // every write, so a write allocates nothing for it.
    private Branch[] _pathBranches = [];
    private int[] _pathSlots = [];

    public KvTree()
        : this(DefaultCapacity, DefaultCapacity)
    {
    }

    public KvTree(int leafCapacity, int branchCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(leafCapacity, CapacityMin);
        ArgumentOutOfRangeException.ThrowIfLessThan(branchCapacity, CapacityMin);
        _leafCapacity = leafCapacity;
        _branchCapacity = branchCapacity;
        _epoch = NextEpoch();
        _root = new Leaf(_leafCapacity, _epoch);
        _height = 1;
    }

    public int Count { get; private set; }

    /// <summary>Levels from the root to the leaves; 1 when the root is a leaf.</summary>
    public int Height => _height;

    public bool TryGetValue(ReadOnlySpan<char> key, out KvValue value) => TryGetValue(_root, _height, key, out value);

    /// <summary>
    /// A reference to the value of <paramref name="key"/>, added with a default value (the key copied into a new
    /// string) when absent. The reference is valid until the next write to the tree.
    /// </summary>
    public ref KvValue GetValueRefOrAddDefault(ReadOnlySpan<char> key, out bool exists)
    {
        var leaf = Descend(key);
        var slot = Search(leaf, key);
        leaf = MakePathWritable(leaf);
        exists = slot >= 0;
        if (exists)
        {
            return ref leaf.Entries[slot].Value;
        }

        Count++;
        return ref Insert(leaf, ~slot, new string(key));
    }

    public bool Remove(ReadOnlySpan<char> key, out KvValue removed)
    {
        var leaf = Descend(key);
        var slot = Search(leaf, key);
        if (slot < 0)
        {
            removed = default;
            return false;
        }

        leaf = MakePathWritable(leaf);
        removed = leaf.Entries[slot].Value;
        RemoveAt(leaf.Entries, leaf.Count, slot);
        leaf.Count--;
        Count--;

        // An empty leaf leaves its parent, and so on up while a branch is left with no child.
        var emptied = leaf.Count == 0;
        for (var level = _height - 2; level >= 0 && emptied; level--)
        {
            var branch = _pathBranches[level];
            RemoveAt(branch.Keys, branch.Count, _pathSlots[level]);
            RemoveAt(branch.Children, branch.Count, _pathSlots[level]);
            branch.Count--;
            emptied = branch.Count == 0;
        }

        while (_height > 1 && ((Branch)_root).Count <= 1)
        {
            var root = (Branch)_root;
            _root = root.Count == 1 ? root.Children[0] : new Leaf(_leafCapacity, _epoch);
            _height = root.Count == 1 ? _height - 1 : 1;
        }

        return true;
    }

    /// <summary>
    /// Freezes the tree as it is now, in O(1): the returned tree is never written again, and this one goes on,
    /// copying each shared node on its first write.
    /// </summary>
    public Frozen Freeze()
    {
        var frozen = new Frozen(_root, _height, Count);
        _epoch = NextEpoch();
        return frozen;
    }

    /// <summary>Makes this tree the frozen one, in O(1): their nodes are shared, and copied here on first write.</summary>
    public void Adopt(Frozen frozen)
    {
        _root = frozen.Root ?? throw new ArgumentException("a default frozen tree holds no root", nameof(frozen));
        _height = frozen.Height;
        Count = frozen.Count;
        _epoch = NextEpoch();
    }

    /// <summary>
    /// Checks every invariant of the tree's shape (ordering, separators, no empty node below the root, no root with a
    /// single child, leaves all at one depth, the count) in O(n); throws <see cref="InvalidOperationException"/>.
    /// </summary>
    public void Validate() => new Frozen(_root, _height, Count).Validate();

    private static long NextEpoch() => Interlocked.Increment(ref _lastEpoch);

    private static bool TryGetValue(Node root, int height, ReadOnlySpan<char> key, out KvValue value)
    {
        var node = root;
        for (var level = 1; level < height; level++)
        {
            var branch = (Branch)node;
            node = branch.Children[ChildSlot(branch, key)];
        }

        var leaf = (Leaf)node;
        var slot = Search(leaf, key);
        value = slot >= 0 ? leaf.Entries[slot].Value : default;
        return slot >= 0;
    }

    // The entry's slot in the leaf, or the complement of where it would go.
    private static int Search(Leaf leaf, ReadOnlySpan<char> key)
    {
        var entries = leaf.Entries;
        var low = 0;
        var high = leaf.Count - 1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            var order = entries[middle].Key.AsSpan().SequenceCompareTo(key);
            if (order == 0)
            {
                return middle;
            }

            if (order < 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return ~low;
    }

    // The child whose range holds the key: the last one whose lower bound is at or below it (child 0 has none).
    private static int ChildSlot(Branch branch, ReadOnlySpan<char> key)
    {
        var keys = branch.Keys;
        var low = 1;
        var high = branch.Count - 1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            if (keys[middle].AsSpan().SequenceCompareTo(key) <= 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return low - 1;
    }

    // Walks from the root to the key's leaf, recording the path for a write that may follow.
    private Leaf Descend(ReadOnlySpan<char> key)
    {
        if (_pathBranches.Length < _height - 1)
        {
            _pathBranches = new Branch[_height - 1];
            _pathSlots = new int[_height - 1];
        }

        var node = _root;
        for (var level = 0; level < _height - 1; level++)
        {
            var branch = (Branch)node;
            var slot = ChildSlot(branch, key);
            _pathBranches[level] = branch;
            _pathSlots[level] = slot;
            node = branch.Children[slot];
        }

        return (Leaf)node;
    }

    // Copies into the current epoch every node of the recorded path that is not in it yet, top down, so each copy
    // is linked into a parent that is already this tree's own; returns the leaf to write.
    private Leaf MakePathWritable(Leaf leaf)
    {
        for (var level = 0; level < _height - 1; level++)
        {
            var branch = _pathBranches[level];
            if (branch.Epoch != _epoch)
            {
                branch = new Branch(branch, _epoch);
                Link(level, branch);
                _pathBranches[level] = branch;
            }
        }

        if (leaf.Epoch != _epoch)
        {
            leaf = new Leaf(leaf, _epoch);
            Link(_height - 1, leaf);
        }

        return leaf;
    }

    private void Link(int level, Node node)
    {
        if (level == 0)
        {
            _root = node;
        }
        else
        {
            _pathBranches[level - 1].Children[_pathSlots[level - 1]] = node;
        }
    }

    // Inserts a new key at a slot of a writable leaf, splitting it when full; returns the new entry's value.
    private ref KvValue Insert(Leaf leaf, int slot, string key)
    {
        var entry = new Entry(key, default);
        if (leaf.Count < leaf.Entries.Length)
        {
            InsertAt(leaf.Entries, leaf.Count, slot, entry);
            leaf.Count++;
            return ref leaf.Entries[slot].Value;
        }

        var right = new Leaf(_leafCapacity, _epoch);
        var leftCount = SplitPoint(leaf.Count, slot);
        SplitInsert(leaf.Entries, right.Entries, leaf.Count, slot, leftCount, entry);
        right.Count = leaf.Count + 1 - leftCount;
        leaf.Count = leftCount;
        AddChild(_height - 2, right, right.Entries[0].Key);
        return ref slot < leftCount ? ref leaf.Entries[slot].Value : ref right.Entries[slot - leftCount].Value;
    }

    // Adds a node split off to the right of the path's child at a level, splitting full branches on the way up and
    // the root last.
    private void AddChild(int level, Node right, string lowerBound)
    {
        for (; level >= 0; level--)
        {
            var parent = _pathBranches[level];
            var slot = _pathSlots[level] + 1;
            if (parent.Count < parent.Children.Length)
            {
                InsertAt(parent.Keys, parent.Count, slot, lowerBound);
                InsertAt(parent.Children, parent.Count, slot, right);
                parent.Count++;
                return;
            }

            var sibling = new Branch(_branchCapacity, _epoch);
            var leftCount = SplitPoint(parent.Count, slot);
            SplitInsert(parent.Keys, sibling.Keys, parent.Count, slot, leftCount, lowerBound);
            SplitInsert(parent.Children, sibling.Children, parent.Count, slot, leftCount, right);
            sibling.Count = parent.Count + 1 - leftCount;
            parent.Count = leftCount;

            // The sibling's first key is the lower bound of its first child, and so its own.
            right = sibling;
            lowerBound = sibling.Keys[0];
        }

        var root = new Branch(_branchCapacity, _epoch) { Count = 2 };
        root.Children[0] = _root;
        root.Children[1] = right;
        root.Keys[1] = lowerBound;
        _root = root;
        _height++;
    }

    // How many of a full node's items, with one more inserted at a slot, stay on the left. Appending past the last
    // item keeps the node full and starts the right one with the new item alone, so keys written in ascending order
    // (the common "sequence" key) fill nodes instead of leaving them half empty.
    private static int SplitPoint(int count, int slot) => slot == count ? count : (count + 1) / 2;

    private static void InsertAt<T>(T[] items, int count, int slot, T item)
    {
        Array.Copy(items, slot, items, slot + 1, count - slot);
        items[slot] = item;
    }

    // Removes an item and clears the slot it leaves, so the node holds no reference to what it no longer has.
    private static void RemoveAt<T>(T[] items, int count, int slot)
    {
        Array.Copy(items, slot + 1, items, slot, count - slot - 1);
        items[count - 1] = default!;
    }

    // Splits a full array of count items, with item inserted at slot, into the first leftCount (left stays in place)
    // and the rest (from the start of right); clears the slots left gives up.
    private static void SplitInsert<T>(T[] left, T[] right, int count, int slot, int leftCount, T item)
    {
        if (slot < leftCount)
        {
            Array.Copy(left, leftCount - 1, right, 0, count - leftCount + 1);
            Array.Copy(left, slot, left, slot + 1, leftCount - 1 - slot);
            left[slot] = item;
        }
        else
        {
            var rightSlot = slot - leftCount;
            Array.Copy(left, leftCount, right, 0, rightSlot);
            right[rightSlot] = item;
            Array.Copy(left, slot, right, rightSlot + 1, count - slot);
        }

        Array.Clear(left, leftCount, count - leftCount);
    }

    /// <summary>A key and its value, as a leaf holds them.</summary>
    internal struct Entry(string key, KvValue value)
    {
        public readonly string Key = key;
        public KvValue Value = value;
    }

    internal abstract class Node(long epoch)
    {
        /// <summary>The epoch the node was created in; only a tree of that epoch may write it.</summary>
        public readonly long Epoch = epoch;

        public int Count;
    }

    /// <summary>Entries [0, Count) in key order; the array's length is the leaf's capacity.</summary>
    internal sealed class Leaf : Node
    {
        public readonly Entry[] Entries;

        public Leaf(int capacity, long epoch)
            : base(epoch)
        {
            Entries = new Entry[capacity];
        }

        public Leaf(Leaf source, long epoch)
            : base(epoch)
        {
            Entries = (Entry[])source.Entries.Clone();
            Count = source.Count;
        }
    }

    /// <summary>
    /// Children [0, Count); child i holds the keys in [Keys[i], Keys[i + 1]). Keys[0] is not read: child 0's lower
    /// bound is the branch's own, in its parent.
    /// </summary>
    internal sealed class Branch : Node
    {
        public readonly string[] Keys;
        public readonly Node[] Children;

        public Branch(int capacity, long epoch)
            : base(epoch)
        {
            Keys = new string[capacity];
            Children = new Node[capacity];
        }

        public Branch(Branch source, long epoch)
            : base(epoch)
        {
            Keys = (string[])source.Keys.Clone();
            Children = (Node[])source.Children.Clone();
            Count = source.Count;
        }
    }
}
