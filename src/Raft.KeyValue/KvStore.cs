using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;

namespace Raft.KeyValue;

/// <summary>A stored value with its versions. <see cref="Value"/> is never written after it is stored.</summary>
/// <param name="Value">The value's bytes.</param>
/// <param name="Version">The log index of the key's last write.</param>
/// <param name="CreateIndex">The log index that created the key (after its last delete, if any).</param>
public readonly record struct KvValue(byte[] Value, ulong Version, ulong CreateIndex);

/// <summary>One key of a listing.</summary>
public readonly record struct KvListItem(string Key, KvValue Value);

/// <summary>How a command turned out; identical on every replica because it depends only on the log.</summary>
public enum KvApplyStatus : byte
{
    Ok,

    /// <summary>A delete of a key that does not exist: nothing changed.</summary>
    NotFound,

    /// <summary>The bytes were not a valid command: nothing changed.</summary>
    Invalid,
}

/// <summary>The outcome of one applied command.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Index">The log index of the command.</param>
/// <param name="Version">For a put, the key's new version (= <paramref name="Index"/>); for a delete, the version removed.</param>
/// <param name="CreateIndex">For a put, the index that created the key.</param>
public readonly record struct KvApplyResult(KvApplyStatus Status, ulong Index, ulong Version, ulong CreateIndex);

/// <summary>
/// The replicated key-value state machine. Deterministic: its state is a function of the commands applied, in
/// log order, and of nothing else (no clock, no randomness, no culture). Keys are UTF-8 on the wire and ordered
/// by ordinal UTF-16 comparison in listings.
/// </summary>
/// <remarks>
/// Not thread-safe: the node loop owns it. Values handed out are shared, immutable arrays, so a caller may keep
/// one after the loop moves on. Apply allocates only for what it stores: the value copy, and a key string
/// when the key is new.
/// </remarks>
public sealed class KvStore
{
    // Snapshot layout, little-endian:
    //
    //  0        4        8                16               24
    //  +--------+--------+----------------+----------------+
    //  | magic  | format | applied index  | key count      |   header
    //  | "RKVS" | u32 = 1| u64            | u64            |
    //  +--------+--------+----------------+----------------+
    //  then per key, in ordinal key order:
    //  +---------+-----------+----------+-----------+----------+--------------+
    //  | K (u16) | key (K)   | V (u32)  | value (V) | version  | create index |
    //  |         | UTF-8     |          |           | u64      | u64          |
    //  +---------+-----------+----------+-----------+----------+--------------+
    private const uint SnapshotMagic = 0x53564B52; // "RKVS"
    private const uint SnapshotFormat = 1;
    private const int SnapshotHeaderBytes = 24;
    private const int StackKeyChars = 256;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Dictionary<string, KvValue> _values = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _keys = new(StringComparer.Ordinal);
    private Dictionary<string, KvValue>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public KvStore()
    {
        _lookup = _values.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The index of the last log entry applied (commands and entries the store skips alike).</summary>
    public ulong AppliedIndex { get; private set; }

    public int Count => _values.Count;

    /// <summary>
    /// Applies the command at log <paramref name="index"/>, which must follow <see cref="AppliedIndex"/>; an invalid command
    /// changes nothing but still consumes its index.
    /// </summary>
    public KvApplyResult Apply(ulong index, ReadOnlySpan<byte> command)
    {
        CheckNextIndex(index);
        AppliedIndex = index;
        if (!KvCommandCodec.TryDecode(command, out var cmd))
        {
            return new KvApplyResult(KvApplyStatus.Invalid, index, 0, 0);
        }

        char[]? rented = null;
        var chars = cmd.Key.Length <= StackKeyChars ? stackalloc char[StackKeyChars] : (rented = ArrayPool<char>.Shared.Rent(cmd.Key.Length));
        try
        {
            if (Utf8.ToUtf16(cmd.Key, chars, out _, out var charCount, replaceInvalidSequences: false) != OperationStatus.Done)
            {
                return new KvApplyResult(KvApplyStatus.Invalid, index, 0, 0);
            }

            ReadOnlySpan<char> key = chars[..charCount];
            return cmd.Type switch
            {
                KvCommandType.Put => Put(index, key, cmd.Value),
                KvCommandType.Delete => Delete(index, key),
                _ => new KvApplyResult(KvApplyStatus.Invalid, index, 0, 0),
            };
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Records that the log entry at <paramref name="index"/> carries nothing for the store (a no-op or a membership).</summary>
    public void Skip(ulong index)
    {
        CheckNextIndex(index);
        AppliedIndex = index;
    }

    public bool TryGet(string key, out KvValue value) => _values.TryGetValue(key, out value);

    /// <summary>
    /// Adds to <paramref name="into"/> up to <paramref name="limit"/> keys starting with <paramref name="prefix"/>,
    /// in ordinal order; returns true when more keys match than were added.
    /// </summary>
    public bool List(string prefix, int limit, List<KvListItem> into)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(into);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        if (_keys.Count == 0 || (prefix.Length > 0 && string.CompareOrdinal(prefix, _keys.Max) > 0))
        {
            return false;
        }

        // Every key starting with the prefix lies in [prefix, max]; the view walks only that range of the tree.
        var view = prefix.Length == 0 ? _keys : _keys.GetViewBetween(prefix, _keys.Max!);
        var added = 0;
        foreach (var key in view)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
            {
                break;
            }

            if (added == limit)
            {
                return true;
            }

            into.Add(new KvListItem(key, _values[key]));
            added++;
        }

        return false;
    }

    /// <summary>The whole state as snapshot bytes, taken at <see cref="AppliedIndex"/>.</summary>
    public byte[] Serialize()
    {
        long size = SnapshotHeaderBytes;
        foreach (var key in _keys)
        {
            size += 2 + StrictUtf8.GetByteCount(key) + 4 + _values[key].Value.Length + 16;
        }

        if (size > Array.MaxLength)
        {
            throw new InvalidOperationException($"the state is {size} bytes, more than one snapshot array can hold");
        }

        var buffer = new byte[size];
        var span = buffer.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, SnapshotMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], SnapshotFormat);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], AppliedIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], (ulong)_keys.Count);
        var offset = SnapshotHeaderBytes;
        foreach (var key in _keys)
        {
            var value = _values[key];
            var keyBytes = StrictUtf8.GetBytes(key, span[(offset + 2)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], (ushort)keyBytes);
            offset += 2 + keyBytes;
            BinaryPrimitives.WriteUInt32LittleEndian(span[offset..], (uint)value.Value.Length);
            offset += 4;
            value.Value.CopyTo(span[offset..]);
            offset += value.Value.Length;
            BinaryPrimitives.WriteUInt64LittleEndian(span[offset..], value.Version);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(offset + 8)..], value.CreateIndex);
            offset += 16;
        }

        if (offset != buffer.Length)
        {
            throw new InvalidOperationException($"snapshot sized {buffer.Length} bytes but {offset} were written");
        }

        return buffer;
    }

    /// <summary>
    /// Replaces the whole state with a snapshot's. Checks every length before slicing; on malformed data throws
    /// <see cref="InvalidDataException"/> and leaves the current state untouched.
    /// </summary>
    public void Restore(ReadOnlySpan<byte> snapshot)
    {
        if (snapshot.Length == 0)
        {
            // The empty image of a cluster's initial (index 0) snapshot.
            _values.Clear();
            _keys.Clear();
            AppliedIndex = 0;
            return;
        }

        if (snapshot.Length < SnapshotHeaderBytes
            || BinaryPrimitives.ReadUInt32LittleEndian(snapshot) != SnapshotMagic
            || BinaryPrimitives.ReadUInt32LittleEndian(snapshot[4..]) != SnapshotFormat)
        {
            ThrowMalformed("bad header");
        }

        var applied = BinaryPrimitives.ReadUInt64LittleEndian(snapshot[8..]);
        var count = BinaryPrimitives.ReadUInt64LittleEndian(snapshot[16..]);
        var values = new Dictionary<string, KvValue>(StringComparer.Ordinal);
        var offset = SnapshotHeaderBytes;
        for (ulong i = 0; i < count; i++)
        {
            if (snapshot.Length - offset < 2)
            {
                ThrowMalformed("truncated key length");
            }

            int keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(snapshot[offset..]);
            offset += 2;
            if (keyBytes == 0 || snapshot.Length - offset < keyBytes + 4)
            {
                ThrowMalformed("truncated key");
            }

            string key;
            try
            {
                key = StrictUtf8.GetString(snapshot.Slice(offset, keyBytes));
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException("key-value snapshot holds a key that is not UTF-8", e);
            }

            offset += keyBytes;
            var valueBytes = BinaryPrimitives.ReadUInt32LittleEndian(snapshot[offset..]);
            offset += 4;
            if ((ulong)(snapshot.Length - offset) < valueBytes + 16UL)
            {
                ThrowMalformed("truncated value");
            }

            var value = snapshot.Slice(offset, (int)valueBytes).ToArray();
            offset += (int)valueBytes;
            var version = BinaryPrimitives.ReadUInt64LittleEndian(snapshot[offset..]);
            var created = BinaryPrimitives.ReadUInt64LittleEndian(snapshot[(offset + 8)..]);
            offset += 16;
            if (version == 0 || created == 0 || created > version || version > applied || !values.TryAdd(key, new KvValue(value, version, created)))
            {
                ThrowMalformed($"inconsistent key '{key}'");
            }
        }

        if (offset != snapshot.Length)
        {
            ThrowMalformed("trailing bytes");
        }

        _values.Clear();
        _keys.Clear();
        foreach (var (key, value) in values)
        {
            _values.Add(key, value);
            _keys.Add(key);
        }

        AppliedIndex = applied;
    }

    private KvApplyResult Put(ulong index, ReadOnlySpan<char> key, ReadOnlySpan<byte> value)
    {
        var copy = value.ToArray();
        ref var slot = ref CollectionsMarshal.GetValueRefOrNullRef(_lookup, key);
        if (!Unsafe.IsNullRef(ref slot))
        {
            slot = new KvValue(copy, index, slot.CreateIndex);
            return new KvApplyResult(KvApplyStatus.Ok, index, index, slot.CreateIndex);
        }

        var owned = new string(key);
        _values.Add(owned, new KvValue(copy, index, index));
        _keys.Add(owned);
        return new KvApplyResult(KvApplyStatus.Ok, index, index, index);
    }

    private KvApplyResult Delete(ulong index, ReadOnlySpan<char> key)
    {
        if (!_lookup.Remove(key, out var owned, out var removed))
        {
            return new KvApplyResult(KvApplyStatus.NotFound, index, 0, 0);
        }

        _keys.Remove(owned);
        return new KvApplyResult(KvApplyStatus.Ok, index, removed.Version, removed.CreateIndex);
    }

    private void CheckNextIndex(ulong index)
    {
        if (index != AppliedIndex + 1)
        {
            throw new InvalidOperationException($"entry {index} applied after entry {AppliedIndex}: the log must be applied in order, each entry once");
        }
    }

    private static void ThrowMalformed(string what) => throw new InvalidDataException($"malformed key-value snapshot: {what}");
}
