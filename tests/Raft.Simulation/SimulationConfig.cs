using Raft.Core;
using Raft.Node;

namespace Raft.Simulation;

/// <summary>A fault the simulator puts into what its watch clients are delivered, to show the checker sees it.</summary>
internal enum WatchFault : byte
{
    None,

    /// <summary>Once per watch, a read that delivers changes of two or more entries loses the first change.</summary>
    DropOne,

    /// <summary>Once per watch, a read that delivers a change delivers it twice.</summary>
    RepeatOne,
}

/// <summary>
/// Everything one seed decides about a run: the cluster, the network, the faults and the workload.
/// Drawn from its own generator so that adding a knob to the run does not reshuffle the rest.
/// </summary>
internal sealed record SimulationConfig
{
    public required ulong Seed { get; init; }

    public required int InitialVoters { get; init; }

    /// <summary>Nodes that start outside the cluster and may be added as learners, then promoted.</summary>
    public required int Spares { get; init; }

    public required int ElectionTimeoutTicks { get; init; }

    public required int HeartbeatIntervalTicks { get; init; }

    public required bool PreVote { get; init; }

    public required bool CheckQuorum { get; init; }

    public required bool FastFailover { get; init; }

    public required int MaxInflightAppends { get; init; }

    public required long MaxAppendBytes { get; init; }

    public required int MinDelayTicks { get; init; }

    public required int MaxDelayTicks { get; init; }

    public required double LossRate { get; init; }

    public required double DuplicateRate { get; init; }

    public required int MaxDiskLatencyTicks { get; init; }

    public required int FaultTicks { get; init; }

    public required int LivenessTicks { get; init; }

    public required double PartitionRate { get; init; }

    public required double CrashRate { get; init; }

    /// <summary>The chance that a newly elected leader is killed within a few ticks (a leader-churn nemesis).</summary>
    public required double LeaderChurnRate { get; init; }

    /// <summary>The chance that a newly elected leader is cut off from everyone for a while, so it appends entries of its term that nobody else holds.</summary>
    public required double LeaderIsolationRate { get; init; }

    /// <summary>The chance that a survivor's transport reports a crashed peer as unreachable.</summary>
    public required double TrueUnreachableRate { get; init; }

    /// <summary>Per tick: a live link breaks and both ends report each other unreachable.</summary>
    public required double FalseUnreachableRate { get; init; }

    public required double MembershipChangeRate { get; init; }

    public required double TransferRate { get; init; }

    /// <summary>Removed nodes keep running with whatever they know, instead of being stopped once their removal commits.</summary>
    public bool RemovedLinger { get; init; }

    /// <summary>The voter leadership goes back to once it is caught up (0: no failback).</summary>
    public int PreferredLeader { get; init; }

    /// <summary>How long the preferred leader must be caught up and answering before it gets leadership back.</summary>
    public int FailbackDelayTicks { get; init; } = 1;

    /// <summary>A node takes a snapshot once this many entries are applied past its last one.</summary>
    public required int SnapshotEveryEntries { get; init; }

    /// <summary>Entries a node keeps in its log behind its latest snapshot.</summary>
    public required int SnapshotTrailingEntries { get; init; }

    /// <summary>Snapshot bytes per chunk, small, so that every transfer takes many chunks.</summary>
    public required int SnapshotChunkBytes { get; init; }

    public required int SnapshotChunksInFlight { get; init; }

    /// <summary>How long a background job (writing a snapshot, finishing a received one) runs, at most.</summary>
    public required int MaxJobTicks { get; init; }

    /// <summary>The chance that a snapshot chunk arrives with a byte flipped (its checksum catches it).</summary>
    public required double ChunkCorruptionRate { get; init; }

    /// <summary>The core's memory for durable, applied entries; small, so that followers are fed from the log storage.</summary>
    public required long MaxLogMemoryBytes { get; init; }

    /// <summary>Bytes of entries in flight to one follower, at most.</summary>
    public required long MaxInflightBytes { get; init; }

    /// <summary>The log since the last snapshot, as a percentage of that snapshot's size, that the next one waits for.</summary>
    public required int SnapshotMinLogPercent { get; init; }

    public required int Clients { get; init; }

    public required int Keys { get; init; }

    public required int MaxPaddingBytes { get; init; }

    /// <summary>Only live links break: every transient drop between the leader and one follower must leave the leader in place.</summary>
    public required bool WatchLeaderStability { get; init; }

    /// <summary>Per tick: a node (the leader more often than not) is stopped, as by SIGSTOP or a VM freeze, for a while.</summary>
    public required double PauseRate { get; init; }

    /// <summary>
    /// A resumed node's host hands the driver the peers' messages, then how many ticks really passed while it was
    /// stopped (what a server's shell does from the monotonic clock), then the requests. Off, it reports one tick and
    /// interleaves the two as the old shell did: the bug a lease read must not survive.
    /// </summary>
    public bool ResumeWithElapsedTicks { get; init; } = true;

    /// <summary>
    /// Check after every tick that no leader holds a lease once a later term committed. Off, stale lease reads are left
    /// for the history checkers to find, which is how the tests show those checkers see them.
    /// </summary>
    public bool CheckLeaseInvariant { get; init; } = true;

    /// <summary>Watch clients in the run. They only observe (their own generator, nothing sent to a driver): the cluster runs the same without them.</summary>
    public int Watchers { get; init; }

    /// <summary>Each node's watch history, in changes and bytes: small, so that watches fall behind it and resume from indexes it no longer holds.</summary>
    public int WatchHistoryChanges { get; init; } = 100_000;

    public long WatchHistoryBytes { get; init; } = 64L << 20;

    /// <summary>Watches one node serves at once; a client beyond it is refused (429) and tries the next node.</summary>
    public int WatchersPerNodeMax { get; init; } = 10_000;

    /// <summary>Changes a watch client takes per read, about (an entry's changes are taken whole).</summary>
    public int WatchBatchMax { get; init; } = 256;

    /// <summary>Ticks between a watch client's reads, at most: a slow reader falls behind a small history and is ended.</summary>
    public int WatchReadTicksMax { get; init; } = 1;

    /// <summary>Per read: the chance that a watch client's connection breaks and it resumes on another node.</summary>
    public double WatchReconnectRate { get; init; }

    /// <summary>A fault put into what watch clients are delivered, to show the watch checker catches it; none in a real run.</summary>
    public WatchFault WatchFault { get; init; }
    /// <summary>The lease holders' workload (Simulator.Leases.cs); null: drawn from the seed.</summary>
    public LeaseWorkload? Leases { get; init; }

    /// <summary>Milliseconds of wall clock per tick; each node's clock is also off by its own skew.</summary>
    public const int MsPerTick = 5;

    /// <summary>The largest difference between a node's wall clock and true time, either way.</summary>
    public required int ClockSkewMsMax { get; init; }

    /// <summary>Shares of the workload: writes (put, compare-and-set, delete), reads, lock commands; the rest of writes are plain puts.</summary>
    public required double WriteShare { get; init; }

    public required double LockShare { get; init; }

    /// <summary>Among writes: compare-and-set and delete.</summary>
    public required double CasShare { get; init; }

    public required double DeleteShare { get; init; }

    /// <summary>Clients whose writes carry a session (exactly-once retries); the others never retry an unknown outcome.</summary>
    public required double SessionClientShare { get; init; }

    /// <summary>How often a client sends to a random node (a follower, often) rather than the leader it believes in.</summary>
    public required double AnyNodeShare { get; init; }

    public required int Locks { get; init; }

    /// <summary>Spread of the randomized election timeout.</summary>
    public required int ElectionJitterTicks { get; init; }

    /// <summary>Ticks between the fast campaigns of followers that lose the leader together (0: all at once).</summary>
    public required int FastFailoverStaggerTicks { get; init; }

    public int TotalNodes => InitialVoters + Spares;

    public static SimulationConfig FromSeed(ulong seed, int faultTicks)
    {
        var r = new SeededRandom(seed ^ 0xC0FFEE_5EED_0001UL);
        var et = r.Next(8, 21);

        // Most seeds are stormy; some are calm; some only break links between live nodes for a while, so that
        // a healthy leader must survive every one of those transient drops.
        var roll = r.Next(100);
        var calm = roll < 10;
        var flakyLinks = roll is >= 10 and < 25;
        var stormy = !calm && !flakyLinks;
        var preVote = flakyLinks || r.Chance(0.7);
        var config = new SimulationConfig
        {
            Seed = seed,
            InitialVoters = r.Chance(0.6) ? 3 : 5,
            Spares = stormy ? r.Next(0, 3) : 0,
            ElectionTimeoutTicks = et,
            HeartbeatIntervalTicks = r.Next(1, Math.Max(2, et / 4)),
            PreVote = preVote,
            CheckQuorum = r.Chance(0.65),
            FastFailover = preVote && r.Chance(0.8),
            MaxInflightAppends = r.Chance(0.3) ? 1 : r.Next(2, 64),
            MaxAppendBytes = r.Chance(0.4) ? 64 : r.Next(200, 8192),
            MinDelayTicks = 1,
            MaxDelayTicks = r.Next(1, Math.Max(2, et / 2)),
            LossRate = stormy ? r.NextDouble() * 0.1 : 0,
            DuplicateRate = calm ? 0 : r.NextDouble() * 0.05,
            MaxDiskLatencyTicks = r.Next(0, 3),
            FaultTicks = faultTicks,
            LivenessTicks = 3000 + (50 * et),
            PartitionRate = stormy ? r.NextDouble() * 0.01 : 0,
            CrashRate = stormy ? r.NextDouble() * 0.006 : 0,
            LeaderChurnRate = stormy && r.Chance(0.6) ? r.NextDouble() * 0.5 : 0,
            LeaderIsolationRate = stormy && r.Chance(0.6) ? r.NextDouble() * 0.5 : 0,
            TrueUnreachableRate = 0.5 + (r.NextDouble() * 0.5),
            FalseUnreachableRate = calm ? 0 : 0.001 + (r.NextDouble() * 0.01),
            MembershipChangeRate = stormy && r.Chance(0.5) ? r.NextDouble() * 0.004 : 0,
            TransferRate = stormy && r.Chance(0.5) ? r.NextDouble() * 0.004 : 0,
            SnapshotEveryEntries = r.Next(10, 300),
            Clients = r.Next(1, 6),
            Keys = r.Next(1, 6),
            MaxPaddingBytes = r.Chance(0.5) ? 0 : r.Next(1, 300),
            WatchLeaderStability = flakyLinks,
            FastFailoverStaggerTicks = Math.Min(r.Next(0, 3), et - 1),
            ElectionJitterTicks = r.Chance(0.5) ? et : r.Next(1, et),
            PauseRate = stormy && r.Chance(0.5) ? r.NextDouble() * 0.004 : 0,
            ClockSkewMsMax = r.Chance(0.5) ? 0 : r.Next(1, 200),
            WriteShare = 0.35 + (r.NextDouble() * 0.3),
            LockShare = r.Chance(0.7) ? r.NextDouble() * 0.25 : 0,
            CasShare = r.NextDouble() * 0.4,
            DeleteShare = r.NextDouble() * 0.15,
            SessionClientShare = r.NextDouble(),
            AnyNodeShare = 0.1 + (r.NextDouble() * 0.5),
            Locks = r.Next(1, 4),

            // Drawn last, so that the knobs above are what they were for every seed before these existed.
            SnapshotTrailingEntries = r.Chance(0.5) ? 0 : r.Next(1, 100),
            SnapshotChunkBytes = r.Chance(0.3) ? r.Next(1, 64) : r.Next(64, 4096),
            SnapshotChunksInFlight = r.Next(1, 9),
            MaxJobTicks = r.Next(0, 3 * et),
            ChunkCorruptionRate = calm ? 0 : r.NextDouble() * 0.05,
            MaxLogMemoryBytes = r.Chance(0.3) ? 1L << 30 : r.Next(0, 4096),
            MaxInflightBytes = r.Chance(0.3) ? 1L << 30 : r.Next(1, 20_000),
            SnapshotMinLogPercent = r.Chance(0.5) ? 0 : r.Next(1, 200),
        };

        // Failback, drawn after everything else; not where the leader's stability is watched, as it moves the leader on purpose.
        var preferred = r.Chance(0.3) ? r.Next(1, config.InitialVoters + 1) : 0;
        config = config with
        {
            PreferredLeader = config.WatchLeaderStability ? 0 : preferred,
            FailbackDelayTicks = r.Next(1, 5 * et),
            RemovedLinger = r.Chance(0.5),
        };

        // Watches, drawn after everything else: a history from one change to thousands, sometimes bounded by bytes
        // below one change's size, nodes that refuse a second watch, readers from eager to slower than elections.
        config = config with
        {
            Watchers = r.Next(1, 4),
            WatchHistoryChanges = r.Chance(0.5) ? r.Next(1, 40) : r.Next(40, 5000),
            WatchHistoryBytes = r.Chance(0.3) ? r.Next(100, 5000) : 1L << 20,
            WatchersPerNodeMax = r.Chance(0.2) ? 1 : 64,
            WatchBatchMax = r.Chance(0.5) ? r.Next(1, 4) : r.Next(4, 257),
            WatchReadTicksMax = r.Chance(0.3) ? r.Next(et, 6 * et) : r.Next(1, 4),
            WatchReconnectRate = r.NextDouble() * 0.02,
        };

        // Healing may leave a learner, or a node that was down, two snapshot transfers behind (the first one installed,
        // the log already compacted past it): with tiny chunks that is thousands of round trips, which the deadline
        // allows for, as it does for elections. A snapshot here is at most a few KiB.
        var windows = (4096 + (config.SnapshotChunkBytes * config.SnapshotChunksInFlight) - 1) / (config.SnapshotChunkBytes * config.SnapshotChunksInFlight);
        config = config with { LivenessTicks = config.LivenessTicks + (2 * windows * 2 * (config.MaxDelayTicks + 1)) };

        // Without pre-votes, candidates whose timeouts cannot differ by more than a round trip can split the vote
        // forever in lock step; a real cluster's spread must exceed a round trip, and so must this one's.
        return config.PreVote
            ? config
            : config with { ElectionJitterTicks = Math.Max(config.ElectionJitterTicks, (2 * config.MaxDelayTicks) + config.MaxDiskLatencyTicks + 2) };
    }

    public NodeDriverOptions DriverOptionsFor(int id) => new()
    {
        Raft = OptionsFor(id),
        LeaderWaitTicks = 3 * ElectionTimeoutTicks,
        RequestTimeoutTicks = 10 * ElectionTimeoutTicks,
        SnapshotEveryEntries = SnapshotEveryEntries,
        SnapshotTrailingEntries = SnapshotTrailingEntries,
        SnapshotMinLogPercent = SnapshotMinLogPercent,
        SnapshotChunkBytes = SnapshotChunkBytes,
        SnapshotChunksInFlight = SnapshotChunksInFlight,
        HeldRequestsMax = 256,
        InboxMax = 4096,
        PreferredLeader = PreferredLeader,
        FailbackDelayTicks = FailbackDelayTicks,
    };

    public RaftOptions OptionsFor(int id) => new()
    {
        Id = id,
        ElectionTimeoutTicks = ElectionTimeoutTicks,
        HeartbeatIntervalTicks = HeartbeatIntervalTicks,
        PreVote = PreVote,
        CheckQuorum = CheckQuorum,
        FastFailover = FastFailover,
        FastFailoverStaggerTicks = FastFailoverStaggerTicks,
        ElectionJitterTicks = ElectionJitterTicks,
        MaxInflightAppends = MaxInflightAppends,
        MaxAppendBytes = MaxAppendBytes,
        MaxUncommittedBytes = 1 << 20,
        MaxCommittedBytesPerReady = 4096,
        MaxPendingReads = 256,
        MaxLogMemoryBytes = MaxLogMemoryBytes,
        MaxInflightBytes = MaxInflightBytes,
    };

    public override string ToString() =>
        $"nodes={InitialVoters}+{Spares} et={ElectionTimeoutTicks} hb={HeartbeatIntervalTicks} prevote={PreVote} checkquorum={CheckQuorum} fast={FastFailover} stagger={FastFailoverStaggerTicks} jitter={ElectionJitterTicks} " +
        $"inflight={MaxInflightAppends} appendBytes={MaxAppendBytes} delay={MinDelayTicks}..{MaxDelayTicks} loss={LossRate:F3} dup={DuplicateRate:F3} disk<={MaxDiskLatencyTicks} " +
        $"partition={PartitionRate:F4} crash={CrashRate:F4} churn={LeaderChurnRate:F2} isolate={LeaderIsolationRate:F2} unreachable(true={TrueUnreachableRate:F2} false={FalseUnreachableRate:F4}) membership={MembershipChangeRate:F4} " +
        $"transfer={TransferRate:F4} preferred={PreferredLeader}/{FailbackDelayTicks} removedLinger={RemovedLinger} pause={PauseRate:F4} resumeElapsed={ResumeWithElapsedTicks} skew<={ClockSkewMsMax}ms watchStability={WatchLeaderStability} snapshotEvery={SnapshotEveryEntries} trailing={SnapshotTrailingEntries} " +
        $"chunk={SnapshotChunkBytes}x{SnapshotChunksInFlight} jobs<={MaxJobTicks} chunkCorrupt={ChunkCorruptionRate:F3} logMemory={MaxLogMemoryBytes} inflightBytes={MaxInflightBytes} minLog={SnapshotMinLogPercent}% " +
        $"clients={Clients} keys={Keys} locks={Locks} writes={WriteShare:F2} lockOps={LockShare:F2} cas={CasShare:F2} deletes={DeleteShare:F2} sessions={SessionClientShare:F2} anyNode={AnyNodeShare:F2} " +
        $"watchers={Watchers} watchHistory={WatchHistoryChanges}/{WatchHistoryBytes}B watchersPerNode={WatchersPerNodeMax} watchBatch={WatchBatchMax} watchRead<={WatchReadTicksMax} watchReconnect={WatchReconnectRate:F3}" +
        (WatchFault == WatchFault.None ? string.Empty : $" watchFault={WatchFault}");
}
