using Raft.Core;
using Raft.Storage;

namespace Raft.Node;

public sealed partial class NodeDriver<TStateMachine, TResult>
{
    // Snapshot transfers to followers, one per peer at most; each holds the snapshot it is sending open for reading.
    private readonly Dictionary<int, OutboundSnapshot> _outbound = [];

    // Peers the core asked this batch to send a snapshot to, and the snapshot it named; handled between batches, where
    // the core may be called.
    private readonly List<(int Peer, ulong Index)> _snapshotOffers = [];

    // The snapshot being received from the leader, at most one.
    private InboundSnapshot? _inbound;

    // A received snapshot stepped into the core, until the core adopts it (a ready batch names it) or the batch passes.
    private FinishReceivedSnapshotJob<TResult>? _installOffer;

    // Its image, loaded and waiting to be installed when the batch that adopted it is finished.
    private IStateMachineImage? _installImage;

    private TakeSnapshotJob? _snapshotJob;
    private ulong _snapshotRetryTick;

    // An operator asked for a snapshot: the next chance takes one whatever the thresholds say.
    private bool _snapshotRequested;

    // Bytes (Entry.SizeBytes) of every entry applied since the start, and their count when the latest snapshot's image was
    // captured: the log bytes a new snapshot would relieve.
    private long _appliedBytes;
    private long _appliedBytesAtSnapshot;

    // The size of the latest snapshot's stream, which the next one waits on (SnapshotMinLogPercent).
    private long _lastSnapshotBytes;

    private ulong LastSnapshotIndex => _core.LatestSnapshot?.Index ?? 0;

    /// <summary>
    /// An operator's request for a snapshot now (before a risky change, or to shorten the log): one is taken at the
    /// applied index after this batch, whatever <see cref="NodeDriverOptions.SnapshotEveryEntries"/> says, unless one is
    /// being written already or the latest one covers everything applied. <paramref name="index"/> is the index the
    /// snapshot will cover at least (started), the one being written (running), or the latest one's (up to date).
    /// </summary>
    public SnapshotRequestStatus RequestSnapshot(out ulong index)
    {
        ThrowIfStopped();
        if (_snapshotJob is not null)
        {
            index = _snapshotJob.Metadata.Index;
            return SnapshotRequestStatus.Running;
        }

        if (_stateMachine.AppliedIndex <= LastSnapshotIndex)
        {
            index = LastSnapshotIndex;
            return SnapshotRequestStatus.UpToDate;
        }

        index = _stateMachine.AppliedIndex;
        _snapshotRequested = true;
        _snapshotRetryTick = 0;
        return SnapshotRequestStatus.Started;
    }

    /// <summary>
    /// The host hands back a job it ran for this driver (<see cref="IBackgroundWorker"/>): a snapshot written out, or a
    /// received one finished. Like every input, on the driver's thread; after <see cref="Stop"/> the job is abandoned.
    /// </summary>
    public void BackgroundDone(BackgroundJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (_stopped)
        {
            job.Abandon();
            return;
        }

        if (!job.Executed)
        {
            throw new InvalidOperationException("a background job was handed back before it ran");
        }

        if (_unpersisted is not null)
        {
            // Never dropped, even by a full inbox: a job holds files and an image, and there is at most one of each kind.
            _inbox.Enqueue(new Input(InputKind.Job, default, 0, job, 0));
            return;
        }

        JobDone(job);
    }

    private void JobDone(BackgroundJob job)
    {
        switch (job)
        {
            case TakeSnapshotJob take:
                SnapshotWritten(take);
                break;
            case FinishReceivedSnapshotJob<TResult> finish:
                ReceivedSnapshotFinished(finish);
                break;
            default:
                throw new InvalidOperationException($"a background job of type {job.GetType().Name} is not this driver's");
        }
    }

    // Between batches: the policy, the snapshot transfers the core asked for, and the ones that ended.
    private void AfterReadiesSnapshots()
    {
        if (_installOffer is not null)
        {
            // The core did not adopt the received snapshot (its log already covers it): drop it.
            _installOffer.Abandon();
            _installOffer = null;
        }

        foreach (var (peer, index) in _snapshotOffers)
        {
            OfferSnapshot(peer, index);
        }

        _snapshotOffers.Clear();
        EndFinishedTransfers();
        MaybeTakeSnapshot();
    }

    private void MaybeTakeSnapshot()
    {
        var applied = _stateMachine.AppliedIndex;
        if (_snapshotJob is not null || _ticks < _snapshotRetryTick || applied <= LastSnapshotIndex || _core.AppliedIndex != applied)
        {
            return;
        }

        var logBytes = _appliedBytes - _appliedBytesAtSnapshot;
        if (!_snapshotRequested && applied - LastSnapshotIndex < (ulong)_options.SnapshotEveryEntries && logBytes < _options.SnapshotEveryLogBytes)
        {
            return;
        }

        if (!_snapshotRequested && logBytes < (long)((double)_lastSnapshotBytes * _options.SnapshotMinLogPercent / 100))
        {
            return;
        }

        _snapshotRequested = false;

        // The image is frozen here, at the applied index, and written out by another thread while this one goes on.
        var image = _stateMachine.CaptureImage();
        _snapshotJob = new TakeSnapshotJob(_core.SnapshotMetadataAt(image.Index), image, _snapshots, _appliedBytes);
        _events.SnapshotStarted(_snapshotJob.Metadata);
        _worker.Start(_snapshotJob);
    }

    private void SnapshotWritten(TakeSnapshotJob job)
    {
        if (!ReferenceEquals(job, _snapshotJob))
        {
            throw new InvalidOperationException("a snapshot job this driver is not waiting for was handed back");
        }

        _snapshotJob = null;
        if (job.Failure is { } failure)
        {
            ThrowIfNotStorageFailure(failure, "taking a snapshot");
            _events.SnapshotFailed($"taking a snapshot at {job.Metadata.Index}", failure);
            _snapshotRetryTick = _ticks + (ulong)_options.SnapshotRetryAfterFailureTicks;
            return;
        }

        if (!job.Installed || job.Metadata.Index <= LastSnapshotIndex)
        {
            // A snapshot received from the leader overtook it while it was written (before or after it was installed).
            return;
        }

        _core.SnapshotTaken(job.Metadata);
        _appliedBytesAtSnapshot = job.AppliedBytes;
        _lastSnapshotBytes = job.Bytes;
        _events.SnapshotTaken(job.Metadata, job.Bytes);
        CompactLog();
    }

    // The log is kept SnapshotTrailingEntries behind the latest snapshot, so that a follower a little behind catches up
    // from entries; never past a snapshot being sent, whose receiver will need the entries after it; and, on a leader,
    // never past a follower catching up from entries (one that just installed a large snapshot while the log grew):
    // compacting what it is about to be sent would send it a whole snapshot again. A follower that stopped answering
    // holds nothing.
    private void CompactLog()
    {
        if (_core.LatestSnapshot is not { } latest)
        {
            return;
        }

        var target = latest.Index > (ulong)_options.SnapshotTrailingEntries ? latest.Index - (ulong)_options.SnapshotTrailingEntries : 0;
        foreach (var transfer in _outbound.Values)
        {
            target = Math.Min(target, transfer.Metadata.Index);
        }

        target = Math.Min(target, _core.CatchingUpFollowersMatch());

        if (target >= _core.FirstIndex)
        {
            _core.Compact(target);
            _log.CompactPrefix(target);
        }
    }

    // The core wants its snapshot at index (or a newer one) sent to peer: start a transfer, or go on with the one under
    // way if it is that snapshot.
    private void OfferSnapshot(int peer, ulong index)
    {
        if (_core.Role != RaftRole.Leader)
        {
            return;
        }

        if (_outbound.TryGetValue(peer, out var transfer))
        {
            // The core stopped waiting and asks again: go on from what the follower is known to hold, even if a newer
            // snapshot was taken meanwhile (starting over would throw away what arrived, and a large transfer could
            // then never finish while snapshots are taken), unless the follower already has all of an older one.
            if (transfer.Term == _core.Term && (transfer.Acked < transfer.Total || transfer.Metadata.Index >= index))
            {
                transfer.Next = transfer.Acked;
                PumpChunks(transfer);
                return;
            }

            EndTransfer(peer);
        }

        SnapshotReader? reader;
        try
        {
            if (!_snapshots.TryOpenLatest(out reader))
            {
                throw new InvalidOperationException($"node {Id}: the core offers a snapshot to {peer} but the snapshot store holds none");
            }
        }
        catch (Exception ex) when (BackgroundJob.IsStorageFailure(ex))
        {
            // As a failed read: the core asks again after an election timeout.
            _events.SnapshotFailed($"opening the snapshot at {index} for {peer}", ex);
            return;
        }

        transfer = new OutboundSnapshot(peer, reader, _core.Term, _options.SnapshotChunkBytes) { LastHeardTick = _ticks };
        _outbound.Add(peer, transfer);
        _events.SnapshotSendStarted(peer, reader.Metadata, reader.Length);
        PumpChunks(transfer);
    }

    private void PumpChunks(OutboundSnapshot transfer)
    {
        var window = (ulong)_options.SnapshotChunkBytes * (ulong)_options.SnapshotChunksInFlight;
        while (transfer.Acked < transfer.Total && transfer.Next < transfer.Total && transfer.Next - transfer.Acked < window)
        {
            if (!SendChunk(transfer, transfer.Next, (int)Math.Min((ulong)_options.SnapshotChunkBytes, transfer.Total - transfer.Next)))
            {
                return;
            }
        }
    }

    // False when the snapshot could not be read: the transfer is ended, and the core, hearing nothing of it, probes the
    // follower again after an election timeout (at once would read the same failing file in a loop).
    private bool SendChunk(OutboundSnapshot transfer, ulong offset, int length)
    {
        var data = transfer.Buffer.AsMemory(0, length);
        try
        {
            // ReadAt fills what it is given unless the stream ends first.
            if (transfer.Reader.ReadAt((long)offset, data.Span) != length)
            {
                throw new InvalidDataException($"the snapshot ends before its length {transfer.Total}");
            }
        }
        catch (Exception ex) when (BackgroundJob.IsStorageFailure(ex))
        {
            _events.SnapshotFailed($"sending the snapshot at {transfer.Metadata.Index} to {transfer.Peer}", ex);
            EndTransfer(transfer.Peer);
            return false;
        }

        // The buffer is reused for the next chunk: an outbox that keeps the message copies its data (IOutbox).
        SendDirect(new Message
        {
            Type = MessageType.SnapshotChunk,
            From = Id,
            To = transfer.Peer,
            Term = _core.Term,
            Index = transfer.Metadata.Index,
            LogTerm = transfer.Metadata.Term,
            Offset = offset,
            TotalBytes = transfer.Total,
            Checksum = Crc32C.Compute(data.Span),
            Data = data,
        });
        transfer.Next = Math.Max(transfer.Next, offset + (ulong)length);
        return true;
    }

    private void ReceiveChunkResponse(in Message m)
    {
        if (_core.Role != RaftRole.Leader || m.Term != _core.Term || !_outbound.TryGetValue(m.From, out var transfer)
            || m.Index != transfer.Metadata.Index || m.LogTerm != transfer.Metadata.Term || m.Offset > transfer.Total)
        {
            return;
        }

        transfer.LastHeardTick = _ticks;
        if (m.Reject)
        {
            // A gap, a damaged chunk, or a follower that lost what it had: go on from what it holds.
            transfer.Acked = m.Offset;
            transfer.Next = m.Offset;
        }
        else if (m.Offset > transfer.Acked || m.Offset == transfer.Total)
        {
            transfer.Acked = m.Offset;
            transfer.Next = Math.Max(transfer.Next, transfer.Acked);

            // Moving, or finishing (every byte is there, and the follower answers the pings while it makes the snapshot
            // durable and loads it): the core must not give up on it however long it takes. A follower that already
            // holds what the snapshot covers answers the core itself, which ends the transfer.
            _core.SnapshotProgress(m.From, transfer.Metadata.Index);
        }

        PumpChunks(transfer);
    }

    // A transfer whose chunks or answers were lost resends from what the follower is known to hold; one whose every
    // byte arrived is pinged with its last byte while the follower finishes, and the answer keeps the core waiting.
    private void RetrySnapshotChunks()
    {
        foreach (var transfer in _outbound.Values)
        {
            if (_ticks - Math.Max(transfer.LastHeardTick, transfer.LastRetryTick) < (ulong)_options.SnapshotRetryTicks)
            {
                continue;
            }

            transfer.LastRetryTick = _ticks;
            if (transfer.Acked == transfer.Total)
            {
                SendChunk(transfer, transfer.Total - 1, 1);
            }
            else
            {
                transfer.Next = transfer.Acked;
                PumpChunks(transfer);
            }
        }
    }

    // A transfer no leader has gone on with for a long while (its leader died; the next one sends its own snapshot)
    // would keep its temporary file forever.
    private void DropStalledInbound()
    {
        if (_inbound is { Job: null } inbound && _ticks - inbound.LastChunkTick > (ulong)_options.SnapshotAbandonTicks)
        {
            _events.SnapshotFailed($"receiving the snapshot at {inbound.Index}", new TimeoutException($"no chunk arrived for {_options.SnapshotAbandonTicks} ticks"));
            DropInbound();
        }
    }

    private void EndFinishedTransfers()
    {
        if (_outbound.Count == 0)
        {
            return;
        }

        List<int>? ended = null;
        foreach (var (peer, transfer) in _outbound)
        {
            if (_core.Role != RaftRole.Leader || transfer.Term != _core.Term
                || !_core.TryGetProgress(peer, out _, out _, out var state) || state == ReplicationState.Replicate)
            {
                (ended ??= []).Add(peer);
            }
        }

        if (ended is null)
        {
            return;
        }

        foreach (var peer in ended)
        {
            EndTransfer(peer);
        }

        // Entries held back for those followers may go now.
        if (_core.Role == RaftRole.Leader)
        {
            CompactLog();
        }
    }

    private void EndTransfer(int peer)
    {
        if (_outbound.Remove(peer, out var transfer))
        {
            transfer.Reader.Dispose();
        }
    }

    private void ReceiveChunk(in Message m)
    {
        if (_core.Role != RaftRole.Follower || m.Term != _core.Term || m.From != _core.LeaderId)
        {
            return;
        }

        if (m.Index <= _core.CommitIndex)
        {
            // What it covers is here already (a snapshot installed, or entries committed meanwhile): nothing to take,
            // and the leader learns where this node stands.
            AnswerChunk(m, m.TotalBytes, reject: false);
            _core.SnapshotNotNeeded(m.From);
            return;
        }

        var inbound = _inbound;
        if (inbound is null || inbound.Index != m.Index || inbound.Term != m.LogTerm || inbound.Total != m.TotalBytes)
        {
            if (m.Offset != 0)
            {
                // Another snapshot than the one under way (or none): it must start from the beginning.
                AnswerChunk(m, 0, reject: true);
                return;
            }

            DropInbound();
            SnapshotSink sink;
            try
            {
                sink = _snapshots.CreateSink();
            }
            catch (Exception ex) when (BackgroundJob.IsStorageFailure(ex))
            {
                _events.SnapshotFailed($"receiving the snapshot at {m.Index} from {m.From}", ex);
                AnswerChunk(m, 0, reject: true);
                return;
            }

            inbound = _inbound = new InboundSnapshot(m.Index, m.LogTerm, m.TotalBytes, sink);
        }

        inbound.Leader = m.From;
        inbound.LeaderTerm = m.Term;
        inbound.LastChunkTick = _ticks;
        if (inbound.Job is not null || m.Offset < inbound.Received)
        {
            // Finishing, or a chunk already taken: say how much is here.
            AnswerChunk(m, inbound.Received, reject: false);
            return;
        }

        if (m.Offset > inbound.Received || Crc32C.Compute(m.Data.Span) != m.Checksum)
        {
            AnswerChunk(m, inbound.Received, reject: true);
            return;
        }

        try
        {
            inbound.Sink.Write(m.Data.Span);
        }
        catch (Exception ex) when (BackgroundJob.IsStorageFailure(ex))
        {
            _events.SnapshotFailed($"receiving the snapshot at {m.Index} from {m.From}", ex);
            DropInbound();
            AnswerChunk(m, 0, reject: true);
            return;
        }

        inbound.Received += (ulong)m.Data.Length;
        if (inbound.Received == inbound.Total)
        {
            inbound.Job = new FinishReceivedSnapshotJob<TResult>(inbound.Sink, _stateMachine);
            _worker.Start(inbound.Job);
        }

        AnswerChunk(m, inbound.Received, reject: false);
    }

    private void AnswerChunk(in Message chunk, ulong held, bool reject) =>
        SendDirect(new Message
        {
            Type = MessageType.SnapshotChunkResponse,
            From = Id,
            To = chunk.From,
            Term = _core.Term,
            Index = chunk.Index,
            LogTerm = chunk.LogTerm,
            Offset = held,
            Reject = reject,
        });

    private void ReceivedSnapshotFinished(FinishReceivedSnapshotJob<TResult> job)
    {
        var inbound = _inbound;
        if (inbound is null || !ReferenceEquals(inbound.Job, job))
        {
            // The transfer was dropped while it finished (another snapshot began, the node stopped following).
            job.Abandon();
            return;
        }

        _inbound = null;
        if (job.Failure is { } failure)
        {
            ThrowIfNotStorageFailure(failure, "finishing a received snapshot");
            _events.SnapshotFailed($"finishing the snapshot at {inbound.Index} received from {inbound.Leader}", failure);
            job.Abandon();

            // Unasked: the leader believes every byte arrived, so it must hear that none is kept.
            AnswerChunk(new Message { From = inbound.Leader, Index = inbound.Index, LogTerm = inbound.Term }, 0, reject: true);
            return;
        }

        _installOffer = job;
        StepCore(new Message { Type = MessageType.InstallSnapshot, From = inbound.Leader, To = Id, Term = inbound.LeaderTerm, Snapshot = job.Staged!.Metadata });
    }

    // The core adopted a received snapshot: it becomes the latest, durably, before the log forgets what it covers.
    private void AdoptReceivedSnapshot(SnapshotMetadata snapshot)
    {
        var offer = _installOffer;
        if (offer?.Staged is not { } staged || staged.Metadata.Index != snapshot.Index || staged.Metadata.Term != snapshot.Term)
        {
            throw new InvalidOperationException($"node {Id}: the core adopted snapshot ({snapshot.Index}, t{snapshot.Term}), which the driver did not offer");
        }

        _installOffer = null;
        _installImage = offer.Image;
        _lastSnapshotBytes = staged.Length;
        var installed = _snapshots.Install(staged);
        offer.ReleaseFiles();
        if (!installed)
        {
            throw new InvalidOperationException($"node {Id}: the snapshot store refused snapshot {snapshot.Index} as older than its latest {_snapshots.LatestMetadata?.Index}");
        }

        // A divergent suffix goes with it.
        if (_log.LastIndex > snapshot.Index)
        {
            _log.TruncateSuffix(Math.Max(snapshot.Index, _log.FirstIndex - 1));
        }

        _log.CompactPrefix(snapshot.Index);
        _appliedBytesAtSnapshot = _appliedBytes;
    }

    // After the batch that adopted it is durable: the state becomes the snapshot's.
    private void InstallReceivedImage(SnapshotMetadata snapshot)
    {
        var image = _installImage ?? throw new InvalidOperationException($"node {Id}: no image waits for snapshot {snapshot.Index}");
        _installImage = null;
        _stateMachine.InstallImage(image);
        if (_stateMachine.AppliedIndex != snapshot.Index)
        {
            throw new InvalidDataException($"snapshot ({snapshot.Index}, t{snapshot.Term}) holds a state machine image taken at {_stateMachine.AppliedIndex}");
        }

        _events.SnapshotInstalled(snapshot, _lastSnapshotBytes);
        AbandonWritesThrough(snapshot.Index);
    }

    private void DropInbound()
    {
        if (_inbound is { } inbound)
        {
            _inbound = null;

            // A sink being finished belongs to its job, which abandons it when handed back.
            if (inbound.Job is null)
            {
                inbound.Sink.Dispose();
            }
        }
    }

    private void StopSnapshots()
    {
        foreach (var peer in _outbound.Keys.ToArray())
        {
            EndTransfer(peer);
        }

        DropInbound();
        _installOffer?.Abandon();
        _installOffer = null;
        _installImage?.Dispose();
        _installImage = null;
    }

    private void SendDirect(in Message message)
    {
        _events.MessageSent(message);
        _outbox.Send(message);
    }

    private static void ThrowIfNotStorageFailure(Exception failure, string what)
    {
        if (!BackgroundJob.IsStorageFailure(failure))
        {
            throw new InvalidOperationException($"{what} failed", failure);
        }
    }

    private sealed class OutboundSnapshot(int peer, SnapshotReader reader, ulong term, int chunkBytes)
    {
        public int Peer { get; } = peer;

        public SnapshotReader Reader { get; } = reader;

        public SnapshotMetadata Metadata => Reader.Metadata;

        public ulong Total { get; } = (ulong)reader.Length;

        /// <summary>The leader's term the transfer belongs to.</summary>
        public ulong Term { get; } = term;

        /// <summary>The bytes the follower said it holds.</summary>
        public ulong Acked { get; set; }

        /// <summary>The offset of the next chunk to send.</summary>
        public ulong Next { get; set; }

        public ulong LastHeardTick { get; set; }

        public ulong LastRetryTick { get; set; }

        /// <summary>One chunk's bytes, reused for every chunk of this transfer.</summary>
        public byte[] Buffer { get; } = new byte[chunkBytes];
    }

    private sealed class InboundSnapshot(ulong index, ulong term, ulong total, SnapshotSink sink)
    {
        public ulong Index { get; } = index;

        public ulong Term { get; } = term;

        public ulong Total { get; } = total;

        public SnapshotSink Sink { get; } = sink;

        public ulong Received { get; set; }

        /// <summary>The leader that sent the latest chunk, and its term: whom the finished snapshot is answered to.</summary>
        public int Leader { get; set; }

        public ulong LeaderTerm { get; set; }

        public ulong LastChunkTick { get; set; }

        /// <summary>Set once every byte arrived: the job finishing it off the driver's thread.</summary>
        public FinishReceivedSnapshotJob<TResult>? Job { get; set; }
    }
}

/// <summary>What <see cref="NodeDriver{TStateMachine, TResult}.RequestSnapshot"/> did.</summary>
public enum SnapshotRequestStatus
{
    /// <summary>A snapshot will be taken after this batch.</summary>
    Started,

    /// <summary>A snapshot is being written already; no other is started.</summary>
    Running,

    /// <summary>The latest snapshot covers everything applied; none is needed.</summary>
    UpToDate,
}
