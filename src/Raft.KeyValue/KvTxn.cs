using System.Buffers.Binary;
using System.Text.Unicode;

namespace Raft.KeyValue;

/// <summary>What a compare reads of its key. The byte values are part of the log format: never reuse one.</summary>
public enum KvCompareTarget : byte
{
    /// <summary>The key's version (0 when absent).</summary>
    Version = 1,

    /// <summary>The index that created the key (0 when absent).</summary>
    CreateIndex = 2,

    /// <summary>The key's value, compared as bytes; a compare of an absent key's value never holds.</summary>
    Value = 3,

    /// <summary>Whether the key exists; only <see cref="KvCompareOp.Equal"/> and <see cref="KvCompareOp.NotEqual"/>.</summary>
    Exists = 4,
}

/// <summary>How a compare relates what it reads to its operand. Part of the log format.</summary>
public enum KvCompareOp : byte
{
    Equal = 1,
    NotEqual = 2,
    Less = 3,
    Greater = 4,
}

/// <summary>An operation of a transaction. Part of the log format.</summary>
public enum KvTxnOpKind : byte
{
    Put = 1,
    Delete = 2,

    /// <summary>Deletes every key that starts with the operation's key.</summary>
    DeletePrefix = 3,
    Get = 4,
}

/// <summary>One condition of a transaction.</summary>
/// <param name="Key">The key it reads.</param>
/// <param name="Target">What it reads of the key.</param>
/// <param name="Op">How that relates to the operand.</param>
/// <param name="Number">The operand of a version or create index compare; for <see cref="KvCompareTarget.Exists"/>, 1 (exists) or 0 (absent).</param>
/// <param name="Value">The operand of a value compare.</param>
public sealed record KvCompare(string Key, KvCompareTarget Target, KvCompareOp Op, ulong Number = 0, byte[]? Value = null);

/// <summary>
/// One operation of a transaction: a put (with its value, and the lease its key is bound to, 0 for none), a delete, a
/// delete of a prefix, or a get.
/// </summary>
public sealed record KvTxnOp(KvTxnOpKind Kind, string Key, byte[]? Value = null, ulong Lease = 0);

/// <summary>
/// A transaction: when every compare holds, the <see cref="Success"/> operations apply, otherwise the
/// <see cref="Failure"/> ones; in order, each seeing what the ones before it did, all as one log entry.
/// </summary>
public sealed record KvTxn(IReadOnlyList<KvCompare> Compare, IReadOnlyList<KvTxnOp> Success, IReadOnlyList<KvTxnOp> Failure)
{
    /// <summary>Compares and operations together.</summary>
    public int Count => Compare.Count + Success.Count + Failure.Count;
}

/// <summary>
/// What one operation of an applied transaction did. A put: <see cref="Version"/> (the transaction's index) and
/// <see cref="CreateIndex"/>; a delete: <see cref="Found"/> and the version removed; a prefix delete:
/// <see cref="Deleted"/>; a get: <see cref="Found"/>, the value, its version and create index.
/// </summary>
public readonly record struct KvTxnOpResult(KvTxnOpKind Kind, bool Found, ulong Version, ulong CreateIndex, ulong Deleted, byte[]? Value);

/// <summary>What an applied transaction did: which branch ran, and one result per operation of it.</summary>
public sealed record KvTxnResult(bool Succeeded, KvTxnOpResult[] Results);

/// <summary>
/// The body of a <see cref="KvCommandType.Txn"/> command, little-endian:
/// <code>
///  compare count u16 | compares | success count u16 | operations | failure count u16 | operations
///  compare:   target u8 | op u8 | K u16 | key (K) | operand
///             operand: version, create index: u64; value: V u32, value (V); exists: u8 (0 or 1)
///  operation: kind u8 | K u16 | key (K) | put only: [lease id u64 when kind has bit 0x80,] V u32, value (V)
/// </code>
/// A put's kind byte with bit 0x80 set (<see cref="LeaseBit"/>) binds its key to the lease whose id follows the key;
/// the store applies such a transaction only from cluster version <see cref="KvClusterVersion.Leases"/>.
/// Keys are 1 to <see cref="KvCommandCodec.KeyBytesMax"/> bytes of UTF-8 (a prefix delete's too: deleting every key
/// takes a prefix). A body that does not parse to its last byte is not a transaction.
/// </summary>
public static class KvTxnCodec
{
    /// <summary>Compares or operations in one list at most.</summary>
    public const int ListMax = ushort.MaxValue;

    /// <summary>Set in a put's kind byte when a lease id follows its key.</summary>
    public const byte LeaseBit = 0x80;

    /// <summary>The bytes <see cref="Encode"/> writes for <paramref name="txn"/>; checks every key and list.</summary>
    public static int EncodedBytes(KvTxn txn)
    {
        ArgumentNullException.ThrowIfNull(txn);
        long bytes = 6;
        CheckCount(txn.Compare.Count, nameof(txn));
        foreach (var compare in txn.Compare)
        {
            bytes += 4 + KvCommandCodec.CheckedBytes(compare.Key, KvCommandCodec.KeyBytesMax, nameof(txn)) + compare.Target switch
            {
                KvCompareTarget.Version or KvCompareTarget.CreateIndex => 8,
                KvCompareTarget.Value => 4L + (compare.Value ?? throw new ArgumentException("a value compare needs a value", nameof(txn))).Length,
                KvCompareTarget.Exists when compare.Op is KvCompareOp.Equal or KvCompareOp.NotEqual && compare.Number <= 1 => 1,
                KvCompareTarget.Exists => throw new ArgumentException("an exists compare takes = or != and 0 or 1", nameof(txn)),
                _ => throw new ArgumentException($"unknown compare target {compare.Target}", nameof(txn)),
            };
            if (!Enum.IsDefined(compare.Op))
            {
                throw new ArgumentException($"unknown compare op {compare.Op}", nameof(txn));
            }
        }

        foreach (var list in (ReadOnlySpan<IReadOnlyList<KvTxnOp>>)[txn.Success, txn.Failure])
        {
            CheckCount(list.Count, nameof(txn));
            foreach (var op in list)
            {
                bytes += 3 + KvCommandCodec.CheckedBytes(op.Key, KvCommandCodec.KeyBytesMax, nameof(txn)) + op.Kind switch
                {
                    KvTxnOpKind.Put => 4L + (op.Lease == 0 ? 0 : 8) + (op.Value ?? throw new ArgumentException("a put needs a value", nameof(txn))).Length,
                    _ when op.Lease != 0 => throw new ArgumentException("only a put binds a key to a lease", nameof(txn)),
                    KvTxnOpKind.Delete or KvTxnOpKind.DeletePrefix or KvTxnOpKind.Get => 0,
                    _ => throw new ArgumentException($"unknown operation {op.Kind}", nameof(txn)),
                };
            }
        }

        return bytes <= Array.MaxLength ? (int)bytes : throw new ArgumentException("the transaction is too large", nameof(txn));
    }

    /// <summary>Writes <paramref name="txn"/> into <paramref name="body"/>, which has <see cref="EncodedBytes"/> bytes.</summary>
    public static void Encode(KvTxn txn, Span<byte> body)
    {
        ArgumentNullException.ThrowIfNull(txn);
        var writer = new Writer(body);
        writer.U16(txn.Compare.Count);
        foreach (var compare in txn.Compare)
        {
            writer.U8((byte)compare.Target);
            writer.U8((byte)compare.Op);
            writer.Key(compare.Key);
            switch (compare.Target)
            {
                case KvCompareTarget.Value:
                    writer.Bytes(compare.Value!);
                    break;
                case KvCompareTarget.Exists:
                    writer.U8((byte)compare.Number);
                    break;
                default:
                    writer.U64(compare.Number);
                    break;
            }
        }

        foreach (var list in (ReadOnlySpan<IReadOnlyList<KvTxnOp>>)[txn.Success, txn.Failure])
        {
            writer.U16(list.Count);
            foreach (var op in list)
            {
                writer.U8((byte)((byte)op.Kind | (op.Lease == 0 ? 0 : LeaseBit)));
                writer.Key(op.Key);
                if (op.Lease != 0)
                {
                    writer.U64(op.Lease);
                }

                if (op.Kind == KvTxnOpKind.Put)
                {
                    writer.Bytes(op.Value!);
                }
            }
        }
    }

    /// <summary>Whether <paramref name="body"/> is a whole, valid transaction.</summary>
    public static bool IsValid(ReadOnlySpan<byte> body)
    {
        var reader = new KvTxnReader(body);
        if (!reader.TryCount(out var compares))
        {
            return false;
        }

        for (var i = 0; i < compares; i++)
        {
            if (!reader.TryCompare(out _))
            {
                return false;
            }
        }

        for (var list = 0; list < 2; list++)
        {
            if (!reader.TryCount(out var ops))
            {
                return false;
            }

            for (var i = 0; i < ops; i++)
            {
                if (!reader.TryOp(out _))
                {
                    return false;
                }
            }
        }

        return reader.AtEnd;
    }

    private static void CheckCount(int count, string name)
    {
        if (count > ListMax)
        {
            throw new ArgumentException($"at most {ListMax} compares or operations in a list", name);
        }
    }

    private ref struct Writer(Span<byte> body)
    {
        private Span<byte> _rest = body;

        public void U8(byte value)
        {
            _rest[0] = value;
            _rest = _rest[1..];
        }

        public void U16(int value)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(_rest, (ushort)value);
            _rest = _rest[2..];
        }

        public void U64(ulong value)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_rest, value);
            _rest = _rest[8..];
        }

        public void Key(string key)
        {
            var bytes = KvStore.StrictUtf8.GetBytes(key, _rest[2..]);
            U16(bytes);
            _rest = _rest[bytes..];
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_rest, (uint)value.Length);
            value.CopyTo(_rest[4..]);
            _rest = _rest[(4 + value.Length)..];
        }
    }
}

/// <summary>A compare as the log holds it; spans are slices of the command.</summary>
public readonly ref struct KvCompareView
{
    public KvCompareTarget Target { get; init; }

    public KvCompareOp Op { get; init; }

    /// <summary>The key as UTF-8.</summary>
    public ReadOnlySpan<byte> Key { get; init; }

    public ulong Number { get; init; }

    public ReadOnlySpan<byte> Value { get; init; }
}

/// <summary>An operation as the log holds it; spans are slices of the command.</summary>
public readonly ref struct KvTxnOpView
{
    public KvTxnOpKind Kind { get; init; }

    /// <summary>The key (or prefix) as UTF-8.</summary>
    public ReadOnlySpan<byte> Key { get; init; }

    public ReadOnlySpan<byte> Value { get; init; }

    /// <summary>The lease a put binds its key to; 0 for none.</summary>
    public ulong Lease { get; init; }
}

/// <summary>Reads a transaction's body front to back (<see cref="KvTxnCodec"/>); each read is false on bytes that are not one.</summary>
public ref struct KvTxnReader(ReadOnlySpan<byte> body)
{
    private ReadOnlySpan<byte> _rest = body;

    public readonly bool AtEnd => _rest.IsEmpty;

    public bool TryCount(out int count)
    {
        count = 0;
        if (_rest.Length < 2)
        {
            return false;
        }

        count = BinaryPrimitives.ReadUInt16LittleEndian(_rest);
        _rest = _rest[2..];
        return true;
    }

    public bool TryCompare(out KvCompareView compare)
    {
        compare = default;
        if (_rest.Length < 2)
        {
            return false;
        }

        var target = (KvCompareTarget)_rest[0];
        var op = (KvCompareOp)_rest[1];
        _rest = _rest[2..];
        if (!Enum.IsDefined(op) || !TryKey(out var key))
        {
            return false;
        }

        ulong number = 0;
        ReadOnlySpan<byte> value = default;
        switch (target)
        {
            case KvCompareTarget.Version or KvCompareTarget.CreateIndex when _rest.Length >= 8:
                number = BinaryPrimitives.ReadUInt64LittleEndian(_rest);
                _rest = _rest[8..];
                break;
            case KvCompareTarget.Value when TryBytes(out value):
                break;
            case KvCompareTarget.Exists when _rest.Length >= 1 && _rest[0] <= 1 && op is KvCompareOp.Equal or KvCompareOp.NotEqual:
                number = _rest[0];
                _rest = _rest[1..];
                break;
            default:
                return false;
        }

        compare = new KvCompareView { Target = target, Op = op, Key = key, Number = number, Value = value };
        return true;
    }

    public bool TryOp(out KvTxnOpView op)
    {
        op = default;
        if (_rest.IsEmpty)
        {
            return false;
        }

        var withLease = (_rest[0] & KvTxnCodec.LeaseBit) != 0;
        var kind = (KvTxnOpKind)(_rest[0] & ~KvTxnCodec.LeaseBit);
        _rest = _rest[1..];
        if (!Enum.IsDefined(kind) || (withLease && kind != KvTxnOpKind.Put) || !TryKey(out var key))
        {
            return false;
        }

        ulong lease = 0;
        if (withLease)
        {
            if (_rest.Length < 8 || BinaryPrimitives.ReadUInt64LittleEndian(_rest) == 0)
            {
                return false;
            }

            lease = BinaryPrimitives.ReadUInt64LittleEndian(_rest);
            _rest = _rest[8..];
        }

        ReadOnlySpan<byte> value = default;
        if (kind == KvTxnOpKind.Put && !TryBytes(out value))
        {
            return false;
        }

        op = new KvTxnOpView { Kind = kind, Key = key, Value = value, Lease = lease };
        return true;
    }

    private bool TryKey(out ReadOnlySpan<byte> key)
    {
        key = default;
        if (_rest.Length < 2)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadUInt16LittleEndian(_rest);
        if (length == 0 || _rest.Length < 2 + length || !Utf8.IsValid(_rest.Slice(2, length)))
        {
            return false;
        }

        key = _rest.Slice(2, length);
        _rest = _rest[(2 + length)..];
        return true;
    }

    private bool TryBytes(out ReadOnlySpan<byte> value)
    {
        value = default;
        if (_rest.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(_rest) > (uint)(_rest.Length - 4))
        {
            return false;
        }

        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(_rest);
        value = _rest.Slice(4, length);
        _rest = _rest[(4 + length)..];
        return true;
    }
}
