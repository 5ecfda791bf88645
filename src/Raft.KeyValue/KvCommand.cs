using System.Buffers.Binary;
using System.Text;

namespace Raft.KeyValue;

/// <summary>What a replicated command does. The byte values are part of the log format: never reuse one.</summary>
public enum KvCommandType : byte
{
    Put = 1,
    Delete = 2,
}

/// <summary>Flags in the second byte of every command. Unknown bits make the command invalid.</summary>
[Flags]
public enum KvCommandFlags : byte
{
    None = 0,
}

/// <summary>A decoded command; <see cref="Key"/> and <see cref="Value"/> are slices of the encoded bytes.</summary>
public readonly ref struct KvCommand
{
    public KvCommand(KvCommandType type, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        Type = type;
        Key = key;
        Value = value;
    }

    public KvCommandType Type { get; }

    /// <summary>The key as UTF-8.</summary>
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>The value of a put; empty otherwise.</summary>
    public ReadOnlySpan<byte> Value { get; }
}

/// <summary>
/// The binary form of key-value commands as they travel through the Raft log. Every replica decodes the same
/// bytes with the same code, so a command that fails to decode fails identically everywhere.
/// </summary>
/// <remarks>
/// Layout, little-endian:
/// <code>
///  0      1      2        4                 4+K
///  +------+------+--------+-----------------+------------------------------+
///  | type | flags| K (u16)| key (K bytes)   | body (depends on type)       |
///  +------+------+--------+-----------------+------------------------------+
///
///  Put    (1): body = the value, every remaining byte
///  Delete (2): body = empty
/// </code>
/// Room to grow without breaking old logs: a new command takes a new type byte (compare-and-set would carry an
/// expected version u64 before its value; lock commands a lease in ms and the leader's proposal time as i64
/// Unix ms, so replicas never read their own clock); a client session would set a flag bit announcing a
/// (client id u64, sequence u64) prefix of the body. Today no flag is defined, and any set bit is refused.
/// </remarks>
public static class KvCommandCodec
{
    /// <summary>Bytes before the key.</summary>
    public const int HeaderBytes = 4;

    /// <summary>The longest key the format can carry.</summary>
    public const int KeyBytesMax = ushort.MaxValue;

    public static int PutBytes(int keyBytes, int valueBytes) => HeaderBytes + keyBytes + valueBytes;

    /// <summary>Encodes a put of a UTF-8 key into a new array (the array becomes the log entry's payload).</summary>
    public static byte[] EncodePut(string key, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(key);
        var keyBytes = CheckedKeyBytes(key);
        var buffer = new byte[PutBytes(keyBytes, value.Length)];
        WriteHeader(buffer, KvCommandType.Put, key, keyBytes);
        value.CopyTo(buffer.AsSpan(HeaderBytes + keyBytes));
        return buffer;
    }

    public static byte[] EncodeDelete(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var keyBytes = CheckedKeyBytes(key);
        var buffer = new byte[HeaderBytes + keyBytes];
        WriteHeader(buffer, KvCommandType.Delete, key, keyBytes);
        return buffer;
    }

    /// <summary>Decodes untrusted bytes; false (never an exception) when they are not a valid command.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, out KvCommand command)
    {
        command = default;
        if (source.Length < HeaderBytes)
        {
            return false;
        }

        var type = (KvCommandType)source[0];
        var flags = (KvCommandFlags)source[1];
        int keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(source[2..]);
        if (flags != KvCommandFlags.None || keyBytes == 0 || source.Length < HeaderBytes + keyBytes)
        {
            return false;
        }

        var key = source.Slice(HeaderBytes, keyBytes);
        var body = source[(HeaderBytes + keyBytes)..];
        switch (type)
        {
            case KvCommandType.Put:
                command = new KvCommand(type, key, body);
                return true;
            case KvCommandType.Delete:
                if (!body.IsEmpty)
                {
                    return false;
                }

                command = new KvCommand(type, key, default);
                return true;
            default:
                return false;
        }
    }

    private static int CheckedKeyBytes(string key)
    {
        var keyBytes = Encoding.UTF8.GetByteCount(key);
        if (keyBytes is 0 or > KeyBytesMax)
        {
            throw new ArgumentException($"a key has 1 to {KeyBytesMax} bytes of UTF-8; this one has {keyBytes}", nameof(key));
        }

        return keyBytes;
    }

    private static void WriteHeader(Span<byte> buffer, KvCommandType type, string key, int keyBytes)
    {
        buffer[0] = (byte)type;
        buffer[1] = (byte)KvCommandFlags.None;
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[2..], (ushort)keyBytes);
        var written = Encoding.UTF8.GetBytes(key, buffer.Slice(HeaderBytes, keyBytes));
        if (written != keyBytes)
        {
            throw new InvalidOperationException("UTF-8 length changed between counting and encoding");
        }
    }
}
