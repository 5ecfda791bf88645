namespace Raft.Core;

/// <summary>
/// A snapshot as Raft sees it: the log position its state machine image replaces, and the membership in force there.
/// The image itself never passes through the core: hosts store it, stream it to followers and restore it.
/// </summary>
public sealed record SnapshotMetadata(ulong Index, ulong Term, Membership Membership);
