using System.Text;
using DotNext.IO;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace Raft.DotNextNode;

/// <summary>A key's value with the log indexes of its creation and last write, and how many writes it has had.</summary>
internal readonly record struct StoredValue(string Value, long CreateIndex, long ModIndex, long Version);

/// <summary>
/// The replicated dictionary: DotNext's <see cref="SimpleStateMachine"/>, which keeps the whole state in memory and
/// persists a snapshot when <see cref="ApplyAsync"/> asks for one. DotNext applies entries one at a time; HTTP reads
/// run concurrently with that, so the dictionary and the applied index are read and written under one lock.
/// </summary>
internal sealed class KeyValueStateMachine(DirectoryInfo location) : SimpleStateMachine(location)
{
    /// <summary>A snapshot every this many entries, as our nodes take one (Node:SnapshotEntries).</summary>
    private const long SnapshotEntries = 10_000;

    private readonly Lock _gate = new();
    private Dictionary<string, StoredValue> _values = new(StringComparer.Ordinal);
    private long _appliedIndex;

    /// <summary>The value of <paramref name="key"/> if any, and the log index the state read reflects.</summary>
    public (StoredValue? Value, long AppliedIndex) Read(string key)
    {
        lock (_gate)
        {
            return (_values.TryGetValue(key, out var value) ? value : null, _appliedIndex);
        }
    }

    protected override ValueTask<bool> ApplyAsync(LogEntry entry, CancellationToken token)
    {
        // Empty entries are the no-ops a new leader appends; configuration entries carry no command either.
        if (!entry.IsConfiguration && entry.TryGetPayload(out var payload) && !payload.IsEmpty)
        {
            var command = PutCommand.Decode(payload);
            lock (_gate)
            {
                _values[command.Key] = _values.TryGetValue(command.Key, out var old)
                    ? new StoredValue(command.Value, old.CreateIndex, entry.Index, old.Version + 1)
                    : new StoredValue(command.Value, entry.Index, entry.Index, 1);
                _appliedIndex = entry.Index;
            }

            // The context survives only on the node that proposed the entry; the request id guards against an entry
            // of another leader that took this index.
            if (entry.Context is WriteContext context && context.Request == command.Request)
            {
                context.Applied(entry.Index);
            }
        }
        else
        {
            lock (_gate)
            {
                _appliedIndex = entry.Index;
            }
        }

        return ValueTask.FromResult(entry.Index % SnapshotEntries == 0);
    }

    // Snapshot layout, little-endian: applied index (8), count (4), then per key: key bytes (4), key, value bytes (4),
    // value, create index (8), mod index (8), version (8).
    protected override ValueTask PersistAsync(IAsyncBinaryWriter writer, CancellationToken token)
    {
        using var stream = new MemoryStream();
        using (var binary = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            lock (_gate)
            {
                binary.Write(_appliedIndex);
                binary.Write(_values.Count);
                foreach (var (key, value) in _values)
                {
                    WriteString(binary, key);
                    WriteString(binary, value.Value);
                    binary.Write(value.CreateIndex);
                    binary.Write(value.ModIndex);
                    binary.Write(value.Version);
                }
            }
        }

        return writer.Invoke(stream.GetBuffer().AsMemory(0, (int)stream.Length), token);
    }

    protected override async ValueTask RestoreAsync(FileInfo snapshotFile, CancellationToken token)
    {
        var bytes = await File.ReadAllBytesAsync(snapshotFile.FullName, token).ConfigureAwait(false);
        using var binary = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        var applied = binary.ReadInt64();
        var count = binary.ReadInt32();
        var values = new Dictionary<string, StoredValue>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var key = ReadString(binary);
            values[key] = new StoredValue(ReadString(binary), binary.ReadInt64(), binary.ReadInt64(), binary.ReadInt64());
        }

        lock (_gate)
        {
            _values = values;
            _appliedIndex = applied;
        }
    }

    private static void WriteString(BinaryWriter binary, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        binary.Write(bytes.Length);
        binary.Write(bytes);
    }

    private static string ReadString(BinaryReader binary)
    {
        var length = binary.ReadInt32();
        return length >= 0 && length <= binary.BaseStream.Length - binary.BaseStream.Position
            ? Encoding.UTF8.GetString(binary.ReadBytes(length))
            : throw new InvalidDataException($"a snapshot string of {length} bytes runs past the end of the snapshot");
    }
}
