namespace Raft.Storage;

/// <summary>Limits and hooks of a <see cref="FileLogStore"/>; checked once, when the log is opened.</summary>
public sealed class FileLogOptions
{
    public const int DefaultEntryBytesMax = 1 << 20;
    public const long DefaultSegmentBytes = 64L << 20;
    public const int DefaultWriteBufferBytes = 1 << 20;

    /// <summary>Smallest accepted <see cref="SegmentBytes"/>; small segments are for tests.</summary>
    public const long SegmentBytesMin = 256;

    /// <summary>Largest accepted <see cref="SegmentBytes"/>: offsets within a segment are 32-bit.</summary>
    public const long SegmentBytesMax = 1L << 30;

    /// <summary>
    /// A segment is closed and a new one started when the next record would take it past this size.
    /// A segment that holds no record yet accepts one record of any allowed size.
    /// </summary>
    public long SegmentBytes { get; init; } = DefaultSegmentBytes;

    /// <summary>Largest payload of one entry. Recovery treats a record claiming more as damaged.</summary>
    public int EntryBytesMax { get; init; } = DefaultEntryBytesMax;

    /// <summary>
    /// Size of the one reused buffer that appends encode into; a batch larger than this is written in
    /// several calls. Raised to fit at least one record of <see cref="EntryBytesMax"/>.
    /// </summary>
    public int WriteBufferBytes { get; init; } = DefaultWriteBufferBytes;

    /// <summary>
    /// Called during <see cref="FileLogStore.Open"/> when recovery cut a torn write off the end of the log,
    /// the expected result of a crash during an append. Meant for a warning in the host's log.
    /// </summary>
    public Action<TornTail>? OnTornTail { get; init; }

    /// <summary>The file operations that change the segments; tests pass one that injects faults.</summary>
    public IDiskIo DiskIo { get; init; } = Storage.DiskIo.System;

    internal int EffectiveWriteBufferBytes => Math.Max(WriteBufferBytes, LogRecordCodec.RecordBytes(EntryBytesMax));

    internal void Validate()
    {
        if (SegmentBytes is < SegmentBytesMin or > SegmentBytesMax)
        {
            throw new ArgumentOutOfRangeException(nameof(SegmentBytes), SegmentBytes, $"must lie in [{SegmentBytesMin}, {SegmentBytesMax}]");
        }

        if (EntryBytesMax <= 0 || LogRecordCodec.SegmentHeaderBytes + (long)LogRecordCodec.RecordBytes(EntryBytesMax) > SegmentBytesMax)
        {
            throw new ArgumentOutOfRangeException(nameof(EntryBytesMax), EntryBytesMax, "must be positive and let one record fit in the largest segment");
        }

        ArgumentNullException.ThrowIfNull(DiskIo);
        if (WriteBufferBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(WriteBufferBytes), WriteBufferBytes, "must be positive");
        }
    }
}

/// <summary>What recovery cut off the end of the log.</summary>
/// <param name="SegmentPath">The last segment, where the torn write was.</param>
/// <param name="Offset">Where the file now ends: the end of the last complete record.</param>
/// <param name="BytesDiscarded">How many bytes were cut.</param>
/// <param name="LastIndex">The last index kept (the log's <see cref="ILogStore.LastIndex"/> after recovery).</param>
/// <param name="Reason">Why the bytes were not a valid record.</param>
public readonly record struct TornTail(string SegmentPath, long Offset, long BytesDiscarded, ulong LastIndex, string Reason);
