using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Harness;

/// <summary>
/// After a trial: every acknowledged write must be there, with its value, written exactly once. Exactly once means
/// the key's last write is its creation and is the write that was acknowledged (mod index = create index =
/// acknowledged index), and, where the store counts writes (etcd's <c>version</c>), the count is 1.
/// </summary>
internal static class Verifier
{
    private const int Parallelism = 4;
    private const int AttemptsPerKey = 12;

    public static async Task<IReadOnlyList<string>> VerifyAsync(IBenchTarget target, IReadOnlyList<WriteRecord> writes, TimeSpan readTimeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(writes);
        var acknowledged = writes.Where(w => w.Ok).ToArray();
        return await ReadBackAsync(target, acknowledged, w => w.Key, Check, readTimeout, Parallelism, 1, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads every item's key linearizably, <paramref name="parallelism"/> readers at a time starting at nodes
    /// <paramref name="firstNode"/> and after it, each following the leader named in a failed answer (or moving on), up to
    /// <see cref="AttemptsPerKey"/> attempts per key; returns what <paramref name="check"/> found wrong, and each key that
    /// could not be read, sorted.
    /// </summary>
    public static async Task<IReadOnlyList<string>> ReadBackAsync<T>(
        IBenchTarget target, IReadOnlyList<T> items, Func<T, string> key, Func<T, ReadOutcome, string?> check, TimeSpan readTimeout, int parallelism, int firstNode,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(check);
        var problems = new List<string>();
        var next = -1;
        async Task CheckAllAsync(int reader)
        {
            var node = ((firstNode - 1 + reader) % target.Nodes) + 1;
            int i;
            while ((i = Interlocked.Increment(ref next)) < items.Count)
            {
                var item = items[i];
                ReadOutcome read = default;
                for (var attempt = 0; attempt < AttemptsPerKey; attempt++)
                {
                    read = await target.GetAsync(node, key(item), readTimeout, cancellationToken).ConfigureAwait(false);
                    if (read.Ok)
                    {
                        break;
                    }

                    node = Workload.NextNode(node, read.LeaderHint, target.Nodes);
                    await Task.Delay(5, cancellationToken).ConfigureAwait(false);
                }

                var problem = read.Ok ? check(item, read) : $"key {key(item)}: could not be read back after {AttemptsPerKey} attempts (last error {read.Error})";
                if (problem is not null)
                {
                    lock (problems)
                    {
                        problems.Add(problem);
                    }
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, parallelism).Select(CheckAllAsync)).ConfigureAwait(false);
        problems.Sort(StringComparer.Ordinal);
        return problems;
    }

    /// <summary>Null when <paramref name="read"/> shows <paramref name="write"/> applied exactly once; otherwise what is wrong.</summary>
    public static string? Check(WriteRecord write, ReadOutcome read)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (!read.Found)
        {
            return $"lost acknowledged write: key {write.Key} (acknowledged at index {write.Index}) is missing; expected value '{write.Value}'";
        }

        if (read.Value != write.Value)
        {
            return $"key {write.Key}: expected value '{write.Value}', saw '{read.Value}'";
        }

        if (read.Version is { } version && version != 1)
        {
            return $"key {write.Key}: expected version 1 (written once), saw version {version}";
        }

        if (read.ModIndex != read.CreateIndex)
        {
            return $"key {write.Key}: expected one write (last write index = create index), saw created at {read.CreateIndex} and last written at {read.ModIndex}";
        }

        if (read.ModIndex != write.Index)
        {
            return $"key {write.Key}: expected the write acknowledged at index {write.Index}, saw it written at {read.ModIndex}";
        }

        return null;
    }
}
