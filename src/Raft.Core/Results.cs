namespace Raft.Core;

/// <summary>The outcome of a proposal. Only <see cref="Accepted"/> appended anything.</summary>
public enum ProposeResult : byte
{
    Accepted,
    NotLeader,

    /// <summary>Leadership is being handed over; propose to the new leader.</summary>
    TransferInProgress,

    /// <summary>Too many bytes are appended but not yet committed; retry later.</summary>
    Overloaded,

    /// <summary>An earlier membership change, or this leader's first entry, is not committed yet.</summary>
    MembershipChangePending,

    /// <summary>The change is not a valid single-server change from the current membership.</summary>
    InvalidMembershipChange,
}

/// <summary>The outcome of <see cref="RaftNode.ReadIndex"/>.</summary>
public enum ReadIndexResult : byte
{
    /// <summary>A <see cref="ReadState"/> with the request id will follow in a ready batch.</summary>
    Pending,
    NoLeader,
    Overloaded,
}

/// <summary>The outcome of <see cref="RaftNode.TransferLeadership"/>.</summary>
public enum TransferResult : byte
{
    Started,
    NotLeader,
    AlreadyLeader,
    UnknownTarget,
    TargetNotVoter,
    AlreadyInProgress,
}

/// <summary>Thrown when a peer's message breaks the protocol; the host drops that peer's connection.</summary>
public sealed class RaftProtocolException : Exception
{
    public RaftProtocolException()
    {
    }

    public RaftProtocolException(string message)
        : base(message)
    {
    }

    public RaftProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
