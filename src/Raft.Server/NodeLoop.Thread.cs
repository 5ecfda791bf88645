using System.Diagnostics;
using Raft.Core;
using Raft.KeyValue;
using Raft.Node;
using Raft.Storage;

namespace Raft.Server;

/// <summary>
/// The node's thread: it takes inputs in batches, lets the driver process them, fsyncs what the batch wrote and
/// publishes the result; a storage failure or a broken invariant ends it, and what is still queued is answered.
/// </summary>
internal sealed partial class NodeLoop
{
    private void Run()
    {
        try
        {
            var reader = _inputs.Reader;
            using var wait = new InputWait<Input>(reader);
            while (true)
            {
                if (!reader.TryRead(out var input))
                {
                    if (!wait.Wait())
                    {
                        break;
                    }

                    continue;
                }

                // Peer messages first, then the time that really passed (however long the process was stopped), then
                // requests: nothing is served before the clock has caught up, and what the peers said meanwhile is
                // heard before the timers judge their silence, so a stall alone does not depose a healthy leader.
                // Hearing them on the old clock is safe: it only makes this node refuse votes a little longer.
                _watch.BatchStarting();
                var taken = 0;
                do
                {
                    if (input.Kind is InputKind.Message or InputKind.PeerUnreachable)
                    {
                        Handle(in input);
                    }
                    else if (input.Kind != InputKind.Tick)
                    {
                        _requests.Add(input);
                    }
                }
                while (++taken < InputsPerBatch && reader.TryRead(out input));

                CatchUpClock();
                foreach (var request in _requests)
                {
                    Handle(in request);
                }

                _requests.Clear();

                _driver.Process();
                var fsync = Persist();
                Publish();
                _watch.BatchEnded(fsync);
            }

            // Inputs are closed: persist what the core still holds so a restart finds it.
            _driver.Process();
            _ = Persist();
        }
        catch (FsyncFailedException ex)
        {
            // As PostgreSQL PANICs: the kernel may have dropped the pages it could not write, so no later fsync can vouch
            // for them. Stop before anything else is acknowledged; a restart recovers from what the disk really holds.
            NodeLog.FsyncFailed(_logger, ex, _options.Id, ex.Message);
            _inputs.Writer.TryComplete(ex);
            Failure = ex;
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
            _driver.Stop();
            AnswerQueuedInputs();
            _storage.Dispose();
            Publish();
            _stopped.TrySetResult();
        }
    }

    private void CatchUpClock()
    {
        var due = (ulong)((_time.GetTimestamp() - _clockStart) / _tickTimestamps);
        var elapsed = due > _ticksDelivered ? due - _ticksDelivered : 0;
        _ticksDelivered = Math.Max(_ticksDelivered, due);
        _driver.Tick(elapsed, _time.GetUtcNow().ToUnixTimeMilliseconds());
    }

    // The fsync is done here, on the node's thread: the batch waits for it anyway, and a hop to another thread would
    // cost more than it saves. Returns the time spent in fsync.
    private TimeSpan Persist()
    {
        var fsync = TimeSpan.Zero;
        while (_driver.IsAwaitingPersistence)
        {
            var log = _storage.Log;
            if (log.DurableIndex < log.LastIndex)
            {
                var start = Stopwatch.GetTimestamp();
                log.Sync();
                var elapsed = Stopwatch.GetElapsedTime(start);
                _metrics.ObserveFsync(elapsed);
                fsync += elapsed;
            }

            _driver.Persisted();
        }

        return fsync;
    }

    private void Handle(in Input input)
    {
        switch (input.Kind)
        {
            case InputKind.Tick:
                break;
            case InputKind.Message:
                _driver.Receive(input.Message);

                // After the step: a new leader's first message is what makes it the leader, and it counts as contact.
                if (input.Message.From == _driver.Core.LeaderId)
                {
                    Volatile.Write(ref _leaderContact, Stopwatch.GetTimestamp());
                }

                break;
            case InputKind.PeerUnreachable:
                _driver.PeerUnreachable(input.Peer);
                break;
            case InputKind.Propose:
                _driver.Propose((ProposalRequest)input.Request!);
                break;
            case InputKind.Read:
                _driver.Read((ReadRequest<KvStore>)input.Request!);
                break;
            case InputKind.Transfer:
                _driver.TransferLeadership((TransferCall)input.Request!);
                break;
            case InputKind.Membership:
                _driver.ChangeMembership((MembershipCall)input.Request!);
                break;
            case InputKind.Job:
                _driver.BackgroundDone((BackgroundJob)input.Request!);
                break;
            case InputKind.Status:
                ((StatusCall)input.Request!).Completion.TrySetResult(StatusView.Build(_driver.Status(), _options, _events.LeaderSince, _driver.StateMachine.ClusterVersion));
                break;
            case InputKind.Snapshot:
                var status = _driver.RequestSnapshot(out var index);
                ((SnapshotCall)input.Request!).Completion.TrySetResult((status, index));
                break;
            default:
                throw new UnreachableException($"input kind {input.Kind}");
        }
    }

    // Inputs still in the channel when the loop ends are answered as the driver answered what it held.
    private void AnswerQueuedInputs()
    {
        while (_inputs.Reader.TryRead(out var input))
        {
            (input.Request as IShutdownAnswer)?.AnswerShuttingDown();
            (input.Request as BackgroundJob)?.Abandon();
        }
    }
}
