namespace Raft.Core;

/// <summary>What an entry carries: a client command, the leader's no-op, or a membership.</summary>
public enum EntryType : byte
{
    /// <summary>An opaque command for the state machine.</summary>
    Command = 0,

    /// <summary>The empty entry a new leader appends so that it can commit in its own term.</summary>
    NoOp = 1,

    /// <summary>A complete <see cref="Membership"/>, in effect from the moment it is appended.</summary>
    Membership = 2,
}

/// <summary>
/// One log entry. <see cref="Data"/> is owned by whoever proposed it and must never be
/// written to afterwards: the core, the log and in-flight messages share it without copying.
/// </summary>
public readonly record struct Entry(ulong Term, ulong Index, EntryType Type, ReadOnlyMemory<byte> Data)
{
    /// <summary>Bytes an entry is charged for against message and batch limits (payload plus a fixed header).</summary>
    public const int OverheadBytes = 24;

    /// <summary>The size charged against byte limits.</summary>
    public long SizeBytes => Data.Length + OverheadBytes;
}
