namespace Raft.Core;

/// <summary>A node's role.</summary>
public enum RaftRole : byte
{
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// <summary>Whether a read request could be confirmed.</summary>
public enum ReadStatus : byte
{
    /// <summary>Serve the read once the state machine has applied <see cref="ReadState.Index"/>.</summary>
    Ready,

    /// <summary>Leadership was lost before the read was confirmed; retry elsewhere.</summary>
    Failed,
}

/// <summary>The outcome of a <see cref="RaftNode.ReadIndex"/> request.</summary>
public readonly record struct ReadState(ulong RequestId, ulong Index, ReadStatus Status);

/// <summary>
/// One batch of work for the host, produced by <see cref="RaftNode.GetReady"/>. The host handles it in
/// this order, then calls <see cref="RaftNode.Advance"/>:
/// <list type="number">
/// <item>send <see cref="Messages"/> (they may go before anything is durable);</item>
/// <item>make <see cref="Snapshot"/>, <see cref="Entries"/> and <see cref="HardState"/> durable
/// (entries whose index is at or below the log's last index replace the suffix from there);</item>
/// <item>send <see cref="MessagesAfterPersist"/>;</item>
/// <item>restore <see cref="Snapshot"/> and apply <see cref="CommittedEntries"/> in order; serve <see cref="ReadStates"/>.</item>
/// </list>
/// </summary>
/// <remarks>
/// One instance is reused by its node: everything it exposes is valid until <see cref="RaftNode.Advance"/>.
/// No other call may be made on the node between <see cref="RaftNode.GetReady"/> and <see cref="RaftNode.Advance"/>.
/// </remarks>
public sealed class Ready
{
    internal readonly MessageBuffer MessageBuffer = new();
    internal readonly MessageBuffer AfterPersistBuffer = new();
    internal readonly List<ReadState> ReadStateList = [];

    /// <summary>True when <see cref="HardState"/> differs from what was last made durable.</summary>
    public bool HasHardStateChange { get; internal set; }

    public HardState HardState { get; internal set; }

    /// <summary>A snapshot received from the leader that the core adopted: make it the latest, replace the log with it, install its image.</summary>
    public SnapshotMetadata? Snapshot { get; internal set; }

    /// <summary>Entries to make durable.</summary>
    public ReadOnlyMemory<Entry> Entries { get; internal set; }

    /// <summary>Committed entries to apply, in order, after <see cref="Entries"/> are durable.</summary>
    public ReadOnlyMemory<Entry> CommittedEntries { get; internal set; }

    public ReadOnlySpan<Message> Messages => MessageBuffer.AsSpan();

    /// <summary>Messages that vouch for this batch's durable state: votes, append acknowledgements, vote requests.</summary>
    public ReadOnlySpan<Message> MessagesAfterPersist => AfterPersistBuffer.AsSpan();

    public ReadOnlySpan<ReadState> ReadStates => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ReadStateList);

    public RaftRole Role { get; internal set; }

    public int LeaderId { get; internal set; }

    /// <summary>The leader or role changed since the previous batch.</summary>
    public bool SoftStateChanged { get; internal set; }

    internal void Clear()
    {
        HasHardStateChange = false;
        Snapshot = null;
        Entries = ReadOnlyMemory<Entry>.Empty;
        CommittedEntries = ReadOnlyMemory<Entry>.Empty;
        MessageBuffer.Clear();
        AfterPersistBuffer.Clear();
        ReadStateList.Clear();
        SoftStateChanged = false;
    }
}

/// <summary>A growable array of messages that keeps its storage between batches.</summary>
internal sealed class MessageBuffer
{
    private Message[] _items = new Message[64];
    private int _count;

    public int Count => _count;

    public void Add(in Message message)
    {
        if (_count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        _items[_count++] = message;
    }

    public ReadOnlySpan<Message> AsSpan() => _items.AsSpan(0, _count);

    public void Clear()
    {
        // Drop references to entry slices and snapshots so they can be collected.
        Array.Clear(_items, 0, _count);
        _count = 0;
    }
}
