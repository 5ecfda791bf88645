using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Raft.Protocol;

namespace Raft.Client;

/// <summary>A granted or kept-alive lease.</summary>
/// <param name="Id">The lease's id (the log index that granted it).</param>
/// <param name="TtlMs">Its time to live: each keep-alive moves its end this far past the keep-alive's time.</param>
/// <param name="ExpiresAtMs">When it ends unless kept alive (Unix ms, the leader's clock).</param>
public sealed record KvLease(ulong Id, long TtlMs, long ExpiresAtMs)
{
    /// <summary><see cref="ExpiresAtMs"/> as a time.</summary>
    public DateTimeOffset ExpiresAt => DateTimeOffset.FromUnixTimeMilliseconds(ExpiresAtMs);
}

/// <summary>A lease as a read found it: also the time it had left by the reading node's clock, and what is bound to it.</summary>
public sealed record KvLeaseStatus(ulong Id, long TtlMs, long ExpiresAtMs, long RemainingMs, IReadOnlyList<string> Keys, IReadOnlyList<string> Locks);

public sealed partial class RaftKvClient
{
    /// <summary>Grants a lease of <paramref name="ttl"/> (1 s to 24 h); keys and locks bound to it end with it.</summary>
    /// <param name="ttl">Its time to live.</param>
    /// <param name="cancellationToken">Stops waiting; the lease may still be granted.</param>
    /// <returns>The lease.</returns>
    /// <exception cref="RaftKvException"><c>invalid_ttl</c>, <c>too_many_leases</c>, or <c>cluster_version_too_low</c> while a voter runs a server without leases.</exception>
    public async Task<KvLease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        var body = JsonSerializer.SerializeToUtf8Bytes(new LeaseGrantRequest((long)ttl.TotalMilliseconds), ProtocolJsonContext.Wire.LeaseGrantRequest);
        return await LeaseWriteAsync(HttpMethod.Post, ApiPaths.Leases, body, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts lease <paramref name="id"/>'s time to live again from now.</summary>
    /// <param name="id">The lease.</param>
    /// <param name="cancellationToken">Stops waiting; the keep-alive may still be applied.</param>
    /// <returns>The lease with its new end.</returns>
    /// <exception cref="LeaseNotFoundException">The lease ended (revoked, or its time ran out): its keys and locks are gone or going.</exception>
    public Task<KvLease> KeepAliveAsync(ulong id, CancellationToken cancellationToken = default) =>
        LeaseWriteAsync(HttpMethod.Post, LeasePath(id) + "/keepalive", null, cancellationToken);

    /// <summary>Ends lease <paramref name="id"/>: its keys are deleted and its locks released, in one entry.</summary>
    /// <param name="id">The lease.</param>
    /// <param name="cancellationToken">Stops waiting; the revoke may still be applied.</param>
    /// <returns>False when the lease had already ended.</returns>
    public async Task<bool> RevokeLeaseAsync(ulong id, CancellationToken cancellationToken = default)
    {
        using var response = await WriteAsync(HttpMethod.Delete, LeasePath(id), null, null, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound && await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false) is { Error: ErrorCodes.LeaseNotFound })
        {
            return false;
        }

        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Reads lease <paramref name="id"/>, with the keys and locks bound to it.</summary>
    /// <param name="id">The lease.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The lease, or null when it has ended.</returns>
    public async Task<KvLeaseStatus?> GetLeaseAsync(ulong id, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(new Call(HttpMethod.Get, LeasePath(id), null, null, null, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            var error = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            return error?.Error is ErrorCodes.LeaseNotFound ? null : throw ErrorFrom(response.StatusCode, error);
        }

        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var body = await ReadJsonAsync(response, ProtocolJsonContext.Wire.LeaseStatusResponse, cancellationToken).ConfigureAwait(false);
        return new KvLeaseStatus(body.Id, body.TtlMs, body.ExpiresAtMs, body.RemainingMs, body.Keys ?? [], body.Locks ?? []);
    }

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>, bound to <paramref name="lease"/>: deleted when the lease ends.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value, stored as UTF-8.</param>
    /// <param name="lease">The lease.</param>
    /// <param name="cancellationToken">Stops waiting; the write may still be applied.</param>
    /// <returns>The log index of the write and the key's new version.</returns>
    /// <exception cref="LeaseNotFoundException">The lease has ended; nothing was written.</exception>
    public Task<PutResult> PutAsync(string key, string value, ulong lease, CancellationToken cancellationToken = default) =>
        PutCoreAsync(key, Utf8(value), null, cancellationToken, lease);

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>, bound to <paramref name="lease"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value's bytes.</param>
    /// <param name="lease">The lease.</param>
    /// <param name="cancellationToken">Stops waiting; the write may still be applied.</param>
    /// <returns>The log index of the write and the key's new version.</returns>
    public Task<PutResult> PutAsync(string key, ReadOnlyMemory<byte> value, ulong lease, CancellationToken cancellationToken = default) =>
        PutCoreAsync(key, value, null, cancellationToken, lease);

    /// <summary>
    /// Takes lock <paramref name="name"/> for <paramref name="owner"/>, bound to <paramref name="lease"/>: held as long
    /// as the lease lives, kept by its keep-alives, released when it ends.
    /// </summary>
    /// <param name="name">The lock's name.</param>
    /// <param name="owner">Who takes it.</param>
    /// <param name="lease">The lease it lives as long as.</param>
    /// <param name="wait">How long the server may wait for the lock to come free; null answers at once.</param>
    /// <param name="cancellationToken">Stops waiting; the lock may still be granted.</param>
    /// <returns>The lock with its fencing token.</returns>
    /// <exception cref="LockHeldException">Another owner holds the lock.</exception>
    /// <exception cref="LeaseNotFoundException">The lease has ended.</exception>
    public async Task<LockLease> AcquireLockAsync(string name, string owner, ulong lease, TimeSpan? wait = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(lease);
        return await LockCoreAsync(HttpMethod.Post, name, AcquirePath(name, wait), new LockRequest(owner, null) { Lease = lease }, wait ?? TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Keeps lease <paramref name="lease"/> alive in the background, a keep-alive every third of its time to live, until
    /// the keeper is disposed. <see cref="LeaseKeeper.Lost"/> is cancelled once the lease may have ended: a keep-alive
    /// answered that it had, or none succeeded for a whole time to live (counted on this machine's clock from the last
    /// one sent that succeeded). Whoever holds locks bound to the lease must stop acting on them then.
    /// </summary>
    /// <param name="lease">The lease, as granted.</param>
    /// <returns>The keeper; dispose it to stop (the lease then ends on its own after its time to live, or revoke it).</returns>
    public LeaseKeeper KeepLeaseAlive(KvLease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return new LeaseKeeper(this, lease);
    }

    private async Task<KvLease> LeaseWriteAsync(HttpMethod method, string path, byte[]? body, CancellationToken cancellationToken)
    {
        using var response = await WriteAsync(method, path, body, null, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var error = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            throw error?.Error is ErrorCodes.LeaseNotFound ? new LeaseNotFoundException(error.Detail) : ErrorFrom(response.StatusCode, error);
        }

        var answer = await ReadJsonAsync(response, ProtocolJsonContext.Wire.LeaseResponse, cancellationToken).ConfigureAwait(false);
        return new KvLease(answer.Id, answer.TtlMs, answer.ExpiresAtMs);
    }

    private static string LeasePath(ulong id)
    {
        ArgumentOutOfRangeException.ThrowIfZero(id);
        return ApiPaths.LeasesPrefix + id.ToString(CultureInfo.InvariantCulture);
    }
}

/// <summary>Keeps a lease alive from a background task; see <see cref="RaftKvClient.KeepLeaseAlive"/>.</summary>
public sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly IRaftKvClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _lost = new();
    private readonly Task _loop;

    /// <summary>Starts keeping <paramref name="lease"/> alive through <paramref name="client"/>.</summary>
    /// <param name="client">The client to send the keep-alives with.</param>
    /// <param name="lease">The lease, as granted.</param>
    public LeaseKeeper(IRaftKvClient client, KvLease lease)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(lease);
        _client = client;
        Lease = lease;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>The lease as the last keep-alive left it.</summary>
    public KvLease Lease { get; private set; }

    /// <summary>Keep-alives that succeeded.</summary>
    public long KeepAlives { get; private set; }

    /// <summary>Cancelled once the lease may have ended (see <see cref="RaftKvClient.KeepLeaseAlive"/>).</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>Stops the keep-alives; the lease is left to end on its own.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
        _lost.Dispose();
    }

    private async Task RunAsync()
    {
        var ttl = TimeSpan.FromMilliseconds(Lease.TtlMs);
        var interval = ttl / 3;

        // The lease lasts at least a time to live past the sending of the last keep-alive that succeeded: the server
        // stamps it no earlier than that. The grant counts as sent now, which is later than it was: conservative enough
        // for a lease granted just before the keeper starts.
        var safeUntil = Stopwatch.GetTimestamp() + (long)(ttl.TotalSeconds * Stopwatch.Frequency);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _stop.Token).ConfigureAwait(false);
                var sent = Stopwatch.GetTimestamp();
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                attempt.CancelAfter(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), safeUntil) is var left && left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
                Lease = await _client.KeepAliveAsync(Lease.Id, attempt.Token).ConfigureAwait(false);
                KeepAlives++;
                safeUntil = sent + (long)(ttl.TotalSeconds * Stopwatch.Frequency);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (LeaseNotFoundException)
            {
                await _lost.CancelAsync().ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is RaftKvException or OperationCanceledException or HttpRequestException)
            {
                // No leader answered in time: go on trying while the lease may still be live.
            }

            if (Stopwatch.GetTimestamp() >= safeUntil)
            {
                await _lost.CancelAsync().ConfigureAwait(false);
                return;
            }
        }
    }
}
