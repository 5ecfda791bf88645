namespace Raft.Core;

/// <summary>
/// The state a node must make durable before it answers anything that depends on it:
/// its current term, whom it voted for in that term (0 for nobody), and its commit index.
/// </summary>
public readonly record struct HardState(ulong Term, int VotedFor, ulong Commit);
