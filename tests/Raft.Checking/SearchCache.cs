namespace Raft.Checking;

/// <summary>
/// Lowe's memo of search nodes already explored: a set of keys, each a short sequence of words (a linearized-set
/// bitset compressed past its all-ones prefix, and the model state). Open addressing over one growable arena, so an
/// entry costs its words and a slot, with no object per entry.
/// </summary>
/// <remarks>Keys are compared word by word: the memo is exact, so a collision can never prune a live branch.</remarks>
internal sealed class SearchCache
{
    private ulong[] _arena = new ulong[1024];
    private int _arenaUsed;

    // Slot i holds an entry's arena offset + 1 (0: empty); its length and hash sit beside it.
    private int[] _offsets = new int[1024];
    private int[] _lengths = new int[1024];
    private ulong[] _hashes = new ulong[1024];

    public int Count { get; private set; }

    /// <summary>Adds <paramref name="key"/>; false when it was already there.</summary>
    public bool Add(ReadOnlySpan<ulong> key)
    {
        if ((Count + 1) * 2 > _offsets.Length)
        {
            Grow();
        }

        var hash = Hash(key);
        var mask = _offsets.Length - 1;
        for (var slot = (int)(hash & (ulong)mask); ; slot = (slot + 1) & mask)
        {
            var offset = _offsets[slot];
            if (offset == 0)
            {
                Store(slot, key, hash);
                return true;
            }

            if (_hashes[slot] == hash && _lengths[slot] == key.Length && key.SequenceEqual(_arena.AsSpan(offset - 1, key.Length)))
            {
                return false;
            }
        }
    }

    private static ulong Hash(ReadOnlySpan<ulong> key)
    {
        var h = 0x9E3779B97F4A7C15UL ^ (ulong)key.Length;
        foreach (var word in key)
        {
            h = ulong.RotateLeft((h ^ word) * 0xBF58476D1CE4E5B9UL, 29);
        }

        h ^= h >> 32;
        h *= 0x94D049BB133111EBUL;
        return h ^ (h >> 29);
    }

    private void Store(int slot, ReadOnlySpan<ulong> key, ulong hash)
    {
        if (_arenaUsed + key.Length > _arena.Length)
        {
            Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _arenaUsed + key.Length));
        }

        key.CopyTo(_arena.AsSpan(_arenaUsed));
        _offsets[slot] = _arenaUsed + 1;
        _lengths[slot] = key.Length;
        _hashes[slot] = hash;
        _arenaUsed += key.Length;
        Count++;
    }

    private void Grow()
    {
        var offsets = _offsets;
        var lengths = _lengths;
        var hashes = _hashes;
        _offsets = new int[offsets.Length * 2];
        _lengths = new int[offsets.Length * 2];
        _hashes = new ulong[offsets.Length * 2];
        var mask = _offsets.Length - 1;
        for (var i = 0; i < offsets.Length; i++)
        {
            if (offsets[i] == 0)
            {
                continue;
            }

            var slot = (int)(hashes[i] & (ulong)mask);
            while (_offsets[slot] != 0)
            {
                slot = (slot + 1) & mask;
            }

            _offsets[slot] = offsets[i];
            _lengths[slot] = lengths[i];
            _hashes[slot] = hashes[i];
        }
    }
}
