using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// Where a node keeps its <see cref="HardState"/> (term, vote, commit). <see cref="Save"/> is atomic and
/// durable when it returns: after a crash, <see cref="TryLoad"/> yields either the state before the last
/// save or the one it wrote, never a mix. Single-threaded: the node loop owns it.
/// </summary>
public interface IHardStateStore : IDisposable
{
    /// <summary>The last state saved; false (and the default state) when none was ever saved.</summary>
    bool TryLoad(out HardState state);

    /// <summary>Replaces the stored state, durably; saving the current state again costs nothing.</summary>
    /// <exception cref="DiskFullException">No room: nothing changed, and the same save may be tried again.</exception>
    void Save(in HardState state);
}

/// <summary>An <see cref="IHardStateStore"/> in memory, for the simulator and tests.</summary>
public sealed class MemoryHardStateStore : IHardStateStore
{
    private HardState _state;
    private bool _saved;

    /// <summary>A full disk, for the simulator and tests: while set, a save that changes the state throws <see cref="DiskFullException"/> and changes nothing.</summary>
    public bool DiskFull { get; set; }

    /// <summary>How many saves changed the state: a simulator can charge an fsync for each.</summary>
    public long SaveCount { get; private set; }

    public bool TryLoad(out HardState state)
    {
        state = _state;
        return _saved;
    }

    public void Save(in HardState state)
    {
        if (_saved && state == _state)
        {
            return;
        }

        if (DiskFull)
        {
            throw new DiskFullException("no space left to save the hard state (simulated)");
        }

        _state = state;
        _saved = true;
        SaveCount++;
    }

    public void Dispose()
    {
    }
}
