using Raft.KeyValue;

namespace Raft.Server.Api;

/// <summary>
/// Wakes the acquires waiting for a lock when the state machine grants, renews or releases it. <see cref="Raise"/>
/// is the store's <see cref="KvStoreOptions.LockChanged"/>: it runs on the node's thread during an apply, so it
/// only completes a task, whose continuations run elsewhere. A name nobody waits for costs one volatile read.
/// </summary>
internal sealed class LockChanges
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Waiters> _waiters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Waiters>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private volatile int _count;

    public LockChanges() => _lookup = _waiters.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>
    /// Starts watching <paramref name="name"/>: the registration's task completes at the next change applied after
    /// this call. Take it before proposing, so a change applied right after the proposal is not missed; dispose it
    /// when done waiting, so names nobody waits for any more are forgotten.
    /// </summary>
    public Registration Watch(string name)
    {
        lock (_gate)
        {
            if (!_waiters.TryGetValue(name, out var waiters))
            {
                waiters = new Waiters(name);
                _waiters.Add(name, waiters);
                _count = _waiters.Count;
            }

            waiters.Count++;
            return new Registration(this, waiters);
        }
    }

    /// <summary>The lock <paramref name="name"/> changed: wakes everyone watching it.</summary>
    public void Raise(ReadOnlySpan<char> name)
    {
        if (_count == 0)
        {
            return;
        }

        Waiters? waiters;
        lock (_gate)
        {
            if (!_lookup.Remove(name, out _, out waiters))
            {
                return;
            }

            _count = _waiters.Count;
        }

        waiters.Changed.TrySetResult();
    }

    private void Leave(Waiters waiters)
    {
        lock (_gate)
        {
            if (--waiters.Count == 0 && _waiters.TryGetValue(waiters.Name, out var current) && current == waiters)
            {
                _waiters.Remove(waiters.Name);
                _count = _waiters.Count;
            }
        }
    }

    internal sealed class Waiters(string name)
    {
        public string Name { get; } = name;

        public int Count { get; set; }

        public TaskCompletionSource Changed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>One watcher of one name.</summary>
    public readonly struct Registration : IDisposable
    {
        private readonly LockChanges _owner;
        private readonly Waiters _waiters;

        internal Registration(LockChanges owner, Waiters waiters) => (_owner, _waiters) = (owner, waiters);

        /// <summary>Completes when the lock changes after <see cref="Watch"/>.</summary>
        public Task Changed => _waiters.Changed.Task;

        public void Dispose() => _owner.Leave(_waiters);
    }
}
