using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Tests;

/// <summary>An in-memory "cluster" of three nodes that can be told to misbehave the ways a broken store would.</summary>
internal sealed class FakeTarget : IBenchTarget
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string Value, ulong ModIndex, ulong CreateIndex, long Version)> _store = [];
    private ulong _index;
    private int _puts;

    /// <summary>Acknowledge the n-th write (1-based) without keeping it.</summary>
    public int LoseWriteNumber { get; init; }

    /// <summary>Apply every write twice, as a retried proposal would.</summary>
    public bool ApplyTwice { get; init; }

    /// <summary>Answer reads from a state that lags by this many writes.</summary>
    public bool StaleReads { get; init; }

    public string Name => "fake";

    public int Nodes => 3;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task<WriteOutcome> PutAsync(int node, string key, string value, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Answer asynchronously, as a network would, so a client loop yields between requests.
        await Task.Yield();
        lock (_gate)
        {
            _puts++;
            var index = ++_index;
            if (_puts != LoseWriteNumber)
            {
                _store[key] = (value, index, index, 1);
                if (ApplyTwice)
                {
                    var again = ++_index;
                    _store[key] = (value, again, index, 2);
                }
            }

            return new WriteOutcome(null, index, 0);
        }
    }

    public async Task<ReadOutcome> GetAsync(int node, string key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await Task.Yield();
        lock (_gate)
        {
            if (StaleReads || !_store.TryGetValue(key, out var kv))
            {
                return ReadOutcome.NotFound(_index);
            }

            return new ReadOutcome(null, true, kv.Value, _index, kv.ModIndex, kv.CreateIndex, kv.Version, 0);
        }
    }

    public Task<bool?> ClaimsLeadershipAsync(int node, TimeSpan timeout, CancellationToken cancellationToken) => Task.FromResult<bool?>(node == 1);

    public Task<bool> TransferLeadershipAsync(int leader, CancellationToken cancellationToken) => Task.FromResult(true);

    public Task CrashAsync(int node, CancellationToken cancellationToken) => Task.CompletedTask;

    public void Pause(int node)
    {
    }

    public void Resume(int node)
    {
    }

    public Task RestartAsync(int node, CancellationToken cancellationToken) => Task.CompletedTask;

    public int Pid(int node) => 0;


    public Task ReplaceAsync(int dead, CancellationToken cancellationToken) => Task.CompletedTask;

    public void KillAll()
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
