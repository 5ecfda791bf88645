using System.Diagnostics.CodeAnalysis;
using Raft.Core;
using Raft.Storage;

namespace Raft.Node;

/// <summary>
/// The one host loop of a Raft node, deterministic and generic over its IO: it feeds the core its inputs, carries
/// out every ready batch (persist, send, apply, advance), answers proposals and reads, holds writes through a
/// hand-over or an election, answers a deposed leader's pending writes, asks reads again of the next leader, takes
/// snapshots and publishes what the node looks like. The server runs it on one thread with files and TCP; the
/// simulator runs the same code with in-memory stores and a simulated network.
/// </summary>
/// <remarks>
/// <para>No threads, no clock, no sockets, no files: time arrives as <see cref="Tick"/> (elapsed ticks and the
/// wall clock, both read by the host), IO goes through <see cref="NodeStores"/> and <see cref="IOutbox"/>, and every
/// answer is a value handed to the request.</para>
/// <para>Durability: a batch with entries or a new term or vote is written (not synced) and then waits for the host
/// to make the log durable and call <see cref="Persisted"/>. Messages that vouch for the batch, the hard state, and
/// everything applied wait with it; inputs arriving meanwhile are queued in order and replayed afterwards. A server
/// calls <see cref="Persisted"/> at once after its fsync; the simulator after a simulated disk delay.</para>
/// <para>A full disk (<see cref="DiskFullException"/> from the log or the hard state) leaves the batch waiting, unwritten,
/// and is retried with backoff as ticks arrive; see <c>NodeDriver.Disk.cs</c>.</para>
/// <para>Not thread-safe: one thread owns a driver and everything it holds, the state machine included.</para>
/// </remarks>
public sealed partial class NodeDriver<TStateMachine, TResult>
    where TStateMachine : IReplicatedStateMachine<TResult>
{
    // A loop of ready batches that does not end is a bug in the core; fail loudly rather than spin.
    private const int ReadyRoundsMax = 100_000;

    private readonly NodeDriverOptions _options;
    private readonly RaftNode _core;
    private readonly ILogStore _log;
    private readonly IHardStateStore _hardState;
    private readonly ISnapshotStore _snapshots;
    private readonly IOutbox _outbox;
    private readonly IBackgroundWorker _worker;
    private readonly TStateMachine _stateMachine;
    private readonly INodeEvents<TResult> _events;
    private readonly Queue<Input> _inbox = new();

    // The batch written but not yet durable; the core may not be called until it is.
    private Ready? _unpersisted;
    private ulong _ticks;

    // Ticks reported while the inbox was full. Time must not be lost with dropped inputs, or a leader would count a
    // lease that has lapsed as held. A full inbox refuses everything until the disk completes, so these came after
    // every queued input and are delivered after the replay.
    private ulong _ticksNotQueued;

    // Crash reports a full inbox could not take: like ticks, delivered after the replay, so fast failover is not lost.
    private readonly List<int> _unreachableNotQueued = [];
    private long _wallClockMs;
    private HardState _savedHardState;
    private ulong _reportedCommit;
    private RaftRole _lastRole;
    private bool _stopped;

    public int Id => _core.Id;

    public NodeDriverOptions Options => _options;

    /// <summary>The core, for inspection (tests, status); only the driver may call what changes it.</summary>
    public RaftNode Core => _core;

    public TStateMachine StateMachine => _stateMachine;

    /// <summary>Published at the end of every <see cref="Process"/>.</summary>
    public NodeView View { get; private set; }

    /// <summary>Ticks delivered since the driver started.</summary>
    public ulong Ticks => _ticks;

    /// <summary>A batch waits for the host to make the log durable and call <see cref="Persisted"/>.</summary>
    public bool IsAwaitingPersistence => _unpersisted is not null && _diskFull == DiskFullStep.None;

    /// <summary>
    /// Starts a node from what its stores hold: the latest snapshot's image installed into <paramref name="stateMachine"/>,
    /// the hard state, and the log after the snapshot (read back by the core as it needs it). Stores holding nothing
    /// start a new cluster whose members are <paramref name="bootstrap"/>. Inconsistent stores throw
    /// <see cref="InvalidDataException"/>; a damaged snapshot, <see cref="StorageCorruptedException"/>.
    /// </summary>
    public NodeDriver(
        NodeDriverOptions options,
        SeededRandom random,
        Membership bootstrap,
        NodeStores stores,
        TStateMachine stateMachine,
        IOutbox outbox,
        IBackgroundWorker worker,
        INodeEvents<TResult>? events = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(bootstrap);
        ArgumentNullException.ThrowIfNull(stores);
        ArgumentNullException.ThrowIfNull(stateMachine);
        ArgumentNullException.ThrowIfNull(outbox);
        ArgumentNullException.ThrowIfNull(worker);
        options.Validate();
        _options = options;
        _log = stores.Log;
        _hardState = stores.HardState;
        _snapshots = stores.Snapshots;
        _stateMachine = stateMachine;
        _outbox = outbox;
        _worker = worker;
        _events = events ?? NoNodeEvents<TResult>.Instance;
        _core = Recover(options, random, bootstrap, stores, stateMachine, out _savedHardState, out _lastSnapshotBytes);
        _reportedCommit = _core.CommitIndex;
        View = new NodeView(_core.Role, _core.Term, _core.LeaderId, _core.CommitIndex, stateMachine.AppliedIndex, _core.Membership);
    }

    /// <summary>The host's clock: <paramref name="elapsedTicks"/> ticks passed since the last call, and the wall clock reads <paramref name="wallClockMs"/> (Unix ms).</summary>
    /// <remarks>
    /// Call it with the monotonic time that really elapsed, before anything else in a batch: a process that was
    /// stopped longer than its lease must not serve a lease read on the belief that no time passed.
    /// </remarks>
    public void Tick(ulong elapsedTicks, long wallClockMs)
    {
        ThrowIfStopped();
        _wallClockMs = Math.Max(_wallClockMs, wallClockMs);
        if (elapsedTicks == 0)
        {
            return;
        }

        if (_unpersisted is not null)
        {
            if (!Enqueue(new Input(InputKind.Tick, default, 0, null, elapsedTicks)))
            {
                _ticksNotQueued += elapsedTicks;
            }

            if (_diskFull != DiskFullStep.None)
            {
                RetryDiskAfter(elapsedTicks);
            }

            return;
        }

        DeliverTicks(elapsedTicks);
    }

    /// <summary>A message from a peer; the transport has checked its framing and addressing.</summary>
    public void Receive(in Message message)
    {
        ThrowIfStopped();
        if (_unpersisted is not null)
        {
            Enqueue(new Input(InputKind.Message, message, 0, null, 0));
            return;
        }

        Step(message);
    }

    /// <summary>The transport found <paramref name="peer"/>'s process gone (its connection reset and a reconnect refused).</summary>
    public void PeerUnreachable(int peer)
    {
        ThrowIfStopped();
        if (_unpersisted is not null)
        {
            if (!Enqueue(new Input(InputKind.Unreachable, default, peer, null, 0)) && !_unreachableNotQueued.Contains(peer))
            {
                _unreachableNotQueued.Add(peer);
            }

            return;
        }

        _events.PeerUnreachable(peer);
        _core.PeerUnreachable(peer);
    }

    /// <summary>
    /// The host has made the log durable (everything appended so far): the waiting batch is finished (hard state
    /// saved, its messages sent, committed entries applied), the inputs queued meanwhile are replayed, and the
    /// driver goes on as <see cref="Process"/> does.
    /// </summary>
    public void Persisted()
    {
        ThrowIfStopped();
        var ready = _unpersisted ?? throw new InvalidOperationException("no batch is waiting for the disk");
        if (_diskFull != DiskFullStep.None)
        {
            throw new InvalidOperationException("the waiting batch is not written yet: the disk was full");
        }

        if (_log.DurableIndex < _log.LastIndex)
        {
            throw new InvalidOperationException($"the log is durable through {_log.DurableIndex} but holds {_log.LastIndex}: sync it before calling Persisted");
        }

        if (!TrySaveHardState(ready))
        {
            Publish();
            return;
        }

        _unpersisted = null;
        FinishReady(ready);
        while (_unpersisted is null && _inbox.TryDequeue(out var input))
        {
            Replay(input);
        }

        if (_ticksNotQueued > 0)
        {
            var ticks = _ticksNotQueued;
            _ticksNotQueued = 0;
            DeliverTicks(ticks);
        }

        foreach (var peer in _unreachableNotQueued)
        {
            _events.PeerUnreachable(peer);
            _core.PeerUnreachable(peer);
        }

        _unreachableNotQueued.Clear();

        Process();
    }

    /// <summary>
    /// Carries out every ready batch the core has, then the work that follows a batch (held writes, reads asked
    /// again, transfer progress, snapshots), until the core is quiet or a batch waits for the disk. Call it after a
    /// group of inputs: inputs between two calls share one batch, and so one fsync.
    /// </summary>
    public void Process()
    {
        ThrowIfStopped();
        var rounds = 0;
        while (_unpersisted is null)
        {
            while (_unpersisted is null && _core.HasReady)
            {
                if (++rounds > ReadyRoundsMax)
                {
                    throw new InvalidOperationException($"node {Id} keeps producing ready batches: {_core}");
                }

                HandleReady();
            }

            if (_unpersisted is not null)
            {
                break;
            }

            AfterReadies();
            if (!_core.HasReady)
            {
                break;
            }
        }

        Publish();
    }

    /// <summary>
    /// Ends the driver: every pending request is answered <c>ShuttingDown</c>, queued inputs are dropped. A host that
    /// wants what the core holds to survive calls <see cref="Process"/> (and persists) first.
    /// </summary>
    public void Stop()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        FailEverything();
        StopSnapshots();
    }

    private void DeliverTicks(ulong elapsedTicks)
    {
        // The core's lease clock takes all of it, its timers at most a heartbeat interval; the driver's deadlines are
        // the clients', in real time.
        _core.Tick(elapsedTicks);
        _ticks += elapsedTicks;
        ExpireOverdue();
        PerformDuties();
        RetrySnapshotChunks();
        DropStalledInbound();
    }

    private void Step(in Message message)
    {
        switch (message.Type)
        {
            // Snapshot bytes travel between drivers; the core only hears of a snapshot once it arrived whole.
            case MessageType.SnapshotChunk:
                _events.MessageReceived(message);
                ReceiveChunk(message);
                return;
            case MessageType.SnapshotChunkResponse:
                _events.MessageReceived(message);
                ReceiveChunkResponse(message);
                return;
            case MessageType.InstallSnapshot:
                // Only this driver steps a whole snapshot into its core, once it has received and verified it.
                _events.MessageRefused(message, new RaftProtocolException($"InstallSnapshot from {message.From} came from the network"));
                return;
            default:
                StepCore(message);
                return;
        }
    }

    private void StepCore(in Message message)
    {
        _events.MessageReceived(message);
        try
        {
            _core.Step(message);
            NoteLeaderContact(message);
        }
        catch (RaftProtocolException ex)
        {
            _events.MessageRefused(message, ex);
        }
    }

    private void Replay(in Input input)
    {
        switch (input.Kind)
        {
            case InputKind.Tick:
                DeliverTicks(input.Ticks);
                break;
            case InputKind.Message:
                Step(input.Message);
                break;
            case InputKind.Unreachable:
                _events.PeerUnreachable(input.Peer);
                _core.PeerUnreachable(input.Peer);
                break;
            case InputKind.Propose:
                ProposeNow((WriteRequest<TResult>)input.Request!);
                break;
            case InputKind.Read:
                ReadNow((ReadRequest<TStateMachine>)input.Request!);
                break;
            case InputKind.Transfer:
                TransferNow((TransferRequest)input.Request!);
                break;
            case InputKind.Membership:
                ChangeMembershipNow((MembershipRequest)input.Request!);
                break;
            case InputKind.Job:
                JobDone((BackgroundJob)input.Request!);
                break;
            default:
                throw new InvalidOperationException($"input kind {input.Kind}");
        }
    }

    private bool Enqueue(in Input input)
    {
        if (_inbox.Count >= _options.InboxMax)
        {
            // Messages are retransmitted; requests are answered by the caller with Overloaded.
            return false;
        }

        _inbox.Enqueue(input);
        return true;
    }

    private void HandleReady()
    {
        if (_core.Role == RaftRole.Leader && _core.Term != _ledTerm)
        {
            TakeUpLeadership();
        }

        var ready = _core.GetReady();
        if (_core.CommitIndex > _reportedCommit)
        {
            _reportedCommit = _core.CommitIndex;
            _events.CommitAdvanced(_reportedCommit);
        }

        // Nothing in these vouches for durable state, so they leave before the disk work: the followers' fsyncs
        // overlap the leader's.
        SendAll(ready.Messages);
        if (ready.Snapshot is { } snapshot)
        {
            AdoptReceivedSnapshot(snapshot);
        }

        var entries = ready.Entries.Span;
        if (!entries.IsEmpty || MustSaveHardState(ready))
        {
            _unpersisted = ready;
            TryAppend(ready);
            return;
        }

        FinishReady(ready);
    }

    // Term and vote must be durable before any vote or append is answered. The commit index need not be: Raft
    // treats it as volatile and a restarted node learns it again from the leader, so a batch that only moves it
    // costs no fsync. It is written whenever term or vote are.
    private bool MustSaveHardState(Ready ready) =>
        ready.HasHardStateChange && (ready.HardState.Term != _savedHardState.Term || ready.HardState.VotedFor != _savedHardState.VotedFor);

    private void FinishReady(Ready ready)
    {
        _events.Persisted(ready.Entries.IsEmpty ? 0 : ready.Entries.Span[^1].Index);
        SendAll(ready.MessagesAfterPersist);
        if (ready.Snapshot is { } snapshot)
        {
            InstallReceivedImage(snapshot);
        }

        Apply(ready.CommittedEntries.Span);
        HandleReadStates(ready.ReadStates);
        if (ready.SoftStateChanged)
        {
            OnRoleChanged(ready.Role, ready.LeaderId);
        }

        _core.Advance();
    }

    private void SendAll(ReadOnlySpan<Message> messages)
    {
        foreach (ref readonly var m in messages)
        {
            if (m.Type == MessageType.InstallSnapshot)
            {
                // The core names the snapshot; the driver streams it, between batches.
                _snapshotOffers.Add((m.To, m.Snapshot!.Index));

                continue;
            }

            SendDirect(m);
        }
    }

    private void OnRoleChanged(RaftRole role, int leaderId)
    {
        // A campaign begins with a pre-vote, or directly as a candidate when a leadership transfer asks for it.
        var campaignStarted = role != _lastRole && (role == RaftRole.PreCandidate || (role == RaftRole.Candidate && _lastRole != RaftRole.PreCandidate));
        _lastRole = role;
        _events.RoleChanged(role, leaderId, _core.Term, campaignStarted);
    }

    private void Publish()
    {
        var view = View;
        var diskFull = _diskFull != DiskFullStep.None;
        if (view.Role != _core.Role || view.Term != _core.Term || view.LeaderId != _core.LeaderId
            || view.CommitIndex != _core.CommitIndex || view.AppliedIndex != _stateMachine.AppliedIndex || !ReferenceEquals(view.Membership, _core.Membership)
            || view.DiskFull != diskFull)
        {
            View = new NodeView(_core.Role, _core.Term, _core.LeaderId, _core.CommitIndex, _stateMachine.AppliedIndex, _core.Membership, diskFull);
        }
    }

    private void ThrowIfStopped()
    {
        if (_stopped)
        {
            ThrowStopped();
        }
    }

    [DoesNotReturn]
    private static void ThrowStopped() => throw new InvalidOperationException("the node driver has stopped");

    private static RaftNode Recover(NodeDriverOptions options, SeededRandom random, Membership bootstrap, NodeStores stores, TStateMachine stateMachine, out HardState hardState, out long snapshotBytes)
    {
        snapshotBytes = 0;
        var raft = options.Raft;
        var log = stores.Log;
        var entries = new LogStoreEntries(log);
        var snapshot = stores.Snapshots.LatestMetadata;
        var hasHardState = stores.HardState.TryLoad(out hardState);
        if (snapshot is null && !hasHardState && log.LastIndex == 0)
        {
            return RaftNode.Bootstrap(raft, random, bootstrap, entries);
        }

        snapshot ??= new SnapshotMetadata(0, 0, bootstrap);
        if (log.FirstIndex > snapshot.Index + 1)
        {
            throw new InvalidDataException(
                $"the log starts at entry {log.FirstIndex} but the latest snapshot covers only up to {snapshot.Index}: entries are missing; move the data directory aside and let the node catch up from the leader");
        }

        // Storage is reclaimed in whole segments, so a reopened log may still show entries the snapshot covers.
        if (snapshot.Index >= log.FirstIndex)
        {
            log.CompactPrefix(snapshot.Index);
        }

        if (snapshot.Index > 0)
        {
            if (!stores.Snapshots.TryOpenLatest(out var reader))
            {
                throw new InvalidDataException($"the snapshot store names snapshot {snapshot.Index} but cannot open it");
            }

            // Streamed: no image is ever one array, and it is used only once its checksum verified at the end.
            using (reader)
            using (var body = reader.OpenBody())
            {
                stateMachine.InstallImage(SnapshotImages.Load(stateMachine, body));
                snapshotBytes = reader.Length;
            }

            if (stateMachine.AppliedIndex != snapshot.Index)
            {
                throw new InvalidDataException($"snapshot {snapshot.Index} holds a state machine image taken at {stateMachine.AppliedIndex}");
            }
        }

        var lastIndex = Math.Max(log.LastIndex, snapshot.Index);
        if (options.ForceNewCluster)
        {
            hardState = ForceNewCluster(raft.Id, stores, snapshot, hardState, lastIndex);
            lastIndex++;
        }

        return new RaftNode(raft, random, snapshot, hardState, entries, lastIndex);
    }

    // Appends a membership of this node alone after everything the log holds and commits it all, durably, before the
    // node starts: a single voter then elects itself and serves every entry it had.
    private static HardState ForceNewCluster(int id, NodeStores stores, SnapshotMetadata snapshot, HardState hardState, ulong lastIndex)
    {
        var log = stores.Log;
        var lastTerm = lastIndex == snapshot.Index ? snapshot.Term : log.TryGetTerm(lastIndex, out var t) ? t : throw new InvalidDataException($"the log has no term for its last entry {lastIndex}");
        var term = Math.Max(hardState.Term, lastTerm);
        var alone = new Entry(term, lastIndex + 1, EntryType.Membership, Membership.Create([id]).ToBytes());
        log.Append([alone]);
        log.Sync();
        var forced = new HardState(term, hardState.VotedFor, alone.Index);
        stores.HardState.Save(forced);
        return forced;
    }

    private enum InputKind : byte
    {
        Tick,
        Message,
        Unreachable,
        Propose,
        Read,
        Transfer,
        Membership,
        Job,
    }

    private readonly record struct Input(InputKind Kind, Message Message, int Peer, object? Request, ulong Ticks);
}
