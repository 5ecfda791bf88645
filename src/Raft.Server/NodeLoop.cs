using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.KeyValue;
using Raft.Storage;
using Raft.Transport;

namespace Raft.Server;

/// <summary>What the loop last published: read without locks by HTTP handlers (headers, health, routing).</summary>
public sealed record NodeView(RaftRole Role, ulong Term, int LeaderId, ulong CommitIndex, ulong AppliedIndex)
{
    public static readonly NodeView Initial = new(RaftRole.Follower, 0, 0, 0, 0);
}

/// <summary>
/// The one thread that owns a <see cref="RaftNode"/>, its storage and the key-value store. Everything else talks
/// to it through a bounded channel of inputs: ticks, peer messages, unreachable reports, proposals, reads,
/// transfers and status requests.
/// </summary>
/// <remarks>
/// <para>Each ready batch is handled in one order: send <see cref="Ready.Messages"/> (they need nothing durable, so
/// they overlap the fsync on the peers' side), persist (snapshot, append entries, fsync, hard state), send
/// <see cref="Ready.MessagesAfterPersist"/>, restore the snapshot and apply committed entries, serve read states,
/// then <see cref="RaftNode.Advance"/>.</para>
/// <para>Invariants: no call is made on the node between GetReady and Advance; a pending proposal is answered when
/// its index is applied, by whichever leader committed it: a success if the entry there has the term it was
/// appended in, "not applied" otherwise, so losing leadership leaves no acknowledged write unreported and no
/// committed write reported as failed; request completions run their continuations asynchronously, so no
/// caller's code runs on this thread.</para>
/// </remarks>
internal sealed partial class NodeLoop : IPeerMessageSink, IAsyncDisposable
{
    // Inputs taken per batch before the ready is handled: many proposals share one fsync.
    private const int InputsPerBatch = 1024;
    private const int ChannelCapacity = 16_384;
    private const ulong ReadSweepIntervalTicks = 16;
    private const int HeldProposalsMax = 16_384;
    private const int ReadAttemptsMax = 4;

    private readonly NodeOptions _options;
    private readonly NodeStorage _storage;
    private readonly RaftNode _node;
    private readonly KvStore _store;
    private readonly NodeMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<Input> _inputs;
    private readonly IPeerTransport _transport;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly Dictionary<ulong, ProposalRequest> _proposals = [];
    private readonly Dictionary<ulong, ReadRequest> _readsAsked = [];
    private readonly PriorityQueue<ReadRequest, ulong> _readsWaitingApply = new();
    private readonly List<ulong> _expiredReads = [];
    private readonly List<ProposalRequest> _heldProposals = [];
    private readonly List<ReadRequest> _readsToAsk = [];
    private int _readsLeader;
    private readonly Lock _leaderWaitLock = new();
    private ulong _lastProposalTerm;
    private long _leaderContact = Stopwatch.GetTimestamp();
    private ulong? _orphanedSinceTick;
    private TaskCompletionSource? _viewChanged;
    private TransferRequest? _transfer;
    private ulong _nextReadId;
    private ulong _ticks;
    private ulong _nextReadSweepTick;
    private long _missedTicks;
    private ulong _lastSnapshotIndex;

    // The largest time this node stamped into a command; with the store's clock it keeps stamps monotonic.
    private long _lastStampMs;
    private DateTimeOffset? _leaderSince;
    private RaftRole _lastRole;
    private int _lastLeader;
    private ITimer? _timer;
    private int _disposed;
    private volatile NodeView _view = NodeView.Initial;

    public NodeLoop(NodeOptions options, Func<IPeerMessageSink, IPeerTransport> transportFactory, NodeMetrics metrics, ILogger logger, TimeProvider time, KvLockChanged? lockChanged = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transportFactory);
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _time = time;
        _store = new KvStore(new KvStoreOptions { SessionsMax = options.SessionsMax, SessionIdleMs = options.SessionIdleMs, LockChanged = lockChanged });
        // Synchronous continuations: a writer wakes the loop thread, blocked in WaitToReadAsync, directly instead of
        // through a thread-pool work item, which on a busy machine costs milliseconds per message. The loop thread in
        // turn only ever resumes an Enqueue that was waiting for room, which merely awaits its completion.
        _inputs = Channel.CreateBounded<Input>(new BoundedChannelOptions(ChannelCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = true,
        });

        var raftOptions = new RaftOptions
        {
            Id = options.Id,
            ElectionTimeoutTicks = options.ElectionTimeoutMs / options.TickMs,
            ElectionJitterTicks = options.ElectionJitterMs / options.TickMs,
            HeartbeatIntervalTicks = Math.Max(1, options.HeartbeatIntervalMs / options.TickMs),
            FastFailover = options.FastFailover,
        };
        _storage = NodeStorage.Open(options);
        try
        {
            var seed = (ulong)Random.Shared.NextInt64() ^ (ulong)options.Id;
            _node = _storage.Restore(raftOptions, new SeededRandom(seed), Membership.Create(options.Peers.Keys), _store);
            _lastSnapshotIndex = _node.LatestSnapshot?.Index ?? 0;
            _transport = transportFactory(this);
        }
        catch
        {
            _storage.Dispose();
            throw;
        }

        _thread = new Thread(Run) { IsBackground = true, Name = $"raft-node-{options.Id}" };
        Publish();
    }

    public int Id => _options.Id;

    /// <summary>The latest published state; updated after every batch.</summary>
    public NodeView View => _view;

    /// <summary>How long since this node last heard from the leader it names (meaningful on a follower).</summary>
    public TimeSpan LeaderSilence => Stopwatch.GetElapsedTime(Volatile.Read(ref _leaderContact));

    /// <summary>
    /// The current view once it names a leader, or after <paramref name="limit"/> (or cancellation) the view as it
    /// stands, leader or not. Completes at once while a leader is known.
    /// </summary>
    public ValueTask<NodeView> LeaderKnownAsync(TimeSpan limit, CancellationToken cancellationToken) =>
        _view.LeaderId != 0 ? ValueTask.FromResult(_view) : LeaderOtherThanAsync(0, limit, cancellationToken);

    /// <summary>
    /// The current view once it names a leader other than <paramref name="leader"/> (0: any), or after
    /// <paramref name="limit"/> (or cancellation) the view as it stands.
    /// </summary>
    public async ValueTask<NodeView> LeaderOtherThanAsync(int leader, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            Task changed;
            lock (_leaderWaitLock)
            {
                var view = _view;
                var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if ((view.LeaderId != 0 && view.LeaderId != leader) || left <= TimeSpan.Zero || cancellationToken.IsCancellationRequested)
                {
                    return view;
                }

                _viewChanged ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                changed = _viewChanged.Task;
            }

            try
            {
                await changed.WaitAsync(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException or ArgumentOutOfRangeException)
            {
                return _view;
            }
        }
    }

    /// <summary>Completes when the loop has ended, after a shutdown or a failure (<see cref="Failure"/>).</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>What ended the loop when it failed (a storage error, a broken invariant); null otherwise.</summary>
    public Exception? Failure { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _transport.StartAsync(cancellationToken).ConfigureAwait(false);
        _thread.Start();
        var period = TimeSpan.FromMilliseconds(_options.TickMs);
        _timer = _time.CreateTimer(static state => ((NodeLoop)state!).OnTimer(), this, period, period);
        NodeLog.Started(_logger, _options.Id, _node.Term, _node.CommitIndex, _store.AppliedIndex, _node.Membership);
    }

    /// <summary>Proposes a command; completes once it is applied, or fails with a <see cref="NodeRequestException"/>.</summary>
    public Task<WriteOutcome> ProposeAsync(byte[] command, CancellationToken cancellationToken)
    {
        var request = new ProposalRequest(command, Stopwatch.GetTimestamp());
        return Enqueue(new Input(InputKind.Propose, request), request.Completion, cancellationToken);
    }

    public Task<GetOutcome> GetAsync(string key, ReadConsistency consistency, CancellationToken cancellationToken)
    {
        var request = new GetRequest(key, consistency);
        return Enqueue(new Input(InputKind.Read, request), request.Completion, cancellationToken);
    }

    public Task<ListOutcome> ListAsync(string prefix, int limit, ReadConsistency consistency, CancellationToken cancellationToken)
    {
        var request = new ListRequest(prefix, limit, consistency);
        return Enqueue(new Input(InputKind.Read, request), request.Completion, cancellationToken);
    }

    /// <summary>Reads a lock; held or not is judged at max(the store's time, this node's clock now).</summary>
    public Task<LockOutcome> GetLockAsync(string name, ReadConsistency consistency, CancellationToken cancellationToken)
    {
        var request = new LockReadRequest(name, _time.GetUtcNow().ToUnixTimeMilliseconds(), consistency);
        return Enqueue(new Input(InputKind.Read, request), request.Completion, cancellationToken);
    }

    /// <summary>Hands leadership to <paramref name="to"/> (0: the most up-to-date follower); completes when it moved or the attempt timed out.</summary>
    public Task<TransferOutcome> TransferLeadershipAsync(int to, CancellationToken cancellationToken)
    {
        var request = new TransferRequest(to);
        return Enqueue(new Input(InputKind.Transfer, request), request.Completion, cancellationToken);
    }

    public Task<ClusterStatus> GetStatusAsync(CancellationToken cancellationToken)
    {
        var request = new StatusRequest();
        return Enqueue(new Input(InputKind.Status, request), request.Completion, cancellationToken);
    }

    void IPeerMessageSink.OnMessage(in Message message)
    {
        // Dropped when the loop is saturated: Raft retransmits.
        _inputs.Writer.TryWrite(new Input(InputKind.Message, null) { Message = message });
    }

    void IPeerMessageSink.OnPeerUnreachable(int peerId) =>
        _inputs.Writer.TryWrite(new Input(InputKind.PeerUnreachable, null) { Peer = peerId });

    /// <summary>
    /// Stops the timer and the loop (which persists what the last batch holds and fails what is pending), then
    /// closes the transport and the storage. Safe to call more than once: the host and the container both do.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        _inputs.Writer.TryComplete();
        if (_thread.IsAlive || _stopped.Task.IsCompleted)
        {
            // The loop owns the storage and closes it as it ends; the transport stays up for its last sends.
            await _stopped.Task.ConfigureAwait(false);
        }
        else
        {
            _storage.Dispose();
        }

        await _transport.DisposeAsync().ConfigureAwait(false);
    }

    private async Task<T> Enqueue<T>(Input input, TaskCompletionSource<T> completion, CancellationToken cancellationToken)
    {
        try
        {
            await _inputs.Writer.WriteAsync(input, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new NodeRequestException(NodeErrorCode.ShuttingDown, 0, "the node is stopping");
        }

        return await completion.Task.ConfigureAwait(false);
    }

    private void OnTimer()
    {
        if (!_inputs.Writer.TryWrite(new Input(InputKind.Tick, null)))
        {
            // The loop is saturated: it catches up on this tick with the next one it receives.
            Interlocked.Increment(ref _missedTicks);
        }
    }

    private void Run()
    {
        try
        {
            var reader = _inputs.Reader;
            while (true)
            {
                if (!reader.TryRead(out var input))
                {
                    if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                    {
                        break;
                    }

                    continue;
                }

                var taken = 0;
                do
                {
                    Handle(in input);
                }
                while (++taken < InputsPerBatch && reader.TryRead(out input));

                HandleReadies();
                AfterBatch();
            }

            // Inputs are closed: persist what the core still holds so a restart finds it.
            HandleReadies();
        }
        catch (Exception ex)
        {
            // A storage failure or a broken invariant: this node cannot go on safely.
            NodeLog.LoopFailed(_logger, ex, _options.Id);
            _inputs.Writer.TryComplete(ex);
            Failure = ex;
        }
        finally
        {
            FailEverything(new NodeRequestException(NodeErrorCode.ShuttingDown, 0, "the node is stopping"));
            _storage.Dispose();
            _stopped.TrySetResult();
        }
    }

    private void Handle(in Input input)
    {
        switch (input.Kind)
        {
            case InputKind.Tick:
                var ticks = 1 + Interlocked.Exchange(ref _missedTicks, 0);
                for (var i = 0; i < ticks; i++)
                {
                    _node.Tick();
                    _ticks++;
                }

                ExpireStaleWork();
                break;
            case InputKind.Message:
                TraceElection("received", input.Message);
                try
                {
                    _node.Step(input.Message);
                }
                catch (RaftProtocolException ex)
                {
                    NodeLog.MessageDropped(_logger, ex, _options.Id, input.Message.From);
                }

                if (input.Message.From == _node.LeaderId)
                {
                    Volatile.Write(ref _leaderContact, Stopwatch.GetTimestamp());
                }

                break;
            case InputKind.PeerUnreachable:
                if (_logger.IsEnabled(LogLevel.Debug))
                {
                    NodeLog.PeerUnreachable(_logger, _options.Id, _node.Term, _node.Role, input.Peer);
                }

                _node.PeerUnreachable(input.Peer);
                break;
            case InputKind.Propose:
                Propose((ProposalRequest)input.Request!);
                break;
            case InputKind.Read:
                Read((ReadRequest)input.Request!);
                break;
            case InputKind.Transfer:
                StartTransfer((TransferRequest)input.Request!);
                break;
            case InputKind.Status:
                ((StatusRequest)input.Request!).Completion.TrySetResult(BuildStatus());
                break;
            default:
                throw new UnreachableException($"input kind {input.Kind}");
        }
    }

    private void Propose(ProposalRequest request)
    {
        if (_node.Role != RaftRole.Leader)
        {
            if (_node.LeaderId == 0 && _heldProposals.Count < HeldProposalsMax)
            {
                // Leadership just changed and nobody is known to hold it yet: wait for the election to name one.
                request.HeldTick = _ticks;
                _heldProposals.Add(request);
            }
            else
            {
                request.Completion.TrySetException(NotLeader());
            }

            return;
        }

        StampTime(request.Command);
        var result = _node.Propose(request.Command, out var index);
        switch (result)
        {
            case ProposeResult.Accepted:
                request.Term = _node.Term;
                _lastProposalTerm = _node.Term;
                if (_proposals.Remove(index, out var overwritten))
                {
                    // A proposal of an earlier term of ours whose index this leader's log has now reused.
                    overwritten.Completion.TrySetException(new NodeRequestException(NodeErrorCode.Overwritten, _node.LeaderId,
                        $"entry {index} was replaced in term {_node.Term}: the write was not applied"));
                }

                _proposals.Add(index, request);
                break;
            case ProposeResult.NotLeader:
                request.Completion.TrySetException(NotLeader());
                break;
            case ProposeResult.TransferInProgress when _heldProposals.Count < HeldProposalsMax:
                // Held until the hand-over ends: then proposed here, or passed to the new leader, so a planned
                // switchover fails no write.
                request.HeldTick = _ticks;
                _heldProposals.Add(request);
                break;
            case ProposeResult.TransferInProgress:
                request.Completion.TrySetException(new NodeRequestException(NodeErrorCode.TransferInProgress, _node.LeaderId, "leadership is being handed over; retry shortly"));
                break;
            default:
                request.Completion.TrySetException(new NodeRequestException(NodeErrorCode.Overloaded, _node.LeaderId, $"proposal refused: {result}"));
                break;
        }
    }

    /// <summary>
    /// Writes the leader's time into a timed command (locks, sessions). The stamp is at least the store's clock and
    /// every earlier stamp, so a leader whose clock is behind its predecessor's still never goes back in time;
    /// the store takes the maximum again when it applies, which covers entries a later leader overwrites.
    /// </summary>
    private void StampTime(byte[] command)
    {
        var now = Math.Max(_time.GetUtcNow().ToUnixTimeMilliseconds(), Math.Max(_store.ClockMs, _lastStampMs));
        if (KvCommandCodec.TryStampTime(command, now))
        {
            _lastStampMs = now;
        }
    }

    private void Read(ReadRequest request)
    {
        switch (request.Consistency)
        {
            case ReadConsistency.Stale:
                request.Serve(_store);
                return;
            case ReadConsistency.Lease:
                if (_node.Role != RaftRole.Leader)
                {
                    request.Fail(NotLeader());
                    return;
                }

                if (_node.TryLeaseRead(out var leaseIndex))
                {
                    ServeAt(request, leaseIndex);
                    return;
                }

                // The lease is not held (new term, transfer, quiet quorum): confirm with a heartbeat round instead.
                break;
        }

        var id = ++_nextReadId;
        switch (_node.ReadIndex(id))
        {
            case ReadIndexResult.Pending:
                request.AskedTick = _ticks;
                request.AskedOf = _node.LeaderId;
                request.Attempts++;
                _readsAsked.Add(id, request);
                break;
            case ReadIndexResult.NoLeader when _readsToAsk.Count < HeldProposalsMax:
                // An election is under way: ask the leader it names.
                request.AskedTick = _ticks;
                _readsToAsk.Add(request);
                break;
            case ReadIndexResult.NoLeader:
                request.Fail(new NodeRequestException(NodeErrorCode.NoLeader, 0, "no leader is known"));
                break;
            default:
                request.Fail(new NodeRequestException(NodeErrorCode.Overloaded, _node.LeaderId, "too many reads are waiting"));
                break;
        }
    }

    private void ServeAt(ReadRequest request, ulong index)
    {
        if (_store.AppliedIndex >= index)
        {
            request.Serve(_store);
        }
        else
        {
            _readsWaitingApply.Enqueue(request, index);
        }
    }

    private void StartTransfer(TransferRequest request)
    {
        if (_node.Role != RaftRole.Leader)
        {
            request.Completion.TrySetException(NotLeader());
            return;
        }

        if (_transfer is not null)
        {
            request.Completion.TrySetException(new NodeRequestException(NodeErrorCode.TransferInProgress, _node.LeaderId, $"a transfer to {_transfer.Target} is under way"));
            return;
        }

        var target = request.To != 0 ? request.To : MostUpToDateFollower();
        if (target == 0)
        {
            request.Completion.TrySetResult(new TransferOutcome(false, _options.Id, 0, _node.LeaderId, "no follower to hand leadership to"));
            return;
        }

        var result = _node.TransferLeadership(target);
        if (result != TransferResult.Started)
        {
            request.Completion.TrySetResult(new TransferOutcome(false, _options.Id, target, _node.LeaderId, $"transfer refused: {result}"));
            return;
        }

        request.Target = target;
        request.DeadlineTick = _ticks + (ulong)(2 * _node.Options.ElectionTimeoutTicks);
        _transfer = request;
    }

    private int MostUpToDateFollower()
    {
        var best = 0;
        ulong bestMatch = 0;
        foreach (var voter in _node.Membership.Voters)
        {
            if (voter != _options.Id && _node.TryGetProgress(voter, out var match, out _, out _) && (best == 0 || match > bestMatch))
            {
                best = voter;
                bestMatch = match;
            }
        }

        return best;
    }

    private void HandleReadies()
    {
        while (_node.HasReady)
        {
            var ready = _node.GetReady();
            SendAll(ready.Messages);
            Persist(ready);
            SendAll(ready.MessagesAfterPersist);
            if (ready.Snapshot is { } snapshot)
            {
                _store.Restore(snapshot.Data.Span);
                FailProposalsThrough(snapshot.Index);
            }

            Apply(ready.CommittedEntries.Span);
            foreach (var state in ready.ReadStates)
            {
                if (!_readsAsked.Remove(state.RequestId, out var read))
                {
                    continue;
                }

                if (state.Status == ReadStatus.Ready)
                {
                    ServeAt(read, state.Index);
                }
                else if (read.Attempts < ReadAttemptsMax)
                {
                    // Leadership changed before the read was confirmed: ask the next leader.
                    _readsToAsk.Add(read);
                }
                else
                {
                    read.Fail(new NodeRequestException(NodeErrorCode.ReadFailed, ready.LeaderId, "the read could not be confirmed: leadership changed; retry"));
                }
            }

            if (ready.SoftStateChanged)
            {
                OnSoftState(ready.Role, ready.LeaderId);
            }

            _node.Advance();
        }
    }

    private void Persist(Ready ready)
    {
        var log = _storage.Log;
        if (ready.Snapshot is { } snapshot)
        {
            // The snapshot is durable before the log forgets what it covers; a divergent suffix goes with it.
            _storage.Snapshots.Save(snapshot);
            if (log.LastIndex > snapshot.Index)
            {
                log.TruncateSuffix(snapshot.Index);
            }

            log.CompactPrefix(snapshot.Index);
            _lastSnapshotIndex = snapshot.Index;
        }

        if (!ready.Entries.IsEmpty)
        {
            log.Append(ready.Entries.Span);
            var start = Stopwatch.GetTimestamp();
            log.Sync();
            _metrics.ObserveFsync(Stopwatch.GetElapsedTime(start));
        }

        if (ready.HasHardStateChange)
        {
            _storage.HardState.Save(ready.HardState);
        }
    }

    private void SendAll(ReadOnlySpan<Message> messages)
    {
        foreach (ref readonly var m in messages)
        {
            TraceElection("sent", m);
            _transport.Send(in m);
        }
    }

    // Debug level: every vote request and answer, and TimeoutNow, to show how an election went.
    private void TraceElection(string direction, in Message m)
    {
        if (m.Type is MessageType.PreVote or MessageType.PreVoteResponse or MessageType.Vote or MessageType.VoteResponse or MessageType.TimeoutNow
            && _logger.IsEnabled(LogLevel.Debug))
        {
            NodeLog.ElectionMessage(_logger, _options.Id, _node.Term, _node.Role, direction, m);
        }
    }

    private void Apply(ReadOnlySpan<Entry> entries)
    {
        foreach (ref readonly var entry in entries)
        {
            KvApplyResult result;
            if (entry.Type == EntryType.Command)
            {
                result = _store.Apply(entry.Index, entry.Data.Span);
            }
            else
            {
                _store.Skip(entry.Index);
                result = default;
            }

            if (_proposals.Remove(entry.Index, out var proposal))
            {
                if (entry.Term == proposal.Term && entry.Type == EntryType.Command)
                {
                    _metrics.ObserveProposal(Stopwatch.GetElapsedTime(proposal.StartTimestamp));
                    proposal.Completion.TrySetResult(new WriteOutcome(result, entry.Term));
                }
                else
                {
                    proposal.Completion.TrySetException(new NodeRequestException(NodeErrorCode.Overwritten, _node.LeaderId,
                        $"entry {entry.Index} went to term {entry.Term}'s leader: the write was not applied"));
                }
            }
        }

        while (_readsWaitingApply.TryPeek(out var read, out var index) && index <= _store.AppliedIndex)
        {
            _readsWaitingApply.Dequeue();
            read.Serve(_store);
        }
    }

    private void OnSoftState(RaftRole role, int leaderId)
    {
        // A campaign begins with a pre-vote, or directly as a candidate when a leadership transfer asks for it.
        if (role != _lastRole && (role == RaftRole.PreCandidate || (role == RaftRole.Candidate && _lastRole != RaftRole.PreCandidate)))
        {
            _metrics.ElectionStarted();
        }

        if (leaderId != _lastLeader)
        {
            if (leaderId != 0)
            {
                _metrics.LeaderChanged();
                _leaderSince = _time.GetUtcNow();
            }
            else
            {
                _leaderSince = null;
            }

            NodeLog.LeaderChanged(_logger, _options.Id, leaderId, _node.Term, role);
        }

        _lastRole = role;
        _lastLeader = leaderId;
    }

    private void AfterBatch()
    {
        if (_heldProposals.Count > 0)
        {
            ReleaseHeldProposals();
        }

        ExpireOrphanedProposals();
        if (_node.LeaderId != _readsLeader || _readsToAsk.Count > 0)
        {
            AskReadsAgain();
        }

        if (_transfer is { } transfer)
        {
            if (_node.LeaderId == transfer.Target)
            {
                transfer.Completion.TrySetResult(new TransferOutcome(true, _options.Id, transfer.Target, _node.LeaderId, "leadership moved"));
                _transfer = null;
            }
            else if (_node.Role != RaftRole.Leader && _node.LeaderId != 0)
            {
                transfer.Completion.TrySetResult(new TransferOutcome(false, _options.Id, transfer.Target, _node.LeaderId, $"node {_node.LeaderId} became leader instead"));
                _transfer = null;
            }
        }

        if (_store.AppliedIndex - _lastSnapshotIndex >= (ulong)_options.SnapshotEveryEntries && _node.AppliedIndex == _store.AppliedIndex)
        {
            TakeSnapshot();
        }

        Publish();
    }

    // Proposals of a term this node no longer leads are answered when their index is applied, which after a hand-over
    // or a quick failover takes milliseconds. A node cut off from the others may never learn: after
    // Node:LeaderWaitMs such proposals fail as "leadership lost; the outcome is unknown".
    private void ExpireOrphanedProposals()
    {
        if (_proposals.Count == 0 || (_node.Role == RaftRole.Leader && _node.Term == _lastProposalTerm))
        {
            _orphanedSinceTick = null;
            return;
        }

        _orphanedSinceTick ??= _ticks;
        if (_ticks - _orphanedSinceTick.Value <= (ulong)(_options.LeaderWaitMs / _options.TickMs))
        {
            return;
        }

        var error = new NodeRequestException(NodeErrorCode.LeadershipLost, _node.LeaderId,
            "leadership was lost before the write was applied and its outcome is not known yet; it may still be committed");
        foreach (var proposal in _proposals.Values)
        {
            proposal.Completion.TrySetException(error);
        }

        _proposals.Clear();
        _orphanedSinceTick = null;
    }

    // Reads asked of a leader that is no longer one, refused because leadership changed, or waiting for an election
    // to name a leader: asked again of the current leader, so a read sent during a failover is served late rather
    // than failed. Without a leader for Node:LeaderWaitMs they fail.
    private void AskReadsAgain()
    {
        var leader = _node.LeaderId;
        if (leader != _readsLeader)
        {
            _readsLeader = leader;
            foreach (var (id, read) in _readsAsked)
            {
                if (read.AskedOf != leader)
                {
                    _expiredReads.Add(id);
                }
            }

            foreach (var id in _expiredReads)
            {
                _readsAsked.Remove(id, out var read);
                _readsToAsk.Add(read!);
            }

            _expiredReads.Clear();
        }

        if (_readsToAsk.Count == 0)
        {
            return;
        }

        if (leader == 0)
        {
            if (_ticks - _readsToAsk[0].AskedTick > (ulong)(_options.LeaderWaitMs / _options.TickMs))
            {
                foreach (var read in _readsToAsk)
                {
                    read.Fail(new NodeRequestException(NodeErrorCode.NoLeader, 0, "no leader is known"));
                }

                _readsToAsk.Clear();
            }

            return;
        }

        var reads = _readsToAsk.ToArray();
        _readsToAsk.Clear();
        foreach (var read in reads)
        {
            if (read.Attempts >= ReadAttemptsMax)
            {
                read.Fail(new NodeRequestException(NodeErrorCode.ReadFailed, leader, "the read could not be confirmed: leadership kept changing; retry"));
            }
            else
            {
                Read(read);
            }
        }
    }

    // Writes held during a hand-over or an election: proposed here if this node leads without a hand-over under
    // way, passed to the new leader (the API layer forwards a NotLeader answer) once one is known, and failed if
    // none is known within Node:LeaderWaitMs.
    private void ReleaseHeldProposals()
    {
        if (_node.Role == RaftRole.Leader && _node.LeadTransferee != 0)
        {
            return;
        }

        if (_node.Role != RaftRole.Leader && _node.LeaderId == 0 && _ticks - _heldProposals[0].HeldTick <= (ulong)(_options.LeaderWaitMs / _options.TickMs))
        {
            return;
        }

        var held = _heldProposals.ToArray();
        _heldProposals.Clear();
        foreach (var request in held)
        {
            if (_node.Role == RaftRole.Leader)
            {
                Propose(request);
            }
            else
            {
                request.Completion.TrySetException(_node.LeaderId != 0 ? NotLeader() : new NodeRequestException(NodeErrorCode.NoLeader, 0, "no leader is known"));
            }
        }
    }

    private void TakeSnapshot()
    {
        var snapshot = _node.Compact(_store.AppliedIndex, _store.Serialize());
        _storage.Snapshots.Save(snapshot);
        _storage.Log.CompactPrefix(snapshot.Index);
        _lastSnapshotIndex = snapshot.Index;
        NodeLog.SnapshotTaken(_logger, _options.Id, snapshot.Index, snapshot.Data.Length, _store.Count);
    }

    private void ExpireStaleWork()
    {
        // A ReadIndex request or its answer can be lost with a message; give up after two election timeouts.
        var limit = (ulong)(2 * _node.Options.ElectionTimeoutTicks);
        if (_readsAsked.Count > 0 && _ticks >= _nextReadSweepTick)
        {
            _nextReadSweepTick = _ticks + ReadSweepIntervalTicks;
            foreach (var (id, read) in _readsAsked)
            {
                if (_ticks - read.AskedTick > limit)
                {
                    _expiredReads.Add(id);
                }
            }

            foreach (var id in _expiredReads)
            {
                _readsAsked.Remove(id, out var read);
                read!.Fail(new NodeRequestException(NodeErrorCode.ReadFailed, _node.LeaderId, "the leader did not confirm the read in time; retry"));
            }

            _expiredReads.Clear();
        }

        if (_transfer is { } transfer && _ticks > transfer.DeadlineTick)
        {
            transfer.Completion.TrySetResult(new TransferOutcome(false, _options.Id, transfer.Target, _node.LeaderId, "the target did not take over in time"));
            _transfer = null;
        }
    }

    private void FailProposalsThrough(ulong index)
    {
        if (_proposals.Count == 0)
        {
            return;
        }

        foreach (var (proposalIndex, proposal) in _proposals)
        {
            if (proposalIndex <= index)
            {
                proposal.Completion.TrySetException(new NodeRequestException(NodeErrorCode.LeadershipLost, _node.LeaderId, "replaced by the leader's snapshot; the outcome is unknown"));
                _proposals.Remove(proposalIndex);
            }
        }
    }

    private void FailEverything(Exception error)
    {
        foreach (var proposal in _proposals.Values)
        {
            proposal.Completion.TrySetException(error);
        }

        _proposals.Clear();
        foreach (var proposal in _heldProposals)
        {
            proposal.Completion.TrySetException(error);
        }

        _heldProposals.Clear();
        foreach (var read in _readsToAsk)
        {
            read.Fail(error);
        }

        _readsToAsk.Clear();
        foreach (var read in _readsAsked.Values)
        {
            read.Fail(error);
        }

        _readsAsked.Clear();
        while (_readsWaitingApply.TryDequeue(out var read, out _))
        {
            read.Fail(error);
        }

        _transfer?.Completion.TrySetException(error);
        _transfer = null;
        while (_inputs.Reader.TryRead(out var input))
        {
            switch (input.Request)
            {
                case ProposalRequest p:
                    p.Completion.TrySetException(error);
                    break;
                case ReadRequest r:
                    r.Fail(error);
                    break;
                case TransferRequest t:
                    t.Completion.TrySetException(error);
                    break;
                case StatusRequest s:
                    s.Completion.TrySetException(error);
                    break;
            }
        }
    }

    private NodeRequestException NotLeader() =>
        _node.LeaderId == 0
            ? new NodeRequestException(NodeErrorCode.NoLeader, 0, "no leader is known")
            : new NodeRequestException(NodeErrorCode.NotLeader, _node.LeaderId, $"node {_node.LeaderId} is the leader");

    private void Publish()
    {
        var view = _view;
        if (view.Role != _node.Role || view.Term != _node.Term || view.LeaderId != _node.LeaderId
            || view.CommitIndex != _node.CommitIndex || view.AppliedIndex != _store.AppliedIndex)
        {
            lock (_leaderWaitLock)
            {
                // Under the lock, so a waiter that saw the old view has its signal by now.
                _view = new NodeView(_node.Role, _node.Term, _node.LeaderId, _node.CommitIndex, _store.AppliedIndex);
                _viewChanged?.TrySetResult();
                _viewChanged = null;
            }

            _metrics.Term = (long)_node.Term;
            _metrics.LeaderId = _node.LeaderId;
            _metrics.IsLeader = _node.Role == RaftRole.Leader;
            _metrics.CommitIndex = (long)_node.CommitIndex;
            _metrics.AppliedIndex = (long)_store.AppliedIndex;

        }
    }

    private ClusterStatus BuildStatus()
    {
        var membership = _node.Membership;
        var members = new List<MemberStatus>(membership.Count);
        var isLeader = _node.Role == RaftRole.Leader;
        foreach (var id in membership.Voters)
        {
            members.Add(Member(id, voter: true, isLeader));
        }

        foreach (var id in membership.Learners)
        {
            members.Add(Member(id, voter: false, isLeader));
        }

        return new ClusterStatus(_options.Id, RoleName(_node.Role), _node.Term, _node.LeaderId, _leaderSince,
            _node.CommitIndex, _store.AppliedIndex, _node.LastIndex, members);
    }

    private MemberStatus Member(int id, bool voter, bool isLeader)
    {
        _options.Peers.TryGetValue(id, out var peer);
        _options.HttpEndpoints.TryGetValue(id, out var http);
        string role;
        ulong? match = null;
        if (id == _options.Id)
        {
            role = RoleName(_node.Role);
            match = _node.StableIndex;
        }
        else
        {
            role = id == _node.LeaderId ? "leader" : voter ? "follower" : "learner";
            if (isLeader && _node.TryGetProgress(id, out var m, out _, out _))
            {
                match = m;
            }
        }

        ulong? lag = match is { } x ? (_node.CommitIndex > x ? _node.CommitIndex - x : 0) : null;
        return new MemberStatus(id, peer, http, voter, role, match, lag);
    }

    internal static string RoleName(RaftRole role) => role switch
    {
        RaftRole.Leader => "leader",
        RaftRole.Candidate => "candidate",
        RaftRole.PreCandidate => "precandidate",
        _ => "follower",
    };

    private enum InputKind : byte
    {
        Tick,
        Message,
        PeerUnreachable,
        Propose,
        Read,
        Transfer,
        Status,
    }

    private readonly record struct Input(InputKind Kind, object? Request)
    {
        public Message Message { get; init; }

        public int Peer { get; init; }
    }
}
