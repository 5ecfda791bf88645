namespace Raft.KeyValue;

/// <summary>
/// The store's keys: an ordered map from string keys (ordinal UTF-16 order) to <see cref="KvValue"/>, a B+tree whose
/// leaves hold keys and values in arrays (no object per key). It can be frozen in O(1) (<see cref="Freeze"/>): the
/// frozen tree is never written again, so another thread may read it while this one goes on writing.
/// </summary>
/// <remarks>
/// <para>Searching a node compares heads before keys: the keys of a node share their first
/// <see cref="Node.PrefixLength"/> chars, and the node keeps, beside each key, the 4 chars that follow them packed in a
/// <see cref="ulong"/> (its head), so a binary search reads the node's own arrays and follows a key's string only to
/// tell apart keys with one head, or to confirm a match: about 2 strings a node instead of log2(64) = 6, which in a
/// large tree are as many cache misses.</para>
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
            return ref leaf.Values[slot];
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
        removed = leaf.Values[slot];
        RemoveAt(leaf.Keys, leaf.Count, slot);
        RemoveAt(leaf.Heads, leaf.Count, slot);
        RemoveAt(leaf.Values, leaf.Count, slot);
        leaf.Count--;
        Count--;

        // An empty leaf leaves its parent, and so on up while a branch is left with no child.
        var emptied = leaf.Count == 0;
        for (var level = _height - 2; level >= 0 && emptied; level--)
        {
            var branch = _pathBranches[level];
            RemoveAt(branch.Keys, branch.Count, _pathSlots[level]);
            RemoveAt(branch.Heads, branch.Count, _pathSlots[level]);
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
        value = slot >= 0 ? leaf.Values[slot] : default;
        return slot >= 0;
    }

    // The key's slot among the node's keys, or the complement of where it would go.
    private static int Search(Node node, ReadOnlySpan<char> key)
    {
        var keys = node.Keys;
        var low = node.FirstKey;
        var high = node.Count - 1;
        var prefix = node.PrefixLength;
        if (low <= high && prefix > 0)
        {
            // A key without the prefix the node's keys share comes before or after all of them.
            var order = ComparePrefix(key, keys[low], prefix);
            if (order != 0)
            {
                return order < 0 ? ~low : ~(high + 1);
            }
        }

        var head = Head(key, prefix);
        var heads = node.Heads;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            var order = heads[middle].CompareTo(head);
            if (order == 0)
            {
                order = keys[middle].AsSpan(prefix).SequenceCompareTo(key[prefix..]);
                if (order == 0)
                {
                    return middle;
                }
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
    private static int ChildSlot(Branch branch, ReadOnlySpan<char> key) => Search(branch, key) is var slot && slot >= 0 ? slot : ~slot - 1;

    // The order of a key against the first prefixLength chars of a node's key, a key shorter than those that starts
    // them coming first.
    private static int ComparePrefix(ReadOnlySpan<char> key, string member, int prefixLength)
    {
        var compared = Math.Min(prefixLength, key.Length);
        var order = key[..compared].SequenceCompareTo(member.AsSpan(0, compared));
        return order != 0 || key.Length >= prefixLength ? order : -1;
    }

    // The 4 chars of a key from an offset, big-endian, so heads order as the chars do; missing chars count as 0, so
    // a head tells apart keys that differ in those chars and a tie sends the comparison to the keys themselves.
    private static ulong Head(ReadOnlySpan<char> key, int offset)
    {
        ulong head = 0;
        for (var i = offset; i < offset + 4; i++)
        {
            head = (head << 16) | (i < key.Length ? key[i] : 0u);
        }

        return head;
    }

    // Before a new key joins a node: the node's keys keep a prefix in common only as long as the new one shares it.
    private static void Admit(Node node, string key)
    {
        if (node.FirstKey >= node.Count)
        {
            node.PrefixLength = 0;
            return;
        }

        var shared = key.AsSpan().CommonPrefixLength(node.Keys[node.FirstKey].AsSpan(0, node.PrefixLength));
        if (shared < node.PrefixLength)
        {
            node.PrefixLength = shared;
            ComputeHeads(node);
        }
    }

    // Sets a node's prefix to all its keys share (what the first and the last share, as they are in order) and its
    // heads to follow it. Heads already computed for the node's prefix are kept when it stays.
    private static void Reprefix(Node node, bool headsCurrent)
    {
        var first = node.FirstKey;
        var prefix = first < node.Count ? node.Keys[first].AsSpan().CommonPrefixLength(node.Keys[node.Count - 1]) : 0;
        if (!headsCurrent || prefix != node.PrefixLength)
        {
            node.PrefixLength = prefix;
            ComputeHeads(node);
        }
    }

    private static void ComputeHeads(Node node)
    {
        for (var i = node.FirstKey; i < node.Count; i++)
        {
            node.Heads[i] = Head(node.Keys[i], node.PrefixLength);
        }
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
        Admit(leaf, key);
        var head = Head(key, leaf.PrefixLength);
        if (leaf.Count < leaf.Keys.Length)
        {
            InsertAt(leaf.Keys, leaf.Count, slot, key);
            InsertAt(leaf.Heads, leaf.Count, slot, head);
            InsertAt(leaf.Values, leaf.Count, slot, default);
            leaf.Count++;
            return ref leaf.Values[slot];
        }

        var right = new Leaf(_leafCapacity, _epoch);
        var leftCount = SplitPoint(leaf.Count, slot);
        SplitInsert(leaf.Keys, right.Keys, leaf.Count, slot, leftCount, key);
        SplitInsert(leaf.Heads, right.Heads, leaf.Count, slot, leftCount, head);
        SplitInsert(leaf.Values, right.Values, leaf.Count, slot, leftCount, default);
        right.Count = leaf.Count + 1 - leftCount;
        leaf.Count = leftCount;
        SplitPrefix(leaf, right);
        AddChild(_height - 2, right, right.Keys[0]);
        return ref slot < leftCount ? ref leaf.Values[slot] : ref right.Values[slot - leftCount];
    }

    // The two halves of a split keep the prefix they shared, with the heads after it, and may share more: the heads
    // are computed again only then.
    private static void SplitPrefix(Node left, Node right)
    {
        right.PrefixLength = left.PrefixLength;
        Reprefix(left, headsCurrent: true);
        Reprefix(right, headsCurrent: true);
    }

    // Adds a node split off to the right of the path's child at a level, splitting full branches on the way up and
    // the root last.
    private void AddChild(int level, Node right, string lowerBound)
    {
        for (; level >= 0; level--)
        {
            var parent = _pathBranches[level];
            var slot = _pathSlots[level] + 1;
            Admit(parent, lowerBound);
            var head = Head(lowerBound, parent.PrefixLength);
            if (parent.Count < parent.Children.Length)
            {
                InsertAt(parent.Keys, parent.Count, slot, lowerBound);
                InsertAt(parent.Heads, parent.Count, slot, head);
                InsertAt(parent.Children, parent.Count, slot, right);
                parent.Count++;
                return;
            }

            var sibling = new Branch(_branchCapacity, _epoch);
            var leftCount = SplitPoint(parent.Count, slot);
            SplitInsert(parent.Keys, sibling.Keys, parent.Count, slot, leftCount, lowerBound);
            SplitInsert(parent.Heads, sibling.Heads, parent.Count, slot, leftCount, head);
            SplitInsert(parent.Children, sibling.Children, parent.Count, slot, leftCount, right);
            sibling.Count = parent.Count + 1 - leftCount;
            parent.Count = leftCount;
            SplitPrefix(parent, sibling);

            // The sibling's first key is the lower bound of its first child, and so its own.
            right = sibling;
            lowerBound = sibling.Keys[0];
        }

        var root = new Branch(_branchCapacity, _epoch) { Count = 2 };
        root.Children[0] = _root;
        root.Children[1] = right;
        root.Keys[1] = lowerBound;
        root.Heads[1] = Head(lowerBound, 0);
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

    /// <summary>A key and its value.</summary>
    internal readonly record struct Entry(string Key, KvValue Value);

    /// <summary>
    /// Keys[<see cref="FirstKey"/>, Count) are the node's keys, in order; they share their first
    /// <see cref="PrefixLength"/> chars, and Heads[i] is the head of Keys[i] after them. The arrays' length is the
    /// node's capacity; slots from Count on are cleared.
    /// </summary>
    internal abstract class Node
    {
        /// <summary>The epoch the node was created in; only a tree of that epoch may write it.</summary>
        public readonly long Epoch;

        /// <summary>0 in a leaf; 1 in a branch, whose Keys[0] is not one of its keys.</summary>
        public readonly int FirstKey;

        public readonly string[] Keys;

        public readonly ulong[] Heads;

        public int Count;

        public int PrefixLength;

        protected Node(int capacity, long epoch, int firstKey)
        {
            Epoch = epoch;
            FirstKey = firstKey;
            Keys = new string[capacity];
            Heads = new ulong[capacity];
        }

        protected Node(Node source, long epoch)
        {
            Epoch = epoch;
            FirstKey = source.FirstKey;
            Keys = (string[])source.Keys.Clone();
            Heads = (ulong[])source.Heads.Clone();
            Count = source.Count;
            PrefixLength = source.PrefixLength;
        }
    }

    /// <summary>Values[i] is the value of Keys[i].</summary>
    internal sealed class Leaf : Node
    {
        public readonly KvValue[] Values;

        public Leaf(int capacity, long epoch)
            : base(capacity, epoch, firstKey: 0)
        {
            Values = new KvValue[capacity];
        }

        public Leaf(Leaf source, long epoch)
            : base(source, epoch)
        {
            Values = (KvValue[])source.Values.Clone();
        }
    }

    /// <summary>
    /// Children[0, Count); child i holds the keys in [Keys[i], Keys[i + 1]). Keys[0] is not read: child 0's lower
    /// bound is the branch's own, in its parent.
    /// </summary>
    internal sealed class Branch : Node
    {
        public readonly Node[] Children;

        public Branch(int capacity, long epoch)
            : base(capacity, epoch, firstKey: 1)
        {
            Children = new Node[capacity];
        }

        public Branch(Branch source, long epoch)
            : base(source, epoch)
        {
            Children = (Node[])source.Children.Clone();
        }
    }
}
