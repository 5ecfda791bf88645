using System.Buffers.Binary;
using Raft.Core;

namespace Raft.Simulation;

/// <summary>The simulator's replicated state machine: a few integer keys, each holding the last value written and its log index.</summary>
internal sealed class KvStateMachine
{
    private readonly SortedDictionary<int, (ulong Value, ulong Index)> _data = [];

    public ulong AppliedIndex { get; private set; }

    public void Apply(in Entry entry)
    {
        if (entry.Index != AppliedIndex + 1)
        {
            throw new SimulationViolation($"state machine applied {entry.Index} after {AppliedIndex}: entries skipped or applied twice");
        }

        AppliedIndex = entry.Index;
        if (entry.Type == EntryType.Command && Command.TryDecode(entry.Data.Span, out var key, out var value))
        {
            _data[key] = (value, entry.Index);
        }
    }

    /// <summary>The value of <paramref name="key"/> and the index of the write that set it; zeros when never written.</summary>
    public (ulong Value, ulong Index) Read(int key) => _data.TryGetValue(key, out var v) ? v : (0, 0);

    public byte[] ToSnapshot()
    {
        var bytes = new byte[4 + (_data.Count * 20)];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, _data.Count);
        var offset = 4;
        foreach (var (key, (value, index)) in _data)
        {
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), key);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offset + 4), value);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offset + 12), index);
            offset += 20;
        }

        return bytes;
    }

    public static KvStateMachine FromSnapshot(Snapshot snapshot)
    {
        var sm = new KvStateMachine { AppliedIndex = snapshot.Index };
        var span = snapshot.Data.Span;
        if (span.IsEmpty)
        {
            return sm;
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(span);
        var offset = 4;
        for (var i = 0; i < count; i++, offset += 20)
        {
            var key = BinaryPrimitives.ReadInt32LittleEndian(span[offset..]);
            var value = BinaryPrimitives.ReadUInt64LittleEndian(span[(offset + 4)..]);
            var index = BinaryPrimitives.ReadUInt64LittleEndian(span[(offset + 12)..]);
            sm._data[key] = (value, index);
        }

        return sm;
    }
}

/// <summary>A write of a unique value to a key, padded to exercise byte limits.</summary>
internal static class Command
{
    public const int MarkerKey = 255;

    public static byte[] Encode(int key, ulong value, int padding)
    {
        var bytes = new byte[9 + padding];
        bytes[0] = (byte)key;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(1), value);
        return bytes;
    }

    public static bool TryDecode(ReadOnlySpan<byte> data, out int key, out ulong value)
    {
        key = 0;
        value = 0;
        if (data.Length < 9)
        {
            return false;
        }

        key = data[0];
        value = BinaryPrimitives.ReadUInt64LittleEndian(data[1..]);
        return true;
    }
}

/// <summary>A checker found a broken property; the message says which and where.</summary>
internal sealed class SimulationViolation : Exception
{
    public SimulationViolation()
    {
    }

    public SimulationViolation(string message)
        : base(message)
    {
    }

    public SimulationViolation(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
