using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;
using Raft.Protocol;
using Raft.Storage;
using Raft.Transport;

namespace Raft.Server;

/// <summary>
/// The thin shell around a node's <see cref="NodeDriver{TStateMachine, TResult}"/>: one thread that owns it, a
/// bounded channel of inputs from HTTP handlers and the transport, a timer, the monotonic clock, the file stores
/// and the TCP transport. Everything a client sees is decided by the driver; this only carries inputs in and
/// outcomes out.
/// </summary>
/// <remarks>
/// <para>Each batch takes up to <see cref="InputsPerBatch"/> inputs: the peers' messages, then how much monotonic
/// time passed since the last batch (a process stopped longer than its lease must not serve a lease read before it
/// knows), then the requests. The driver processes them as one batch and, while a batch waits for the disk, the
/// shell fsyncs the log and reports it: every proposal that arrived in one batch shares one fsync.</para>
/// <para>Completions run their continuations asynchronously, so no caller's code runs on the node's thread.</para>
/// </remarks>
internal sealed partial class NodeLoop : IPeerMessageSink, IAsyncDisposable
{
    private const int InputsPerBatch = 1024;
    private const int ChannelCapacity = 16_384;

    private readonly NodeOptions _options;
    private readonly NodeStorage _storage;
    private readonly NodeDriver<KvStore, KvApplyResult> _driver;
    private readonly WatchHub? _watches;
    private readonly NodeEvents _events;
    private readonly NodeMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<Input> _inputs;
    private readonly IPeerTransport _transport;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _viewLock = new();
    private readonly List<Input> _requests = [];
    private readonly long _tickTimestamps;
    private readonly NodeThreadWatch _watch;
    private long _clockStart;
    private ulong _ticksDelivered;
    private long _leaderContact = Stopwatch.GetTimestamp();
    private TaskCompletionSource? _viewChanged;
    private ITimer? _timer;
    private int _disposed;
    private volatile NodeView _view = NodeView.Initial;

    public NodeLoop(NodeOptions options, Func<IPeerMessageSink, IPeerTransport> transportFactory, NodeMetrics metrics, ILoggerFactory loggers, TimeProvider time, KvLockChanged? lockChanged = null, WatchHub? watches = null, IDiskIo? diskIo = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transportFactory);
        ArgumentNullException.ThrowIfNull(loggers);
        _options = options;
        _metrics = metrics;
        _logger = loggers.CreateLogger("Raft.Server.NodeLoop");
        _watch = new NodeThreadWatch(options.Id, options.ElectionTimeoutMs, metrics, _logger);
        _time = time;
        _tickTimestamps = Math.Max(1, time.TimestampFrequency * options.TickMs / 1000);

        // Synchronous continuations: a writer wakes the loop thread, blocked in WaitToReadAsync, directly instead of
        // through a thread-pool work item, which on a busy machine costs milliseconds per message. The loop thread in
        // turn only ever resumes an Enqueue that was waiting for room, which merely awaits its completion.
        _inputs = Channel.CreateBounded<Input>(new BoundedChannelOptions(ChannelCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = true,
        });

        _storage = NodeStorage.Open(options, diskIo ?? DiskIo.System);
        try
        {
            _events = new NodeEvents(options.Id, metrics, _logger, WriteTrace.Create(options.Id, loggers), time);
            _watches = watches;
            var store = new KvStore(new KvStoreOptions
            {
                SessionsMax = options.SessionsMax,
                LeasesMax = options.LeasesMax,
                SessionIdleMs = options.SessionIdleMs,
                LockChanged = lockChanged,
                KeyChanged = watches is null ? null : watches.OnChanged,
                Restored = watches is null ? null : watches.OnRestored,
            });
            var seed = (ulong)Random.Shared.NextInt64() ^ (ulong)options.Id;
            _driver = new NodeDriver<KvStore, KvApplyResult>(options.ToDriverOptions(), new SeededRandom(seed), NodeBootstrap.Resolve(options, _storage.Stores),
                _storage.Stores, store, new TransportOutbox(this), new BackgroundWorker(this), _events);
            _events.Core = _driver.Core;
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

    /// <summary>The cluster version this node has applied (<see cref="KvClusterVersion"/>); it only grows.</summary>
    public int ClusterVersion => _driver.StateMachine.ClusterVersion;

    /// <summary>How long since this node last heard from the leader it names (meaningful on a follower).</summary>
    public TimeSpan LeaderSilence => Stopwatch.GetElapsedTime(Volatile.Read(ref _leaderContact));

    /// <summary>Completes when the loop has ended, after a shutdown or a failure (<see cref="Failure"/>).</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>What ended the loop when it failed (a storage error, a broken invariant); null otherwise.</summary>
    public Exception? Failure { get; private set; }

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
            lock (_viewLock)
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

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _transport.StartAsync(cancellationToken).ConfigureAwait(false);

        // The node's time starts with its thread: the time it took to open the stores and start the transport is
        // not time in which it could have heard from anyone.
        _clockStart = _time.GetTimestamp();
        _thread.Start();
        var period = TimeSpan.FromMilliseconds(_options.TickMs);
        _timer = _time.CreateTimer(static state => ((NodeLoop)state!).OnTimer(), this, period, period);
        var core = _driver.Core;
        NodeLog.Started(_logger, _options.Id, core.Term, core.CommitIndex, _driver.StateMachine.AppliedIndex, core.Membership);
    }

    /// <summary>
    /// Proposes a command; completes once it is applied or known not to be (the outcome says which). Traced as a
    /// <c>raft.propose</c> span, a child of the caller's current span, when anyone listens (<see cref="NodeTracing"/>).
    /// </summary>
    public Task<WriteOutcome<KvApplyResult>> ProposeAsync(byte[] command, CancellationToken cancellationToken) =>
        ProposeAsync(command, default, cancellationToken);

    /// <summary>As <see cref="ProposeAsync(byte[], CancellationToken)"/>, for a write the leader path can pass on during a hand-over (see <see cref="WriteRequest{TResult}.CanHandOver"/>).</summary>
    public async Task<WriteOutcome<KvApplyResult>> ProposeAsync(byte[] command, HandOver handOver, CancellationToken cancellationToken)
    {
        var request = new ProposalRequest(command, _metrics, NodeTracing.StartPropose(_options.Id)) { CanHandOver = handOver.Allowed, HandedOverBy = handOver.From };
        bool queued;
        try
        {
            queued = await Enqueue(new Input(InputKind.Propose, request), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (request.Span is not null)
        {
            NodeTracing.EndPropose(request.Span, WriteStatus.NotApplied, 0);
            throw;
        }

        if (!queued)
        {
            request.AnswerShuttingDown();
        }

        return await request.Completion.Task.ConfigureAwait(false);
    }

    /// <summary>How many writes this node has traced (<see cref="WriteSpans.Traced"/>).</summary>
    internal long TracedWrites => _events.Spans.Traced;

    public Task<ReadOutcome<GetOutcome>> GetAsync(string key, ReadConsistency consistency, CancellationToken cancellationToken) =>
        ReadAsync(new GetRead(key, consistency), cancellationToken);

    /// <summary>Up to <paramref name="limit"/> keys under <paramref name="prefix"/>, from the first after <paramref name="after"/> (null: from the first).</summary>
    public Task<ReadOutcome<ListOutcome>> ListAsync(string prefix, string? after, int limit, ReadConsistency consistency, CancellationToken cancellationToken) =>
        ReadAsync(new ListRead(prefix, after, limit, consistency), cancellationToken);

    /// <summary>Reads a lock; held or not is judged at max(the store's time, this node's clock now).</summary>
    public Task<ReadOutcome<LockOutcome>> GetLockAsync(string name, ReadConsistency consistency, CancellationToken cancellationToken) =>
        ReadAsync(new LockRead(name, _time.GetUtcNow().ToUnixTimeMilliseconds(), consistency), cancellationToken);

    /// <summary>What <paramref name="read"/> takes from the store, on the node's thread, once the read may be served at <paramref name="consistency"/>.</summary>
    public Task<ReadOutcome<T>> QueryAsync<T>(Func<KvStore, T> read, ReadConsistency consistency, CancellationToken cancellationToken) =>
        ReadAsync(new StoreQuery<T>(read, consistency), cancellationToken);

    /// <summary>A frozen image of this node's state for a backup: its applied state, or, linearizable, the leader's commit index first.</summary>
    public Task<ReadOutcome<CapturedImage>> CaptureImageAsync(ReadConsistency consistency, CancellationToken cancellationToken) =>
        ReadAsync(new ImageRead(_driver, consistency), cancellationToken);

    /// <summary>Hands leadership to <paramref name="to"/> (0: the most up-to-date follower); completes when it moved or the attempt ended.</summary>
    public async Task<TransferOutcome> TransferLeadershipAsync(int to, CancellationToken cancellationToken)
    {
        var request = new TransferCall(to);
        return await Enqueue(new Input(InputKind.Transfer, request), cancellationToken).ConfigureAwait(false)
            ? await request.Completion.Task.ConfigureAwait(false)
            : new TransferOutcome(TransferStatus.ShuttingDown, _options.Id, to, 0, "the node is stopping");
    }

    /// <summary>This node's recent leader changes, elections and peer contact.</summary>
    public NodeHistory History => _events.History;

    /// <summary>Asks for a snapshot now (<see cref="NodeDriver{TStateMachine, TResult}.RequestSnapshot"/>); null when the node is stopping.</summary>
    public async Task<(SnapshotRequestStatus Status, ulong Index)?> RequestSnapshotAsync(CancellationToken cancellationToken)
    {
        var request = new SnapshotCall();
        return await Enqueue(new Input(InputKind.Snapshot, request), cancellationToken).ConfigureAwait(false)
            ? await request.Completion.Task.ConfigureAwait(false)
            : null;
    }

    /// <summary>This node's view of the cluster; null when the node is stopping.</summary>
    public async Task<ClusterStatusResponse?> GetStatusAsync(CancellationToken cancellationToken)
    {
        var request = new StatusCall();
        return await Enqueue(new Input(InputKind.Status, request), cancellationToken).ConfigureAwait(false)
            ? await request.Completion.Task.ConfigureAwait(false)
            : null;
    }

    void IPeerMessageSink.OnMessage(in Message message)
    {
        // Dropped when the loop is saturated: Raft retransmits.
        _inputs.Writer.TryWrite(new Input(InputKind.Message, null) { Message = message });
    }

    void IPeerMessageSink.OnPeerUnreachable(int peerId) =>
        _inputs.Writer.TryWrite(new Input(InputKind.PeerUnreachable, null) { Peer = peerId });

    /// <summary>
    /// Stops the timer and the loop (which persists what the last batch holds and answers what is pending), then
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
            _driver.Stop();
            _storage.Dispose();
        }

        await _transport.DisposeAsync().ConfigureAwait(false);
    }

    private async Task<ReadOutcome<T>> ReadAsync<T>(StoreRead<T> request, CancellationToken cancellationToken) =>
        await Enqueue(new Input(InputKind.Read, request), cancellationToken).ConfigureAwait(false)
            ? await request.Completion.Task.ConfigureAwait(false)
            : ReadOutcome.Failed<T>(ReadFailure.ShuttingDown, 0);

    // False when the loop no longer takes inputs (the node is stopping).
    private async ValueTask<bool> Enqueue(Input input, CancellationToken cancellationToken)
    {
        try
        {
            await _inputs.Writer.WriteAsync(input, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ChannelClosedException)
        {
            return false;
        }
    }

    // Wakes the loop; how many ticks passed is read from the clock, so a tick lost to a full channel is not lost.
    private void OnTimer() => _inputs.Writer.TryWrite(new Input(InputKind.Tick, null));

    private void Publish()
    {
        _watches?.Publish(_driver.StateMachine.AppliedIndex);
        var view = _driver.View;
        if (!ReferenceEquals(view, _view))
        {
            lock (_viewLock)
            {
                // Under the lock, so a waiter that saw the old view has its signal by now.
                _view = view;
                _viewChanged?.TrySetResult();
                _viewChanged = null;
            }

            _metrics.Term = (long)view.Term;
            _metrics.LeaderId = view.LeaderId;
            _metrics.IsLeader = view.Role == RaftRole.Leader;
            _metrics.DiskFull = view.DiskFull;
            _metrics.CommitIndex = (long)view.CommitIndex;
            _metrics.AppliedIndex = (long)view.AppliedIndex;
            FollowMembership(view.Membership);
        }

        _metrics.LogMemoryBytes = _driver.Core.MemoryLogBytes;
        _metrics.MembershipChangePending = _driver.MembershipChangePending;
        _metrics.ClusterVersion = _driver.StateMachine.ClusterVersion;
        _metrics.Leases = _driver.StateMachine.LeaseCount;
        _metrics.Sessions = _driver.StateMachine.SessionCount;
        _metrics.Locks = _driver.StateMachine.LockCount;
        PublishPeerGauges();
        _metrics.Duties = _driver.DutiesProposed;
        if (_watches is not null)
        {
            (_metrics.Watchers, _metrics.WatchesDropped) = (_watches.Watchers, _watches.Dropped);
        }
    }

    private enum InputKind : byte
    {
        Tick,
        Message,
        PeerUnreachable,
        Propose,
        Read,
        Transfer,
        Membership,
        Status,
        Job,
        Snapshot,
    }

    private readonly record struct Input(InputKind Kind, object? Request)
    {
        public Message Message { get; init; }

        public int Peer { get; init; }
    }

    private sealed class TransportOutbox(NodeLoop loop) : IOutbox
    {
        public void Send(in Message message) => loop._transport.Send(in message);
    }

    /// <summary>
    /// Runs each of the driver's background jobs (writing and finishing snapshots) on a thread of its own at a lower
    /// priority, then hands it back through the input channel.
    /// </summary>
    private sealed class BackgroundWorker(NodeLoop loop) : IBackgroundWorker
    {
        public void Start(BackgroundJob job) => BackgroundThreads.Start($"raft-node-{loop._options.Id}-job", () =>
        {
            job.Execute();

            // Waits for room rather than drop it: a job holds files, and the driver waits for it to take another.
            if (!loop.Enqueue(new Input(InputKind.Job, job), CancellationToken.None).AsTask().GetAwaiter().GetResult())
            {
                job.Abandon();
            }
        });
    }
}
