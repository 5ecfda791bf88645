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
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(writes);
        var acknowledged = writes.Where(w => w.Ok).ToArray();
        var violations = new List<string>();
        var next = -1;
        async Task CheckAllAsync(int worker)
        {
            var node = (worker % target.Nodes) + 1;
            int i;
            while ((i = Interlocked.Increment(ref next)) < acknowledged.Length)
            {
                var write = acknowledged[i];
                ReadOutcome read = default;
                for (var attempt = 0; attempt < AttemptsPerKey; attempt++)
                {
                    read = await target.GetAsync(node, write.Key, readTimeout, cancellationToken).ConfigureAwait(false);
                    if (read.Ok)
                    {
                        break;
                    }

                    node = Workload.NextNode(node, read.LeaderHint, target.Nodes);
                    await Task.Delay(5, cancellationToken).ConfigureAwait(false);
                }

                var problem = read.Ok ? Check(write, read) : $"key {write.Key}: could not be read back after {AttemptsPerKey} attempts (last error {read.Error})";
                if (problem is not null)
                {
                    lock (violations)
                    {
                        violations.Add(problem);
                    }
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Parallelism).Select(CheckAllAsync)).ConfigureAwait(false);
        violations.Sort(StringComparer.Ordinal);
        return violations;
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
