using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Raft.DotNextNode;

/// <summary>
/// The one command this store replicates: put a key. Layout of a log entry's payload, little-endian:
/// <code>
/// 0        16            20             20+K
/// | request | key bytes K | key (UTF-8) | value (UTF-8, the rest) |
/// </code>
/// The request id lets the node that proposed the entry recognise it when it is applied (see <see cref="WriteContext"/>);
/// it plays no part in the stored state.
/// </summary>
internal readonly record struct PutCommand(Guid Request, string Key, string Value)
{
    private const int RequestBytes = 16;
    private const int HeaderBytes = RequestBytes + sizeof(int);

    public byte[] Encode()
    {
        var keyBytes = Encoding.UTF8.GetByteCount(Key);
        var buffer = new byte[HeaderBytes + keyBytes + Encoding.UTF8.GetByteCount(Value)];
        Request.TryWriteBytes(buffer.AsSpan(0, RequestBytes));
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(RequestBytes), keyBytes);
        Encoding.UTF8.GetBytes(Key, buffer.AsSpan(HeaderBytes, keyBytes));
        Encoding.UTF8.GetBytes(Value, buffer.AsSpan(HeaderBytes + keyBytes));
        return buffer;
    }

    /// <summary>Reads a payload written by <see cref="Encode"/>; throws <see cref="InvalidDataException"/> on anything else.</summary>
    public static PutCommand Decode(in ReadOnlySequence<byte> payload)
    {
        var bytes = payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray();
        if (bytes.Length < HeaderBytes)
        {
            throw new InvalidDataException($"a put command of {bytes.Length} bytes is shorter than its {HeaderBytes}-byte header");
        }

        var keyBytes = BinaryPrimitives.ReadInt32LittleEndian(bytes[RequestBytes..]);
        if (keyBytes < 0 || keyBytes > bytes.Length - HeaderBytes)
        {
            throw new InvalidDataException($"a put command names a key of {keyBytes} bytes in a payload of {bytes.Length}");
        }

        return new PutCommand(
            new Guid(bytes[..RequestBytes]),
            Encoding.UTF8.GetString(bytes.Slice(HeaderBytes, keyBytes)),
            Encoding.UTF8.GetString(bytes[(HeaderBytes + keyBytes)..]));
    }
}

/// <summary>
/// Travels with a proposed entry to the state machine of the node that proposed it (DotNext's log entry context, kept
/// in memory only): the apply records the index the entry was applied at, so the write's answer can carry it.
/// </summary>
internal sealed class WriteContext(Guid request)
{
    private long _index;

    public Guid Request { get; } = request;

    /// <summary>The log index the entry was applied at; 0 until it has been.</summary>
    public long Index => Volatile.Read(ref _index);

    public void Applied(long index) => Volatile.Write(ref _index, index);
}
