namespace Raft.Core;

/// <summary>Every message Raft nodes exchange.</summary>
public enum MessageType : byte
{
    /// <summary>Would you vote for me at <see cref="Message.Term"/>? Changes no state on either side.</summary>
    PreVote = 1,
    PreVoteResponse = 2,
    Vote = 3,
    VoteResponse = 4,

    /// <summary>Entries after (<see cref="Message.Index"/>, <see cref="Message.LogTerm"/>), and the leader's commit index.</summary>
    Append = 5,

    /// <summary>Accepted: <see cref="Message.Index"/> is the last index known to match. Rejected: a conflict hint.</summary>
    AppendResponse = 6,

    /// <summary>Leader liveness and commit index; <see cref="Message.Context"/> is the heartbeat sequence number.</summary>
    Heartbeat = 7,
    HeartbeatResponse = 8,
    InstallSnapshot = 9,

    /// <summary>Sent by a leader to the transfer target: campaign now, without waiting or pre-voting.</summary>
    TimeoutNow = 10,

    /// <summary>A follower asks the leader for a read index on behalf of request <see cref="Message.Context"/>.</summary>
    ReadIndex = 11,
    ReadIndexResponse = 12,

    /// <summary>
    /// Bytes of the snapshot (<see cref="Message.Index"/>, <see cref="Message.LogTerm"/>) a leader streams to a follower:
    /// <see cref="Message.Data"/> lies at <see cref="Message.Offset"/> of a stream of <see cref="Message.TotalBytes"/>
    /// bytes, and <see cref="Message.Checksum"/> is its CRC32C. The node driver sends and takes these; the core never sees them.
    /// </summary>
    SnapshotChunk = 13,

    /// <summary>
    /// A follower's answer to a <see cref="SnapshotChunk"/>: it holds the first <see cref="Message.Offset"/> bytes of the
    /// snapshot (<see cref="Message.Index"/>, <see cref="Message.LogTerm"/>); <see cref="Message.Reject"/> when it did
    /// not take the chunk (a gap, a bad checksum, another snapshot), so the leader resends from there.
    /// </summary>
    SnapshotChunkResponse = 14,
}

/// <summary>Modifiers carried by vote requests.</summary>
[Flags]
public enum MessageFlags : byte
{
    None = 0,

    /// <summary>The campaign follows a leadership transfer; voters set aside their leader lease.</summary>
    Transfer = 1,

    /// <summary>
    /// The candidate campaigns because its connection to the leader broke and a reconnect was refused.
    /// Informational: a voter that still hears the leader keeps refusing.
    /// </summary>
    LeaderUnreachable = 2,
}

/// <summary>
/// One Raft message. A plain struct so the core can queue messages without allocating;
/// fields not named by a message type's documentation are zero.
/// </summary>
/// <remarks>
/// <see cref="Entries"/> is a slice of the sender's log. The slots it covers are never written again
/// (truncation and compaction copy to new storage), so the slice stays valid for as long as it is held.
/// </remarks>
public struct Message
{
    public MessageType Type { get; set; }
    public MessageFlags Flags { get; set; }
    public bool Reject { get; set; }
    public int From { get; set; }
    public int To { get; set; }
    public ulong Term { get; set; }

    /// <summary>Append: term of the entry before <see cref="Entries"/>. Votes: term of the candidate's last entry. Rejected append: the follower's conflict term hint. Snapshot chunks: the snapshot's term.</summary>
    public ulong LogTerm { get; set; }

    /// <summary>Append: index of the entry before <see cref="Entries"/>. Votes: the candidate's last index. Append response: match index, or the rejected index. Heartbeat response: the follower's last index. Read index response: the read index. Snapshot chunks: the snapshot's index.</summary>
    public ulong Index { get; set; }

    /// <summary>The leader's commit index (Append, Heartbeat).</summary>
    public ulong Commit { get; set; }

    /// <summary>Rejected append: the follower's conflict index hint.</summary>
    public ulong RejectHint { get; set; }

    /// <summary>Heartbeat sequence number, or read request id.</summary>
    public ulong Context { get; set; }

    public ReadOnlyMemory<Entry> Entries { get; set; }

    /// <summary>Snapshot chunk: where <see cref="Data"/> starts in the snapshot stream. Its response: how many bytes of the stream the follower holds.</summary>
    public ulong Offset { get; set; }

    /// <summary>Snapshot chunk: the whole snapshot stream's length in bytes.</summary>
    public ulong TotalBytes { get; set; }

    /// <summary>Snapshot chunk: CRC32C of <see cref="Data"/>.</summary>
    public uint Checksum { get; set; }

    /// <summary>Snapshot chunk: bytes of the snapshot stream; like <see cref="Entries"/>, never written after it is sent.</summary>
    public ReadOnlyMemory<byte> Data { get; set; }

    /// <summary>InstallSnapshot: the snapshot a leader wants the follower to have (the host streams its bytes in chunks), or the one the follower's host received whole.</summary>
    public SnapshotMetadata? Snapshot { get; set; }

    public readonly override string ToString() => Type switch
    {
        MessageType.Append => $"{Type} {From}->{To} t{Term} prev=({Index},t{LogTerm}) n={Entries.Length} commit={Commit}",
        MessageType.AppendResponse => Reject
            ? $"{Type} {From}->{To} t{Term} reject idx={Index} hint=({RejectHint},t{LogTerm})"
            : $"{Type} {From}->{To} t{Term} match={Index}",
        MessageType.Vote or MessageType.PreVote => $"{Type} {From}->{To} t{Term} last=({Index},t{LogTerm}) {Flags}",
        MessageType.VoteResponse or MessageType.PreVoteResponse => $"{Type} {From}->{To} t{Term} {(Reject ? "reject" : "grant")}",
        MessageType.Heartbeat => $"{Type} {From}->{To} t{Term} commit={Commit} seq={Context}",
        MessageType.HeartbeatResponse => $"{Type} {From}->{To} t{Term} seq={Context}",
        MessageType.InstallSnapshot => $"{Type} {From}->{To} t{Term} snap=({Snapshot?.Index},t{Snapshot?.Term})",
        MessageType.SnapshotChunk => $"{Type} {From}->{To} t{Term} snap=({Index},t{LogTerm}) at={Offset} n={Data.Length} of {TotalBytes}",
        MessageType.SnapshotChunkResponse => $"{Type} {From}->{To} t{Term} snap=({Index},t{LogTerm}) have={Offset}{(Reject ? " reject" : string.Empty)}",
        MessageType.ReadIndex or MessageType.ReadIndexResponse => $"{Type} {From}->{To} t{Term} req={Context} idx={Index}{(Reject ? " reject" : string.Empty)}",
        _ => $"{Type} {From}->{To} t{Term}",
    };
}
