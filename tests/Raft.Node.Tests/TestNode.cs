using System.Text;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;
using Raft.Storage;

namespace Raft.Node.Tests;

/// <summary>
/// One node of a <see cref="Cluster"/>: a driver over the key-value store, the stores that survive its crashes,
/// and its clock. Every input is followed by <see cref="NodeDriver{TStateMachine, TResult}.Process"/> and, unless
/// <see cref="DiskHeld"/>, by the disk completing each batch the driver waits on.
/// </summary>
internal sealed class TestNode
{
    // Unix ms at tick 0; each tick is 10 ms of wall clock.
    private const long EpochMs = 1_700_000_000_000;
    private const long MsPerTick = 10;

    private readonly Cluster _cluster;
    private readonly Membership _bootstrap;
    private readonly SeededRandom _random;
    private ulong _clockTicks;

    public TestNode(Cluster cluster, NodeDriverOptions options, Membership bootstrap, ulong seed)
    {
        _cluster = cluster;
        _bootstrap = bootstrap;
        _random = new SeededRandom(seed);
        Options = options;
        Driver = Start();
    }

    public int Id => Options.Raft.Id;

    public NodeDriverOptions Options { get; }

    public NodeDriver<KvStore, KvApplyResult> Driver { get; private set; }

    public RaftNode Core => Driver.Core;

    public KvStore Store => Driver.StateMachine;

    public bool IsUp { get; private set; } = true;

    // What survives a crash.
    public MemoryLogStore Log { get; } = new();

    public MemoryHardStateStore HardState { get; } = new();

    public MemorySnapshotStore Snapshots { get; } = new();

    /// <summary>What this node's drivers reported, across restarts.</summary>
    public RecordedEvents Events { get; } = new();

    /// <summary>While set, a batch that needs the disk waits until <see cref="Persist"/>.</summary>
    public bool DiskHeld { get; set; }

    /// <summary>While set, background jobs (writing or finishing a snapshot) wait until <see cref="RunJobs"/>.</summary>
    public bool JobsHeld { get; set; }

    /// <summary>Background jobs started and not yet run.</summary>
    public Queue<BackgroundJob> Jobs { get; } = new();

    /// <summary>How far this node's wall clock is ahead of true time.</summary>
    public long ClockSkewMs { get; set; }

    public long WallClockMs => EpochMs + ((long)_clockTicks * MsPerTick) + ClockSkewMs;

    /// <summary>The host's clock: <paramref name="elapsed"/> ticks passed since the last call.</summary>
    public void Tick(ulong elapsed = 1)
    {
        _clockTicks += elapsed;
        Driver.Tick(elapsed, WallClockMs);
        Process();
    }

    public void Receive(in Message message)
    {
        Driver.Receive(message);
        Process();
    }

    /// <summary>The transport reports <paramref name="peer"/>'s process gone.</summary>
    public void PeerUnreachable(int peer)
    {
        Driver.PeerUnreachable(peer);
        Process();
    }

    /// <summary>The disk has made the log durable: the waiting batch finishes (and, unless held, any that follow).</summary>
    public void Persist()
    {
        Log.Sync();
        Driver.Persisted();
        CompleteDisk();
    }

    /// <summary>Runs the background jobs waiting (off the driver's thread, in a real host) and hands them back, at most <paramref name="max"/>.</summary>
    public void RunJobs(int max = int.MaxValue)
    {
        for (var run = 0; run < max && Jobs.TryDequeue(out var job); run++)
        {
            job.Execute();
            Driver.BackgroundDone(job);
            Driver.Process();
            CompleteDisk();
        }
    }

    /// <summary>The latest snapshot's metadata and image bytes, as this node's store holds it (verified as it is read).</summary>
    public (SnapshotMetadata Metadata, byte[] Image)? LatestSnapshot()
    {
        if (!Snapshots.TryOpenLatest(out var reader))
        {
            return null;
        }

        using (reader)
        using (var body = reader.OpenBody())
        {
            using var copy = new MemoryStream();
            body.CopyTo(copy);
            return (reader.Metadata, copy.ToArray());
        }
    }

    /// <summary>The state machine's image now.</summary>
    public byte[] Image() => ImageOf(Store);

    public static byte[] ImageOf(KvStore store)
    {
        using var image = store.CaptureImage();
        using var stream = image.OpenRead();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    public TestWrite Put(string key, string value) => Propose(KvCommandCodec.EncodePut(key, Encoding.UTF8.GetBytes(value)));

    /// <summary>A lock acquire; the leader stamps its time into it when it proposes.</summary>
    public TestWrite Lock(string name, string owner, long ttlMs) =>
        Propose(KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, name, owner, ttlMs, default));

    public TestWrite Propose(byte[] command, bool canHandOver = false, int handedOverBy = 0)
    {
        var write = new TestWrite(command) { CanHandOver = canHandOver, HandedOverBy = handedOverBy };
        Driver.Propose(write);
        Process();
        return write;
    }

    public TestRead Read(ReadConsistency consistency, string key)
    {
        var read = new TestRead(consistency, key);
        Driver.Read(read);
        Process();
        return read;
    }

    public TestTransfer Transfer(int to)
    {
        var transfer = new TestTransfer(to);
        Driver.TransferLeadership(transfer);
        Process();
        return transfer;
    }

    /// <summary>The value this node's state machine holds for <paramref name="key"/>, or null.</summary>
    public string? Value(string key) => Store.TryGet(key, out var value) ? Encoding.UTF8.GetString(value.Value) : null;

    internal void Crash()
    {
        // Its background threads die with it.
        IsUp = false;
        while (Jobs.TryDequeue(out var job))
        {
            job.Abandon();
        }
    }

    internal void Restart()
    {
        // What was written but never synced is lost with the process.
        Log.DiscardUnsynced();
        Driver = Start();
        IsUp = true;
    }

    public override string ToString() => IsUp ? Core.ToString() : $"node {Id} down";

    private NodeDriver<KvStore, KvApplyResult> Start() =>
        new(Options, _random, _bootstrap, new NodeStores(Log, HardState, Snapshots), new KvStore(), new Outbox(_cluster), new Worker(this), Events);

    private void Process()
    {
        Driver.Process();
        CompleteDisk();
        if (!JobsHeld)
        {
            RunJobs();
        }
    }

    private void CompleteDisk()
    {
        while (!DiskHeld && Driver.IsAwaitingPersistence)
        {
            Log.Sync();
            Driver.Persisted();
        }
    }

    private sealed class Outbox(Cluster cluster) : IOutbox
    {
        public void Send(in Message message)
        {
            // A snapshot chunk's bytes are the driver's only during the call.
            var kept = message;
            kept.Data = message.Data.ToArray();
            cluster.Send(kept);
        }
    }

    private sealed class Worker(TestNode node) : IBackgroundWorker
    {
        public void Start(BackgroundJob job) => node.Jobs.Enqueue(job);
    }
}

/// <summary>Everything a node's drivers reported that the scenarios look at.</summary>
internal sealed class RecordedEvents : INodeEvents<KvApplyResult>
{
    public List<Message> Sent { get; } = [];

    public List<Message> Received { get; } = [];

    public List<SnapshotMetadata> SnapshotsStarted { get; } = [];

    public List<SnapshotMetadata> SnapshotsTaken { get; } = [];

    /// <summary>The size of each snapshot in <see cref="SnapshotsTaken"/>.</summary>
    public List<long> SnapshotBytes { get; } = [];

    public List<SnapshotMetadata> SnapshotsInstalled { get; } = [];

    public List<string> SnapshotFailures { get; } = [];

    /// <summary>Each <see cref="INodeEvents{TResult}.DiskFull"/> report: true when the node became stuck, false when it went on.</summary>
    public List<bool> DiskFullReports { get; } = [];

    public void DiskFull(bool full, Raft.Storage.DiskFullException? exception) => DiskFullReports.Add(full);

    public void MessageSent(in Message message) => Sent.Add(message);

    public void MessageReceived(in Message message) => Received.Add(message);

    public void SnapshotStarted(SnapshotMetadata snapshot) => SnapshotsStarted.Add(snapshot);

    public void SnapshotTaken(SnapshotMetadata snapshot, long bytes)
    {
        SnapshotsTaken.Add(snapshot);
        SnapshotBytes.Add(bytes);
    }

    public void SnapshotInstalled(SnapshotMetadata snapshot, long bytes) => SnapshotsInstalled.Add(snapshot);

    public void SnapshotFailed(string what, Exception exception) => SnapshotFailures.Add($"{what}: {exception.Message}");
}
