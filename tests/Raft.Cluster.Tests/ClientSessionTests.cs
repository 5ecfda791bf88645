using System.Globalization;
using System.Net;
using System.Text.Json;
using Raft.Client;
using Xunit.Abstractions;

namespace Raft.Cluster.Tests;

/// <summary>
/// Exactly-once writes through the .NET client against real node processes: a write whose answer is lost and is
/// retried under the same session sequence on another node after the leader dies is applied once, and a counter
/// advanced by compare-and-set from several clients through leader kills ends at the number of acknowledged
/// increments.
/// </summary>
public sealed class ClientSessionTests(ITestOutputHelper output)
{
    internal static RaftKvClient Connect(ProcessCluster cluster, string? clientId = null, ulong firstSequence = 1)
    {
        var options = new RaftKvClientOptions { RequestTimeout = TimeSpan.FromSeconds(5), RetryDeadline = ProcessCluster.Patience, FirstSequence = firstSequence };
        if (clientId is not null)
        {
            options.ClientId = clientId;
        }

        return new RaftKvClient(Enumerable.Range(1, cluster.Size).ToDictionary(id => id, cluster.Endpoint), options);
    }

    [Fact]
    public async Task LostAnswer_RetriedWithTheSameSequenceOnAnotherNodeAfterTheLeaderDies_IsAppliedOnce()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync();
        const string ClientId = "lost-answer";

        // The first attempt: a create-only put (If-Match: 0) carrying the session, sent straight to the leader. Its
        // answer is what the application never saw; the test keeps it only to compare.
        using var first = await cluster.SendUntilAnsweredAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, cluster.Url(leader, "/v1/kv/eo/created")) { Content = new StringContent("once") };
            request.Headers.TryAddWithoutValidation("If-Match", "0");
            request.Headers.TryAddWithoutValidation("X-Client-Id", ClientId);
            request.Headers.TryAddWithoutValidation("X-Client-Seq", "1");
            return request;
        });
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using var original = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
        var originalIndex = original.RootElement.GetProperty("index").GetUInt64();
        var originalVersion = original.RootElement.GetProperty("version").GetUInt64();

        await cluster.KillAsync(leader);

        // The retry: the same session and sequence, through the client, which finds the dead leader and moves on.
        // Applied again, the create-only put would fail with 412; the session answers with the first result.
        using var client = Connect(cluster, ClientId, firstSequence: 1);
        var retried = await client.CompareAndSetAsync("eo/created", "once", expectedVersion: 0);
        Assert.Equal(originalIndex, retried.Index);
        Assert.Equal(originalVersion, retried.Version);

        var stored = await client.GetAsync("eo/created");
        Assert.NotNull(stored);
        Assert.Equal("once", stored.ValueAsString());
        Assert.Equal(originalVersion, stored.Version);

        // The session goes on: the next sequence is a new write and is applied.
        var next = await client.PutAsync("eo/created", "twice");
        Assert.True(next.Version > originalVersion, $"a new write got version {next.Version}, not above {originalVersion}");
        output.WriteLine($"leader {leader} killed; the retried write kept index {originalIndex}; the next write got {next.Index}");
    }

    [Fact]
    public async Task AnswerLostInsideTheClient_AfterTheLeaderApplied_IsRetriedWithTheSameSequence_AndAppliedOnce()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        await cluster.WaitForLeaderAsync();
        var killed = 0;
        using var dropping = new AnswerDroppingHandler(async () => await cluster.KillAsync(killed = await cluster.WaitForLeaderAsync()));
        var options = new RaftKvClientOptions { Handler = dropping, DisposeHandler = false, RetryDeadline = ProcessCluster.Patience };
        using var client = new RaftKvClient(Enumerable.Range(1, cluster.Size).ToDictionary(id => id, cluster.Endpoint), options);

        // Applied again, the create-only put would fail with 412 and its version would move.
        var result = await client.CompareAndSetAsync("eo/dropped", "once", expectedVersion: 0);

        using var dropped = JsonDocument.Parse(dropping.DroppedAnswer ?? throw new InvalidOperationException("no answer was dropped"));
        Assert.Equal(dropped.RootElement.GetProperty("index").GetUInt64(), result.Index);
        Assert.Equal(dropped.RootElement.GetProperty("version").GetUInt64(), result.Version);
        // The dropped attempt and every retry until a node answered (a follower that cannot reach the dead leader
        // answers 502, one that has not elected yet 503) all carry the first sequence.
        Assert.True(dropping.Sequences.Count >= 2, $"{dropping.Sequences.Count} attempts");
        Assert.All(dropping.Sequences, s => Assert.Equal("1", s));
        var stored = await client.GetAsync("eo/dropped");
        Assert.Equal(result.Version, stored?.Version);
        output.WriteLine($"answer of index {result.Index} dropped, leader {killed} killed, {dropping.Sequences.Count} attempts got the same answer");
    }

    /// <summary>
    /// Lets the first write reach the cluster and be answered, then kills the leader and reports the connection lost,
    /// as when the leader dies between applying a write and the answer reaching the client.
    /// </summary>
    private sealed class AnswerDroppingHandler(Func<Task> onDropped) : DelegatingHandler(new SocketsHttpHandler { AllowAutoRedirect = false })
    {
        public string? DroppedAnswer { get; private set; }

        public List<string> Sequences { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method != HttpMethod.Put)
            {
                return await base.SendAsync(request, cancellationToken);
            }

            Sequences.Add(request.Headers.GetValues("X-Client-Seq").Single());
            var response = await base.SendAsync(request, cancellationToken);
            if (DroppedAnswer is not null || response.StatusCode != HttpStatusCode.OK)
            {
                return response;
            }

            using (response)
            {
                DroppedAnswer = await response.Content.ReadAsStringAsync(cancellationToken);
            }

            await onDropped();
            throw new HttpRequestException("the connection closed before the answer arrived");
        }
    }

    [Fact]
    public async Task CounterByCompareAndSet_FromThreeClientsThroughTwoLeaderKills_EndsAtTheAcknowledgedIncrements()
    {
        await using var cluster = new ProcessCluster(3);
        cluster.StartAll();
        await cluster.WaitForLeaderAsync();
        const string Key = "eo/counter";

        var acknowledged = 0;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            using var client = Connect(cluster);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var current = await client.GetAsync(Key, Consistency.Linearizable, stop.Token);
                    var value = current is null ? 0 : long.Parse(current.ValueAsString(), CultureInfo.InvariantCulture);
                    var next = (value + 1).ToString(CultureInfo.InvariantCulture);

                    // Not cancelled by stop: an increment sent is seen through to its answer, so it is either
                    // acknowledged or known to have failed.
                    await client.CompareAndSetAsync(Key, next, current?.Version ?? 0, CancellationToken.None);
                    Interlocked.Increment(ref acknowledged);
                }
                catch (PreconditionFailedException)
                {
                    // Another client got there first: read again.
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
            }
        })).ToList();

        for (var kill = 0; kill < 2; kill++)
        {
            await WaitForAsync(() => Volatile.Read(ref acknowledged) >= (kill * 40) + 20, workers, "increments before a kill");
            var leader = await cluster.WaitForLeaderAsync();
            await cluster.KillAsync(leader);
            var atKill = Volatile.Read(ref acknowledged);
            await WaitForAsync(() => Volatile.Read(ref acknowledged) >= atKill + 20, workers, "increments after a kill");
            cluster.Start(leader);
            await cluster.WaitForLeaderAsync();
            output.WriteLine($"kill {kill + 1}: leader {leader} at {atKill} increments");
        }

        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(ProcessCluster.Patience);

        using var reader = Connect(cluster);
        var final = await reader.GetAsync(Key, Consistency.Linearizable);
        Assert.NotNull(final);
        Assert.Equal(acknowledged, long.Parse(final.ValueAsString(), CultureInfo.InvariantCulture));
        output.WriteLine($"{acknowledged} acknowledged increments, counter {final.ValueAsString()}");
    }

    /// <summary>Waits for <paramref name="condition"/>; a worker that died is reported instead of waiting out the timeout.</summary>
    internal static async Task WaitForAsync(Func<bool> condition, IReadOnlyList<Task> workers, string what)
    {
        var deadline = DateTime.UtcNow + ProcessCluster.Patience;
        while (!condition())
        {
            if (workers.FirstOrDefault(w => w.IsFaulted) is { } failed)
            {
                await failed;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(10);
        }
    }
}
