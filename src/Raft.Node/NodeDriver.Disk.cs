using Raft.Core;
using Raft.Storage;

namespace Raft.Node;

/// <summary>
/// A full disk. The batch that found no room stays waiting, exactly as a batch waits for an fsync: nothing that vouches
/// for it is sent (a follower does not acknowledge entries it did not persist, a voter does not grant a vote it did not
/// save), nothing is applied, and every other input is queued. The write that failed (the log append, or the hard state
/// save after the log is durable) is tried again as ticks arrive, after 1 tick and then twice as long each time up to
/// <see cref="NodeDriverOptions.DiskFullRetryTicksMax"/>; once it succeeds the batch goes on where it stopped, with no
/// restart. New proposals are refused meanwhile (<see cref="WriteStatus.DiskFull"/>).
/// </summary>
/// <remarks>
/// A leader in this state stops sending heartbeats (its core is not ticked while a batch waits), so its followers elect a
/// leader that can write within an election timeout, and the writes clients retry go there. Its own pending writes are
/// answered as a deposed leader's are once it hears of the new term. A failed fsync is not this: the stores throw
/// <see cref="FsyncFailedException"/>, which the driver does not catch, and the host stops.
/// </remarks>
public sealed partial class NodeDriver<TStateMachine, TResult>
{
    // Which write found no room, from then until a retry of it succeeds; None while the disk takes writes.
    private DiskFullStep _diskFull;

    // While the disk is full: ticks left until the next attempt, and the wait that set them (doubled per attempt).
    private ulong _diskRetryInTicks;
    private ulong _diskBackoffTicks;

    /// <summary>The waiting batch could not be written for want of space; it is retried as ticks arrive.</summary>
    public bool IsDiskFull => _diskFull != DiskFullStep.None;

    // A follower's disk does not matter to a write: it goes to the leader, which the host routes it to.
    private WriteStatus DiskFullAnswer => _core.Role != RaftRole.Leader && _core.LeaderId != 0 ? WriteStatus.NotLeader : WriteStatus.DiskFull;

    private enum DiskFullStep : byte
    {
        None,

        /// <summary>The batch's entries are not in the log.</summary>
        Entries,

        /// <summary>The log holds the batch durably; its term and vote are not saved.</summary>
        HardState,
    }

    /// <summary>Hands the waiting batch's entries to the log; false (and stuck) when the disk is full.</summary>
    private bool TryAppend(Ready ready)
    {
        var entries = ready.Entries.Span;
        if (entries.IsEmpty)
        {
            return true;
        }

        try
        {
            _log.Append(entries);
        }
        catch (DiskFullException ex)
        {
            EnterDiskFull(DiskFullStep.Entries, ex);
            return false;
        }

        _events.EntriesAppended(entries[0].Index, entries[^1].Index);
        return true;
    }

    /// <summary>Saves the waiting batch's term and vote if they changed; false (and stuck) when the disk is full.</summary>
    private bool TrySaveHardState(Ready ready)
    {
        if (!MustSaveHardState(ready))
        {
            return true;
        }

        try
        {
            _hardState.Save(ready.HardState);
        }
        catch (DiskFullException ex)
        {
            EnterDiskFull(DiskFullStep.HardState, ex);
            return false;
        }

        _savedHardState = ready.HardState;
        return true;
    }

    private void EnterDiskFull(DiskFullStep step, DiskFullException exception)
    {
        if (_diskFull != DiskFullStep.None)
        {
            // A retry that found no room again: the backoff goes on.
            return;
        }

        _diskFull = step;
        _diskBackoffTicks = 1;
        _diskRetryInTicks = 1;
        _events.DiskFull(true, exception);
        RefuseQueuedProposals();
    }

    // Proposals queued behind the stuck batch were never handed to the core: refuse them now, as new ones are.
    private void RefuseQueuedProposals()
    {
        for (var count = _inbox.Count; count > 0; count--)
        {
            var input = _inbox.Dequeue();
            if (input.Kind == InputKind.Propose)
            {
                ((WriteRequest<TResult>)input.Request!).Finish(Outcome(DiskFullAnswer));
                continue;
            }

            _inbox.Enqueue(input);
        }
    }

    private void RetryDiskAfter(ulong elapsedTicks)
    {
        if (elapsedTicks < _diskRetryInTicks)
        {
            _diskRetryInTicks -= elapsedTicks;
            return;
        }

        _diskBackoffTicks = Math.Min(_diskBackoffTicks * 2, (ulong)_options.DiskFullRetryTicksMax);
        _diskRetryInTicks = _diskBackoffTicks;
        var ready = _unpersisted!;
        var step = _diskFull;
        if (!(step == DiskFullStep.Entries ? TryAppend(ready) : TrySaveHardState(ready)))
        {
            return;
        }

        _diskFull = DiskFullStep.None;
        _events.DiskFull(false, null);
        if (step == DiskFullStep.Entries)
        {
            // Written: from here on the batch waits for the host's fsync like any other.
            Publish();
            return;
        }

        // The log already held the batch durably and its hard state is saved now: the batch goes on.
        Persisted();
    }
}
