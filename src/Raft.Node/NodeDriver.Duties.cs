using Raft.Core;

namespace Raft.Node;

public sealed partial class NodeDriver<TStateMachine, TResult>
{
    private readonly List<byte[]> _dueCommands = [];

    // The wall clock when this node last heard from a leader of its term, or last led; null until it first has.
    private long? _lastLeaderContactMs;

    // Set when this node became leader and has not yet proposed its take-over command.
    private bool _takeOverPending;

    // The leader's duties wait until this index, its take-over, has applied: until then the state does not yet say
    // what the failover changed.
    private ulong _dutiesFromIndex = ulong.MaxValue;
    private int _dutiesInFlight;

    /// <summary>Commands the leader proposed of its own accord (take-overs and due duties) since the driver started.</summary>
    public long DutiesProposed { get; private set; }

    private void NoteLeaderContact(in Message message)
    {
        if (message.From == _core.LeaderId && message.Term == _core.Term && message.Type is MessageType.Append or MessageType.Heartbeat or MessageType.InstallSnapshot)
        {
            _lastLeaderContactMs = _wallClockMs;
        }
    }

    // The term this driver last took up leadership in.
    private ulong _ledTerm;

    // Called before the first batch of a new leader, which holds its no-op: what it proposes here (its take-over, and
    // the writes held while no leader was known or handed over by its predecessor) shares that batch, so the first
    // fsync and the first append carry them all.
    private void TakeUpLeadership()
    {
        _ledTerm = _core.Term;
        _takeOverPending = true;
        _dutiesFromIndex = ulong.MaxValue;
        if (_core.LeadTransferee == 0)
        {
            ProposeTakeOver();
        }

        ReleaseHeldWrites();
    }

    // Proposed before anything else this term: a keep-alive that reached the new leader first must not find its lease
    // run out by the time the cluster spent without a leader. The gap runs from the last time this node heard from a
    // leader (or led) to now; a node that has not since it started counts from the last command it applied.
    private void ProposeTakeOver()
    {
        _takeOverPending = false;
        var now = StampNow();
        var gapMs = now - (_lastLeaderContactMs ?? _stateMachine.ClockMs);
        if (_stateMachine.TakeOverCommand(gapMs) is not { } command)
        {
            _dutiesFromIndex = _core.LastIndex;
            return;
        }

        var duty = new DutyWrite(command, this);
        ProposeNow(duty);
        _dutiesFromIndex = duty.Index != 0 ? duty.Index : _core.LastIndex;
    }

    // On every tick of a leader: what the state machine says has come due, once the last round of it has applied.
    private void PerformDuties()
    {
        if (_core.Role != RaftRole.Leader)
        {
            return;
        }

        _lastLeaderContactMs = _wallClockMs;
        if (_takeOverPending && _core.LeadTransferee == 0)
        {
            ProposeTakeOver();
        }

        if (_dutiesInFlight > 0 || _stateMachine.AppliedIndex < _dutiesFromIndex || _core.LeadTransferee != 0)
        {
            return;
        }

        _dueCommands.Clear();
        _stateMachine.CollectDueCommands(StampNow(), _dueCommands);
        foreach (var command in _dueCommands)
        {
            Propose(new DutyWrite(command, this));
        }
    }

    // The time a command proposed now is stamped with (see ProposeNow).
    private long StampNow() => Math.Max(_wallClockMs, Math.Max(_stateMachine.ClockMs, _lastStampMs));

    /// <summary>A command the leader proposes of its own accord; nobody waits for its answer.</summary>
    private sealed class DutyWrite : WriteRequest<TResult>
    {
        private readonly NodeDriver<TStateMachine, TResult> _driver;

        public DutyWrite(byte[] command, NodeDriver<TStateMachine, TResult> driver)
            : base(command)
        {
            _driver = driver;
            driver._dutiesInFlight++;
            driver.DutiesProposed++;
        }

        protected override void OnCompleted(in WriteOutcome<TResult> outcome) => _driver._dutiesInFlight--;
    }
}
