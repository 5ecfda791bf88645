using System.Diagnostics;
using Raft.Client;
using Xunit.Abstractions;

namespace Raft.Cluster.Tests;

/// <summary>
/// Two clients contend for one lock through a leader kill. Every grant is recorded with its fencing token, its
/// expiry in cluster time and when, by a local clock, its acquire and release were sent and answered; the checks
/// use only the order of those events, never their durations.
/// </summary>
public sealed class ClientLockTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private static readonly string[] Owners = ["a", "b"];

    private sealed record Grant(string Owner, LockLease Lease, long AcquireSent, long AcquireAnswered)
    {
        public long ReleaseSent { get; set; } = long.MaxValue;

        public bool Released { get; set; }
    }

    [Fact]
    public async Task TwoClientsContendThroughALeaderKill_NeverHoldTogether_AndTokensGrow()
    {
        await using var cluster = new ProcessCluster(3, "--Node:FollowerMode=Redirect");
        cluster.StartAll();
        await cluster.WaitForLeaderAsync();
        const string Name = "job";

        var clock = Stopwatch.StartNew();
        var grants = new List<Grant>();
        using var stop = new CancellationTokenSource();
        var workers = Owners.Select(owner => Task.Run(async () =>
        {
            using var client = ClientSessionTests.Connect(cluster);
            while (!stop.IsCancellationRequested)
            {
                var sent = clock.ElapsedTicks;
                LockLease lease;
                try
                {
                    lease = await client.AcquireLockAsync(Name, owner, Ttl, cancellationToken: CancellationToken.None);
                }
                catch (LockHeldException held)
                {
                    Assert.NotEqual(owner, held.Holder);
                    await Task.Delay(5);
                    continue;
                }

                var grant = new Grant(owner, lease, sent, clock.ElapsedTicks);
                lock (grants)
                {
                    grants.Add(grant);
                }

                await Task.Delay(10);
                grant.ReleaseSent = clock.ElapsedTicks;
                try
                {
                    await client.ReleaseLockAsync(Name, owner, CancellationToken.None);
                    grant.Released = true;
                }
                catch (RaftKvException ex) when (ex is not NoLeaderException)
                {
                    // The lease lapsed and the lock moved on: the expiry check below covers this grant.
                    output.WriteLine($"{owner} could not release token {lease.FencingToken}: {ex.ErrorCode}");
                }
            }
        })).ToList();

        int Count()
        {
            lock (grants)
            {
                return grants.Count;
            }
        }

        await ClientSessionTests.WaitForAsync(() => Count() >= 20, workers, "grants before the kill");
        var leader = await cluster.WaitForLeaderAsync();
        await cluster.KillAsync(leader);
        var atKill = Count();
        await ClientSessionTests.WaitForAsync(() => Count() >= atKill + 20, workers, "grants after the kill");
        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(ProcessCluster.Patience);

        var byToken = grants.OrderBy(g => g.Lease.FencingToken).ToList();
        Assert.Equal(byToken.Count, byToken.Select(g => g.Lease.FencingToken).Distinct().Count());
        Assert.Contains(byToken, g => g.Owner == "a");
        Assert.Contains(byToken, g => g.Owner == "b");

        // Tokens grow in real time: a grant answered before another was asked for has the smaller token.
        foreach (var earlier in grants)
        {
            foreach (var later in grants.Where(l => l.AcquireSent > earlier.AcquireAnswered))
            {
                Assert.True(later.Lease.FencingToken > earlier.Lease.FencingToken, $"token {later.Lease.FencingToken} of {later.Owner} was granted after {earlier.Lease.FencingToken} of {earlier.Owner}");
            }
        }

        // Never two holders: between consecutive grants, the earlier one was released (its release sent before the
        // later grant was answered) or had expired when the later one was granted. A grant's time in cluster time
        // is its expiry less the TTL, as nothing here renews.
        for (var i = 1; i < byToken.Count; i++)
        {
            var (previous, next) = (byToken[i - 1], byToken[i]);
            var releasedBefore = previous.Released && previous.ReleaseSent < next.AcquireAnswered;
            var expiredBefore = next.Lease.ExpiresAtMs - (long)Ttl.TotalMilliseconds >= previous.Lease.ExpiresAtMs;
            Assert.True(releasedBefore || expiredBefore, $"{next.Owner} got token {next.Lease.FencingToken} while {previous.Owner} held token {previous.Lease.FencingToken}");
        }

        output.WriteLine($"leader {leader} killed after {atKill} grants; {byToken.Count} grants, tokens {byToken[0].Lease.FencingToken}..{byToken[^1].Lease.FencingToken}");
    }
}
