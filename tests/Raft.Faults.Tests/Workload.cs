using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Raft.Checking;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Faults.Tests;

/// <summary>
/// Concurrent clients on a few keys: linearizable reads, puts, compare-and-sets, and repeats of answered session
/// writes, each recorded in a <see cref="FaultHistory"/>. Every put writes a value unique in the run (its first 8
/// bytes), so a read names the write it saw. A write whose answer never came is indeterminate: it may take effect
/// at any later time or never.
/// </summary>
/// <remarks>
/// Each client is a <see cref="RaftKvClient"/> with a session of its own, so every write carries (client id,
/// sequence) and its retries apply once. The client takes one sequence per write, from 1, which is how a repeat
/// knows the sequence to send again.
/// </remarks>
internal sealed class Workload(FaultHistory history, FaultCluster cluster, NamespaceSockets sockets, int clients, int keys, ulong seed)
{
    /// <summary>How long one operation may take, the client's retries through a failover included.</summary>
    public static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(6);

    private const double RepeatChance = 0.25;

    public static string Key(int index) => $"faults/k{index}";

    public static string ClientId(int client) => $"{NetworkLab.Tag}-c{client}";

    /// <summary>Runs every client until <paramref name="stop"/>; each finishes the operation it has in flight.</summary>
    public Task RunAsync(CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, clients).Select(client => Task.Run(() => RunClientAsync(client, stop), CancellationToken.None)));

    /// <summary>A client for checks outside the workload, with the workload's timeouts.</summary>
    public static RaftKvClient NewClient(FaultCluster cluster, NamespaceSockets sockets, string? clientId = null) =>
        new(cluster.Endpoints, new RaftKvClientOptions
        {
            ClientId = clientId,
            RequestTimeout = TimeSpan.FromSeconds(1),
            RetryDeadline = TimeSpan.FromSeconds(3),
            Handler = sockets.CreateHandler(TimeSpan.FromMilliseconds(500)),
        });

    /// <summary>The value id a put wrote: its first 8 bytes (0 when shorter, which no write of the workload is).</summary>
    public static ulong ValueId(ReadOnlySpan<byte> value) => value.Length >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(value) : 0;

    private async Task RunClientAsync(int client, CancellationToken stop)
    {
        var random = new Random(unchecked((int)(seed * 31 + (ulong)client)));
        var clientId = ClientId(client);
        using var kv = NewClient(cluster, sockets, clientId);
        using var raw = new HttpClient(sockets.CreateHandler(TimeSpan.FromMilliseconds(500))) { Timeout = TimeSpan.FromSeconds(3) };
        var seen = new Dictionary<string, ulong>(StringComparer.Ordinal);
        ulong sequence = 0;
        ulong written = 0;
        while (!stop.IsCancellationRequested)
        {
            var key = Key(random.Next(keys));
            var roll = random.NextDouble();
            using var timeout = new CancellationTokenSource(OperationTimeout);
            if (roll < 0.4)
            {
                await ReadAsync(kv, client, key, seen, timeout.Token);
                continue;
            }

            var value = ((ulong)(client + 1) << 40) | ++written;
            var compareAndSet = roll >= 0.7;
            var expected = compareAndSet ? seen.GetValueOrDefault(key) : 0;
            var bytes = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), (ulong)client);
            var answer = await WriteAsync(kv, client, ++sequence, key, value, bytes, compareAndSet ? expected : null, seen, timeout.Token);
            if (answer is { } first)
            {
                history.OnSessionAnswer(clientId, sequence, key, value, first);
                if (random.NextDouble() < RepeatChance)
                {
                    await RepeatAsync(raw, random, client, clientId, sequence, key, value, bytes, compareAndSet ? expected : null);
                }
            }
        }
    }

    private async Task ReadAsync(RaftKvClient kv, int client, string key, Dictionary<string, ulong> seen, CancellationToken cancellationToken)
    {
        var invocation = history.Invoke(client, ClientOpKind.Read, key);
        try
        {
            var entry = await kv.GetAsync(key, Consistency.Linearizable, cancellationToken);
            if (entry is null)
            {
                history.Complete(invocation, RegisterOutcome.NotFound);
                seen[key] = 0;
            }
            else
            {
                history.Complete(invocation, RegisterOutcome.Ok, entry.Version, ValueId(entry.Value));
                seen[key] = entry.Version;
            }
        }
        catch (Exception e) when (IsUnanswered(e))
        {
            // A read changes nothing: one without an answer never took effect.
            history.Complete(invocation, RegisterOutcome.Failed, error: Describe(e));
        }
    }

    private async Task<SessionAnswer?> WriteAsync(
        RaftKvClient kv, int client, ulong sequence, string key, ulong value, byte[] bytes, ulong? expected, Dictionary<string, ulong> seen, CancellationToken cancellationToken)
    {
        var kind = expected is null ? ClientOpKind.Write : ClientOpKind.CompareAndSet;
        var invocation = history.Invoke(client, kind, key, value, expected ?? 0, sequence);
        try
        {
            var result = expected is { } version
                ? await kv.CompareAndSetAsync(key, bytes, version, cancellationToken)
                : await kv.PutAsync(key, bytes, cancellationToken);
            history.Complete(invocation, RegisterOutcome.Ok, result.Version);
            seen[key] = result.Version;
            return new SessionAnswer(SessionAnswerStatus.Ok, result.Index, result.Version);
        }
        catch (PreconditionFailedException e)
        {
            history.Complete(invocation, RegisterOutcome.PreconditionFailed, e.CurrentVersion);
            seen[key] = e.CurrentVersion;
            return new SessionAnswer(SessionAnswerStatus.PreconditionFailed, 0, e.CurrentVersion);
        }
        catch (Exception e) when (IsUnanswered(e))
        {
            history.Complete(invocation, RegisterOutcome.Unknown, error: Describe(e));
            seen.Remove(key);
            return null;
        }
    }

    // The same write again, with its session's sequence, through any node: the answer must be the first one's.
    private async Task RepeatAsync(HttpClient raw, Random random, int client, string clientId, ulong sequence, string key, ulong value, byte[] bytes, ulong? expected)
    {
        var node = random.Next(1, cluster.Size + 1);
        var invocation = history.Invoke(client, ClientOpKind.Repeat, key, value, expected ?? 0, sequence);
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(FaultCluster.Endpoint(node), "/v1/kv/" + Uri.EscapeDataString(key)))
        {
            Content = new ByteArrayContent(bytes),
        };
        request.Headers.Add(ApiHeaders.ClientId, clientId);
        request.Headers.Add(ApiHeaders.ClientSeq, sequence.ToString(CultureInfo.InvariantCulture));
        if (expected is { } version)
        {
            request.Headers.TryAddWithoutValidation(ApiHeaders.IfMatch, version.ToString(CultureInfo.InvariantCulture));
        }

        try
        {
            using var response = await raw.SendAsync(request);
            SessionAnswer? answer = null;
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var body = await response.Content.ReadFromJsonAsync(ProtocolJsonContext.Wire.PutResponse);
                answer = body is null ? null : new SessionAnswer(SessionAnswerStatus.Ok, body.Index, body.Version);
            }
            else if (response.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict)
            {
                var error = await response.Content.ReadFromJsonAsync(ProtocolJsonContext.Wire.ErrorBody);
                answer = error?.Error switch
                {
                    ErrorCodes.PreconditionFailed => new SessionAnswer(SessionAnswerStatus.PreconditionFailed, 0, error.CurrentVersion ?? 0),
                    ErrorCodes.StaleSequence => new SessionAnswer(SessionAnswerStatus.StaleSequence, 0, 0),
                    _ => null,
                };
            }

            if (answer is { } repeated)
            {
                history.OnSessionAnswer(clientId, sequence, key, value, repeated);
                var outcome = repeated.Status switch
                {
                    SessionAnswerStatus.Ok => RegisterOutcome.Ok,
                    SessionAnswerStatus.PreconditionFailed => RegisterOutcome.PreconditionFailed,
                    _ => RegisterOutcome.Failed,
                };
                history.Complete(invocation, outcome, repeated.Version);
            }
            else
            {
                history.Complete(invocation, RegisterOutcome.Unknown, error: $"{(int)response.StatusCode} {response.StatusCode}");
            }
        }
        catch (Exception e) when (IsUnanswered(e))
        {
            history.Complete(invocation, RegisterOutcome.Unknown, error: Describe(e));
        }
    }

    private static bool IsUnanswered(Exception e) =>
        e is RaftKvException or HttpRequestException or OperationCanceledException or IOException or System.Text.Json.JsonException;

    private static string Describe(Exception e) => e is RaftKvException k ? $"{k.ErrorCode}: {k.Detail}" : $"{e.GetType().Name}: {e.Message}";
}
