using Raft.Client;

namespace Raft.Cluster.Tests;

/// <summary>
/// Transactions against real node processes, through the .NET client: transfers between two accounts, made as
/// compare-and-swap transactions by several clients while plain writes and a leader kill race them, never let a
/// reader see money made or lost, and every acknowledged transfer is applied once.
/// </summary>
public sealed class TransactionTests
{
    private const int Total = 1000;

    [Fact]
    public async Task Transfers_racing_plain_writes_and_a_leader_kill_keep_the_total_in_every_read()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        await cluster.WaitForLeaderAsync();
        using var setup = ClientSessionTests.Connect(cluster, "txn-setup");
        var created = await setup.TxnAsync(new Transaction().IfMissing("acct/a").IfMissing("acct/b")
            .ThenPut("acct/a", Total.ToString(System.Globalization.CultureInfo.InvariantCulture)).ThenPut("acct/b", "0"));
        Assert.True(created.Succeeded);

        using var stop = new CancellationTokenSource();
        var acknowledged = 0;
        var reads = 0;

        async Task TransferAsync(int worker)
        {
            using var client = ClientSessionTests.Connect(cluster, $"txn-worker-{worker}");
            while (!stop.IsCancellationRequested)
            {
                var snapshot = await client.TxnAsync(new Transaction().ThenGet("acct/a").ThenGet("acct/b"));
                var (a, b) = (snapshot.Results[0], snapshot.Results[1]);
                var moved = await client.TxnAsync(new Transaction().IfVersion("acct/a", a.Version).IfVersion("acct/b", b.Version)
                    .ThenPut("acct/a", (Amount(a) - 1).ToString(System.Globalization.CultureInfo.InvariantCulture))
                    .ThenPut("acct/b", (Amount(b) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                if (moved.Succeeded)
                {
                    Interlocked.Increment(ref acknowledged);
                }
            }
        }

        async Task WriteAsync()
        {
            using var client = ClientSessionTests.Connect(cluster, "txn-plain");
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await client.PutAsync($"noise/{i % 50}", $"v{i}");
            }
        }

        async Task ReadAsync()
        {
            using var client = ClientSessionTests.Connect(cluster, "txn-reader");
            while (!stop.IsCancellationRequested)
            {
                var read = await client.TxnAsync(new Transaction().ThenGet("acct/a").ThenGet("acct/b"));
                Assert.Equal(Total, Amount(read.Results[0]) + Amount(read.Results[1]));
                Interlocked.Increment(ref reads);
            }
        }

        var workers = new List<Task> { TransferAsync(1), TransferAsync(2), TransferAsync(3), WriteAsync(), ReadAsync() };
        await WaitUntilAsync(() => Volatile.Read(ref acknowledged) >= 20, workers);
        await cluster.KillAsync(await cluster.WaitForLeaderAsync());
        var before = Volatile.Read(ref acknowledged);
        await WaitUntilAsync(() => Volatile.Read(ref acknowledged) >= before + 20, workers);
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        var final = await setup.TxnAsync(new Transaction().ThenGet("acct/a").ThenGet("acct/b"));
        Assert.Equal(Total, Amount(final.Results[0]) + Amount(final.Results[1]));
        Assert.Equal(acknowledged, Amount(final.Results[1]));
        Assert.True(reads > 0);
    }

    private static int Amount(TransactionOpResult result) =>
        int.Parse(result.ValueAsString() ?? throw new InvalidOperationException($"an account is missing ({result})"), System.Globalization.CultureInfo.InvariantCulture);

    // Polls until the condition holds; a worker that failed fails the test at once, and the wait is bounded.
    private static async Task WaitUntilAsync(Func<bool> condition, List<Task> workers)
    {
        var deadline = DateTime.UtcNow + ProcessCluster.Patience;
        while (!condition())
        {
            if (workers.FirstOrDefault(w => w.IsFaulted) is { } failed)
            {
                await failed;
            }

            Assert.True(DateTime.UtcNow < deadline, "the transfers made no progress in time");
            await Task.Delay(20);
        }
    }
}
