using System.Buffers;
using MessagePack;
using Raft.Core;

namespace Raft.Benchmarks.Transport;

/// <summary>
/// The peer messages the codec benchmarks measure, written with MessagePack 2.5's low-level
/// <see cref="MessagePackWriter"/> and read with <see cref="MessagePackReader"/>: one array of the same fields
/// <c>FrameCodec</c> carries, in its order, entry payloads and chunk data as bin. There is no frame header and no
/// checksum: MessagePack has neither, and the frame codec's rows pay for both (a 16-byte header and a CRC32C of
/// the body on encode and on decode).
/// </summary>
/// <remarks>
/// <code>
///  Heartbeat      [type, flags, from, to, term, commit, context]
///  Append         [type, flags, from, to, term, log term, index, commit, [[term, index, type, data bin], ...]]
///  SnapshotChunk  [type, flags, from, to, term, index, log term, offset, total bytes, checksum, data bin]
/// </code>
/// Decoding owns its bytes the way the frame codec does: a message that carries payloads is copied once into a new
/// array that the payloads slice, so the core may keep them; one without payloads is read in place.
/// </remarks>
internal static class MessagePackFrames
{
    public static void Write(IBufferWriter<byte> output, in Message message)
    {
        var writer = new MessagePackWriter(output);
        switch (message.Type)
        {
            case MessageType.Heartbeat:
                WritePrefix(ref writer, message, 7);
                writer.Write(message.Commit);
                writer.Write(message.Context);
                break;
            case MessageType.Append:
                WritePrefix(ref writer, message, 9);
                writer.Write(message.LogTerm);
                writer.Write(message.Index);
                writer.Write(message.Commit);
                var entries = message.Entries.Span;
                writer.WriteArrayHeader(entries.Length);
                foreach (var entry in entries)
                {
                    writer.WriteArrayHeader(4);
                    writer.Write(entry.Term);
                    writer.Write(entry.Index);
                    writer.Write((byte)entry.Type);
                    writer.Write(entry.Data.Span);
                }

                break;
            case MessageType.SnapshotChunk:
                WritePrefix(ref writer, message, 11);
                writer.Write(message.Index);
                writer.Write(message.LogTerm);
                writer.Write(message.Offset);
                writer.Write(message.TotalBytes);
                writer.Write(message.Checksum);
                writer.Write(message.Data.Span);
                break;
            default:
                throw new ArgumentException($"{message.Type} is not measured", nameof(message));
        }

        writer.Flush();
    }

    public static Message Read(ReadOnlySequence<byte> input)
    {
        var reader = new MessagePackReader(input);
        var fields = reader.ReadArrayHeader();
        var type = (MessageType)reader.ReadByte();
        if (type is MessageType.Append or MessageType.SnapshotChunk)
        {
            reader = new MessagePackReader(input.ToArray());
            reader.ReadArrayHeader();
            reader.ReadByte();
        }

        var message = new Message
        {
            Type = type, Flags = (MessageFlags)reader.ReadByte(), From = reader.ReadInt32(), To = reader.ReadInt32(), Term = reader.ReadUInt64(),
        };
        switch (type)
        {
            case MessageType.Heartbeat when fields == 7:
                message.Commit = reader.ReadUInt64();
                message.Context = reader.ReadUInt64();
                break;
            case MessageType.Append when fields == 9:
                message.LogTerm = reader.ReadUInt64();
                message.Index = reader.ReadUInt64();
                message.Commit = reader.ReadUInt64();
                var entries = new Entry[reader.ReadArrayHeader()];
                for (var i = 0; i < entries.Length; i++)
                {
                    if (reader.ReadArrayHeader() != 4)
                    {
                        throw new MessagePackSerializationException("an entry has 4 fields");
                    }

                    entries[i] = new Entry(reader.ReadUInt64(), reader.ReadUInt64(), (EntryType)reader.ReadByte(), ReadOwnedBytes(ref reader));
                }

                message.Entries = entries;
                break;
            case MessageType.SnapshotChunk when fields == 11:
                message.Index = reader.ReadUInt64();
                message.LogTerm = reader.ReadUInt64();
                message.Offset = reader.ReadUInt64();
                message.TotalBytes = reader.ReadUInt64();
                message.Checksum = reader.ReadUInt32();
                message.Data = ReadOwnedBytes(ref reader);
                break;
            default:
                throw new MessagePackSerializationException($"{type} with {fields} fields is not a message this codec reads");
        }

        return message;
    }

    private static void WritePrefix(ref MessagePackWriter writer, in Message message, int fields)
    {
        writer.WriteArrayHeader(fields);
        writer.Write((byte)message.Type);
        writer.Write((byte)message.Flags);
        writer.Write(message.From);
        writer.Write(message.To);
        writer.Write(message.Term);
    }

    // The reader runs over one array the decoder owns, so a bin is a slice of it, not a copy.
    private static ReadOnlyMemory<byte> ReadOwnedBytes(ref MessagePackReader reader) =>
        reader.ReadBytes() is { IsSingleSegment: true } bytes ? bytes.First : throw new MessagePackSerializationException("expected bin");
}
