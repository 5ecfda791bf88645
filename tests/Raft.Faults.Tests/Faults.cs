namespace Raft.Faults.Tests;

/// <summary>The faults the suite injects, each held for a few seconds and then healed.</summary>
internal enum FaultKind
{
    /// <summary>A minority of the nodes cut off from the majority.</summary>
    PartitionMinority,

    /// <summary>The leader cut off from every other node.</summary>
    IsolateLeader,

    /// <summary>Two halves that cannot see each other, and one node that sees both.</summary>
    Bridge,

    /// <summary>25% of the packets into and out of one node dropped.</summary>
    LossOne,

    /// <summary>25% of the packets into and out of every node dropped.</summary>
    LossAll,

    /// <summary>kill -9 of the leader, restarted when healed.</summary>
    KillLeader,

    /// <summary>kill -9 of a follower, restarted when healed.</summary>
    KillFollower,

    /// <summary>SIGSTOP of a node, SIGCONT when healed.</summary>
    Pause,
}

/// <summary>One fault as it was applied: when, to what, and how it ended.</summary>
internal sealed record FaultWindow(FaultKind Kind, string Target, long StartMs, long EndMs);

/// <summary>
/// The seeded order of faults: every kind once in a shuffled round, round after round, so a short run sees each kind
/// and a long one sees each about as often. Where packets cannot be dropped the loss kinds are left out.
/// </summary>
internal sealed class FaultSchedule(ulong seed, bool canDropPackets)
{
    private readonly Random _random = new(unchecked((int)(seed ^ (seed >> 32))));
    private readonly Queue<FaultKind> _round = new();

    public Random Random => _random;

    /// <summary>Whether the last round of kinds has been given out whole: a run ends only then, so it saw every kind.</summary>
    public bool RoundComplete => _round.Count == 0;

    public static IReadOnlyList<FaultKind> Kinds(bool canDropPackets) =>
        [.. Enum.GetValues<FaultKind>().Where(k => canDropPackets || k is not (FaultKind.LossOne or FaultKind.LossAll))];

    public FaultKind Next()
    {
        if (_round.Count == 0)
        {
            var kinds = Kinds(canDropPackets).ToArray();
            _random.Shuffle(kinds);
            foreach (var kind in kinds)
            {
                _round.Enqueue(kind);
            }
        }

        return _round.Dequeue();
    }

    /// <summary>How long a fault is held: 2 to 4 s, several election timeouts.</summary>
    public TimeSpan HoldTime() => TimeSpan.FromMilliseconds(_random.Next(2_000, 4_000));

    /// <summary>The quiet time after a heal: 1 to 2 s.</summary>
    public TimeSpan QuietTime() => TimeSpan.FromMilliseconds(_random.Next(1_000, 2_000));
}
