using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Raft.Protocol;

namespace Raft.Client;

/// <summary>
/// A client of the replicated key-value store. It finds the leader and keeps it cached, follows leader hints
/// (<c>X-Raft-Leader</c>, <c>307</c>, <c>503</c>), and retries through failover until
/// <see cref="RaftKvClientOptions.RetryDeadline"/>.
/// </summary>
/// <remarks>
/// <para>
/// Every write carries this client's session (<c>X-Client-Id</c>) and a sequence number (<c>X-Client-Seq</c>) that
/// grows by one per write. A retry of the same write sends the same sequence, so the cluster applies it once even
/// when an earlier attempt was applied and only its answer was lost. The cluster keeps one result per session, so
/// writes from one client are sent one at a time; reads run concurrently. Use one client per concurrent writer.
/// </para>
/// <para>
/// Thread-safe: create one per process (or per writer, see above) and share it; it keeps the leader it learned and
/// its connections. Dispose it to release them. <see cref="IRaftKvClient"/> has its operations, to mock.
/// </para>
/// </remarks>
public sealed partial class RaftKvClient : IRaftKvClient
{
    private readonly RaftKvClientOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly string _clientId;
    private ulong _nextSequence;

    /// <summary>Creates a client that starts from any of <paramref name="endpoints"/> and learns the node ids from the cluster.</summary>
    /// <param name="endpoints">The HTTP endpoints of some or all nodes, such as <c>http://127.0.0.1:5001</c>.</param>
    /// <param name="options">Timeouts, retry budget, session id and transport; defaults when <see langword="null"/>.</param>
    public RaftKvClient(IEnumerable<Uri> endpoints, RaftKvClientOptions? options = null)
        : this(options)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        foreach (var endpoint in endpoints)
        {
            var normalized = BaseOf(Checked(endpoint));
            if (!_endpoints.Contains(normalized))
            {
                _endpoints.Add(normalized);
            }
        }

        if (_endpoints.Count == 0)
        {
            throw new ArgumentException("at least one endpoint is needed", nameof(endpoints));
        }
    }

    /// <summary>Creates a client that knows each node's id, so a leader hint by id is followed without asking the cluster.</summary>
    /// <param name="endpointsById">The HTTP endpoint of each node, by node id.</param>
    /// <param name="options">Timeouts, retry budget, session id and transport; defaults when <see langword="null"/>.</param>
    public RaftKvClient(IReadOnlyDictionary<int, Uri> endpointsById, RaftKvClientOptions? options = null)
        : this(options)
    {
        ArgumentNullException.ThrowIfNull(endpointsById);
        foreach (var (id, endpoint) in endpointsById.OrderBy(p => p.Key))
        {
            Remember(id, BaseOf(Checked(endpoint)));
        }

        if (_endpoints.Count == 0)
        {
            throw new ArgumentException("at least one endpoint is needed", nameof(endpointsById));
        }
    }

    private RaftKvClient(RaftKvClientOptions? options)
    {
        // A copy: the options are read once, when the client is created (see RaftKvClientOptions).
        _options = options?.Copy() ?? new RaftKvClientOptions();
        _options.Validate();
        _time = _options.TimeProvider;
        _nextSequence = _options.FirstSequence;
        _clientId = _options.ClientId ?? Guid.NewGuid().ToString("N");

        // Each attempt has its own timeout (RequestTimeout plus any server-side wait), so HttpClient's own is off.
        _http = _options.Handler is { } handler
            ? new HttpClient(handler, _options.DisposeHandler) { Timeout = Timeout.InfiniteTimeSpan }
            : new HttpClient(CreateHandler(_options)) { Timeout = Timeout.InfiniteTimeSpan };
        if (_options.BearerToken is { } token)
        {
            // On every request, the watch's and the member lookup's included.
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(ApiHeaders.BearerScheme, token);
        }
    }

    private static SocketsHttpHandler CreateHandler(RaftKvClientOptions options)
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false };
        if (options.TrustedAuthorities.Count > 0)
        {
            HttpsTrust.TrustOnly(handler, options.TrustedAuthorities);
        }

        return handler;
    }

    /// <summary>The session id this client sends with its writes.</summary>
    public string ClientId => _clientId;

    /// <summary>The endpoint currently believed to lead, or <see langword="null"/> when none is cached.</summary>
    public Uri? Leader
    {
        get
        {
            lock (_routes)
            {
                return _leader;
            }
        }
    }

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/> once a majority has it.</summary>
    /// <param name="key">The key: non-empty, no control characters.</param>
    /// <param name="value">The value's bytes.</param>
    /// <param name="cancellationToken">Stops waiting; the write may still be applied.</param>
    /// <returns>The log index of the write and the key's new version.</returns>
    /// <exception cref="NoLeaderException">No leader answered within the retry budget; the write may have been applied.</exception>
    /// <exception cref="RaftKvException">The server refused the write, for example <c>invalid_key</c> or <c>value_too_large</c>.</exception>
    public Task<PutResult> PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
        PutCoreAsync(key, value, null, cancellationToken);

    /// <summary>Stores <paramref name="value"/>, encoded as UTF-8, under <paramref name="key"/> once a majority has it.</summary>
    /// <param name="key">The key: non-empty, no control characters.</param>
    /// <param name="value">The value, stored as UTF-8.</param>
    /// <param name="cancellationToken">Stops waiting; the write may still be applied.</param>
    /// <returns>The log index of the write and the key's new version.</returns>
    /// <exception cref="NoLeaderException">No leader answered within the retry budget; the write may have been applied.</exception>
    /// <exception cref="RaftKvException">The server refused the write.</exception>
    public Task<PutResult> PutAsync(string key, string value, CancellationToken cancellationToken = default) =>
        PutCoreAsync(key, Utf8(value), null, cancellationToken);

    /// <summary>
    /// Stores <paramref name="value"/> under <paramref name="key"/> only if the key's version is
    /// <paramref name="expectedVersion"/> (0: only if the key does not exist).
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value's bytes.</param>
    /// <param name="expectedVersion">The version read earlier (<see cref="KvEntry.Version"/>), or 0 to create.</param>
    /// <param name="cancellationToken">Stops waiting; the write may still be applied.</param>
    /// <returns>The log index of the write and the key's new version.</returns>
    /// <exception cref="PreconditionFailedException">The version differed; nothing was written.</exception>
    /// <exception cref="NoLeaderException">No leader answered within the retry budget; the write may have been applied.</exception>
    public Task<PutResult> CompareAndSetAsync(string key, ReadOnlyMemory<byte> value, ulong expectedVersion, CancellationToken cancellationToken = default) =>
        PutCoreAsync(key, value, expectedVersion, cancellationToken);

    /// <summary>Stores <paramref name="value"/> as UTF-8 only if the key's version is <paramref name="expectedVersion"/> (0: only if absent).</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value, stored as UTF-8.</param>
    /// <param name="expectedVersion">The version read earlier, or 0 to create.</param>
    /// <param name="cancellationToken">Stops waiting; the write may still be applied.</param>
    /// <returns>The log index of the write and the key's new version.</returns>
    /// <exception cref="PreconditionFailedException">The version differed; nothing was written.</exception>
    /// <exception cref="NoLeaderException">No leader answered within the retry budget; the write may have been applied.</exception>
    public Task<PutResult> CompareAndSetAsync(string key, string value, ulong expectedVersion, CancellationToken cancellationToken = default) =>
        PutCoreAsync(key, Utf8(value), expectedVersion, cancellationToken);

    /// <summary>Removes <paramref name="key"/> once a majority agrees.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Stops waiting; the delete may still be applied.</param>
    /// <returns>The log index of the delete and whether the key existed.</returns>
    /// <exception cref="NoLeaderException">No leader answered within the retry budget; the delete may have been applied.</exception>
    public Task<DeleteResult> DeleteAsync(string key, CancellationToken cancellationToken = default) =>
        DeleteCoreAsync(key, null, cancellationToken);

    /// <summary>Removes <paramref name="key"/> only if its version is <paramref name="expectedVersion"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="expectedVersion">The version read earlier.</param>
    /// <param name="cancellationToken">Stops waiting; the delete may still be applied.</param>
    /// <returns>The log index of the delete and whether the key existed.</returns>
    /// <exception cref="PreconditionFailedException">The version differed; nothing was deleted.</exception>
    /// <exception cref="NoLeaderException">No leader answered within the retry budget; the delete may have been applied.</exception>
    public Task<DeleteResult> CompareAndDeleteAsync(string key, ulong expectedVersion, CancellationToken cancellationToken = default) =>
        DeleteCoreAsync(key, expectedVersion, cancellationToken);

    /// <summary>Reads <paramref name="key"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="consistency">How fresh the read must be; linearizable by default.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The value and its version, or <see langword="null"/> when the key does not exist.</returns>
    /// <exception cref="NoLeaderException">No node could serve the read within the retry budget.</exception>
    public async Task<KvEntry?> GetAsync(string key, Consistency consistency = Consistency.Linearizable, CancellationToken cancellationToken = default)
    {
        var path = $"{KeyPath(key)}?consistency={ConsistencyName(consistency)}";
        using var response = await SendAsync(new Call(HttpMethod.Get, path, null, null, null, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            var error = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            return error?.Error is ErrorCodes.NotFound ? null : throw ErrorFrom(response.StatusCode, error);
        }

        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var value = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        return new KvEntry(key, value, HeaderNumber(response, ApiHeaders.Version), HeaderNumber(response, ApiHeaders.CreateIndex));
    }

    /// <summary>Lists keys that start with <paramref name="prefix"/>, in key order.</summary>
    /// <param name="prefix">The prefix; empty lists every key.</param>
    /// <param name="limit">The most entries to return, 1 to 10000.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The entries, whether more matched, and the applied index the listing reflects.</returns>
    /// <exception cref="NoLeaderException">No node could serve the listing within the retry budget.</exception>
    public Task<KvListResult> ListAsync(string prefix, int limit = 100, CancellationToken cancellationToken = default) =>
        ListAsync(prefix, limit, after: null, keysOnly: false, cancellationToken);

    /// <summary>
    /// Lists keys that start with <paramref name="prefix"/> and come after <paramref name="after"/>, in key order:
    /// one page of a listing, the next one starting after <see cref="KvListResult.Next"/>.
    /// </summary>
    /// <param name="prefix">The prefix; empty lists every key.</param>
    /// <param name="limit">The most entries to return, 1 to 10000.</param>
    /// <param name="after">The key to go on after (ordinal order), usually the previous page's <see cref="KvListResult.Next"/>; <see langword="null"/> starts at the first key.</param>
    /// <param name="keysOnly">Leave the values out: each entry's <see cref="KvEntry.Value"/> is then empty.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The entries, whether more matched, the key to go on after, and the applied index the listing reflects.</returns>
    /// <exception cref="NoLeaderException">No node could serve the listing within the retry budget.</exception>
    /// <exception cref="RaftKvException">The server refused the listing, for example <c>invalid_after</c>.</exception>
    public async Task<KvListResult> ListAsync(string prefix, int limit, string? after, bool keysOnly, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (after is { Length: 0 })
        {
            throw new ArgumentException("a key to list after is not empty; pass null to start at the first key", nameof(after));
        }

        var path = $"{ApiPaths.Kv}?prefix={ResourceName.Escape(prefix)}&limit={limit.ToString(CultureInfo.InvariantCulture)}"
            + (after is null ? string.Empty : $"&after={ResourceName.Escape(after)}")
            + (keysOnly ? "&keys=true" : string.Empty);
        using var response = await SendAsync(new Call(HttpMethod.Get, path, null, null, null, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var body = await ReadJsonAsync(response, ProtocolJsonContext.Wire.ListResponse, cancellationToken).ConfigureAwait(false);
        // Read leniently: a field missing from the answer reads as null even where the shape says it is not.
        var items = (body.Items ?? []).Select(i => new KvEntry(i.Key, i.Value ?? [], i.Version, i.CreateIndex)).ToList();
        // An answer without next (an older node's) still says where to go on: after its last key.
        var next = body.More ? body.Next ?? (items.Count > 0 ? items[^1].Key : null) : null;
        return new KvListResult(items, body.More, body.Index) { Next = next };
    }

    /// <summary>
    /// Every key that starts with <paramref name="prefix"/>, in key order, read <paramref name="pageSize"/> at a
    /// time, each page starting after the last key of the one before.
    /// </summary>
    /// <remarks>
    /// Each page is its own linearizable read, not one snapshot: a key that exists throughout the walk is listed
    /// exactly once, with its value as of its page's read, and keys created or deleted meanwhile may or may not
    /// appear; every key appears at most once, in key order.
    /// </remarks>
    /// <param name="prefix">The prefix; empty lists every key.</param>
    /// <param name="pageSize">Entries asked for per request, 1 to 10000.</param>
    /// <param name="keysOnly">Leave the values out: each entry's <see cref="KvEntry.Value"/> is then empty.</param>
    /// <param name="cancellationToken">Stops the walk.</param>
    /// <returns>The entries, as the pages arrive.</returns>
    /// <exception cref="NoLeaderException">No node could serve a page within the retry budget.</exception>
    public async IAsyncEnumerable<KvEntry> ListAllAsync(string prefix, int pageSize = 100, bool keysOnly = false, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        string? after = null;
        do
        {
            var page = await ListAsync(prefix, pageSize, after, keysOnly, cancellationToken).ConfigureAwait(false);
            foreach (var entry in page.Items)
            {
                // A node that ignored after (one older than paging) would list the same page forever.
                if (after is not null && string.CompareOrdinal(entry.Key, after) <= 0)
                {
                    throw new RaftKvException(HttpStatusCode.OK, ErrorCodes.MalformedResponse, $"the server listed '{entry.Key}' after '{after}', out of key order: it does not page");
                }

                yield return entry;
                after = entry.Key;
            }

            after = page.Next;
        }
        while (after is not null);
    }

    /// <summary>
    /// Takes the lock <paramref name="name"/> for <paramref name="owner"/> for <paramref name="ttl"/>, or renews it if
    /// <paramref name="owner"/> holds it already.
    /// </summary>
    /// <param name="name">The lock's name.</param>
    /// <param name="owner">Who takes it; renew and release must name the same owner.</param>
    /// <param name="ttl">How long the lock is held unless renewed.</param>
    /// <param name="wait">How long the server may wait for the lock to come free; <see langword="null"/> answers at once.</param>
    /// <param name="cancellationToken">Stops waiting; the lock may still be granted.</param>
    /// <returns>The lease with its fencing token.</returns>
    /// <exception cref="LockHeldException">Another owner holds the lock (after <paramref name="wait"/>, if given).</exception>
    /// <exception cref="NoLeaderException">No leader answered within the retry budget; the lock may have been granted.</exception>
    public Task<LockLease> AcquireLockAsync(string name, string owner, TimeSpan ttl, TimeSpan? wait = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        return LockCoreAsync(HttpMethod.Post, name, AcquirePath(name, wait), new LockRequest(owner, (long)ttl.TotalMilliseconds), wait ?? TimeSpan.Zero, cancellationToken);
    }

    /// <summary>Extends the lease of <paramref name="owner"/> on lock <paramref name="name"/> to <paramref name="ttl"/> from now.</summary>
    /// <param name="name">The lock's name.</param>
    /// <param name="owner">The owner that holds it.</param>
    /// <param name="ttl">The new time to live.</param>
    /// <param name="cancellationToken">Stops waiting; the renewal may still be applied.</param>
    /// <returns>The lease, with the same fencing token and the new expiry.</returns>
    /// <exception cref="LockHeldException">Another owner holds the lock: this owner's lease lapsed.</exception>
    /// <exception cref="RaftKvException">The lock is not held, or the server refused otherwise.</exception>
    public Task<LockLease> RenewLockAsync(string name, string owner, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        return LockCoreAsync(HttpMethod.Put, name, LockPath(name), new LockRequest(owner, (long)ttl.TotalMilliseconds), TimeSpan.Zero, cancellationToken);
    }

    /// <summary>Releases lock <paramref name="name"/> held by <paramref name="owner"/>.</summary>
    /// <param name="name">The lock's name.</param>
    /// <param name="owner">The owner that holds it.</param>
    /// <param name="cancellationToken">Stops waiting; the release may still be applied.</param>
    /// <returns>A task that completes once the release is applied.</returns>
    /// <exception cref="LockHeldException">Another owner holds the lock.</exception>
    /// <exception cref="RaftKvException">The server refused the release.</exception>
    public async Task ReleaseLockAsync(string name, string owner, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        var body = JsonSerializer.SerializeToUtf8Bytes(new LockRequest(owner, null), ProtocolJsonContext.Wire.LockRequest);
        using var response = await WriteAsync(HttpMethod.Delete, LockPath(name), body, null, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads who holds lock <paramref name="name"/>.</summary>
    /// <param name="name">The lock's name.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The current lease, or <see langword="null"/> when the lock is free.</returns>
    /// <exception cref="NoLeaderException">No node could serve the read within the retry budget.</exception>
    public async Task<LockLease?> GetLockAsync(string name, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(new Call(HttpMethod.Get, LockPath(name), null, null, null, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            var error = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            return error?.Error is ErrorCodes.LockNotHeld ? null : throw ErrorFrom(response.StatusCode, error);
        }

        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var body = await ReadJsonAsync(response, ProtocolJsonContext.Wire.LockResponse, cancellationToken).ConfigureAwait(false);
        return body.Owner is null ? null : new LockLease(body.Name ?? name, body.Owner, body.FencingToken, body.ExpiresAtMs);
    }

    /// <summary>Closes the client's connections.</summary>
    public void Dispose()
    {
        _http.Dispose();
        _writeGate.Dispose();
    }

    private async Task<PutResult> PutCoreAsync(string key, ReadOnlyMemory<byte> value, ulong? expectedVersion, CancellationToken cancellationToken, ulong lease = 0)
    {
        var ifMatch = expectedVersion?.ToString(CultureInfo.InvariantCulture);
        var path = lease == 0 ? KeyPath(key) : KeyPath(key) + "?lease=" + lease.ToString(CultureInfo.InvariantCulture);
        using var response = await WriteAsync(HttpMethod.Put, path, value, ifMatch, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var body = await ReadJsonAsync(response, ProtocolJsonContext.Wire.PutResponse, cancellationToken).ConfigureAwait(false);
        return new PutResult(body.Index, body.Version);
    }

    private async Task<DeleteResult> DeleteCoreAsync(string key, ulong? expectedVersion, CancellationToken cancellationToken)
    {
        var ifMatch = expectedVersion?.ToString(CultureInfo.InvariantCulture);
        using var response = await WriteAsync(HttpMethod.Delete, KeyPath(key), null, ifMatch, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var body = await ReadJsonAsync(response, ProtocolJsonContext.Wire.DeleteResponse, cancellationToken).ConfigureAwait(false);
        return new DeleteResult(body.Index, body.Deleted);
    }

    private async Task<LockLease> LockCoreAsync(HttpMethod method, string name, string path, LockRequest lockRequest, TimeSpan serverWait, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(lockRequest.Owner);
        var request = JsonSerializer.SerializeToUtf8Bytes(lockRequest, ProtocolJsonContext.Wire.LockRequest);
        using var response = await WriteAsync(method, path, request, null, serverWait, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var body = await ReadJsonAsync(response, ProtocolJsonContext.Wire.LockResponse, cancellationToken).ConfigureAwait(false);
        return new LockLease(body.Name ?? name, body.Owner ?? lockRequest.Owner, body.FencingToken, body.ExpiresAtMs);
    }

    // An acquire's path, with the server's wait for a held lock when there is one.
    private static string AcquirePath(string name, TimeSpan? wait) =>
        wait is { } w ? $"{LockPath(name)}?waitMs={((long)Math.Max(0, w.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture)}" : LockPath(name);

    /// <summary>
    /// Sends one write under the next sequence of this client's session. Writes go one at a time: the cluster
    /// remembers one result per session, so a second write in flight would make the first one's retry unanswerable.
    /// </summary>
    private async Task<HttpResponseMessage> WriteAsync(HttpMethod method, string path, ReadOnlyMemory<byte>? body, string? ifMatch, TimeSpan serverWait, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Taken once per write, outside the retry loop: every attempt of this write carries the same number.
            var sequence = _nextSequence++;
            return await SendAsync(new Call(method, path, body, ifMatch, sequence, serverWait), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private static async Task ThrowIfFailedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw ErrorFrom(response.StatusCode, await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false));
        }
    }

    private static RaftKvException ErrorFrom(HttpStatusCode status, ErrorBody? error)
    {
        var code = error?.Error ?? ((int)status).ToString(CultureInfo.InvariantCulture);
        var detail = error?.Detail ?? $"the server answered {(int)status} {status}";
        return (status, code) switch
        {
            (HttpStatusCode.PreconditionFailed, _) or (_, ErrorCodes.PreconditionFailed) => new PreconditionFailedException(code, detail, error?.CurrentVersion ?? 0),
            (_, ErrorCodes.LockHeld) => new LockHeldException(code, detail, error?.Holder, error?.ExpiresAtMs ?? 0),
            (_, ErrorCodes.LeaseNotFound) => new LeaseNotFoundException(detail),
            (HttpStatusCode.Unauthorized, _) => new UnauthenticatedException(code, detail),
            (HttpStatusCode.Forbidden, _) => new PermissionDeniedException(code, detail),
            _ => new RaftKvException(status, code, detail),
        };
    }

    private static async Task<T> ReadJsonAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancellationToken)
        where T : class
    {
        var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize(bytes, type) ?? throw new RaftKvException(response.StatusCode, ErrorCodes.MalformedResponse, "the server answered null");
        }
        catch (JsonException ex)
        {
            throw new RaftKvException(response.StatusCode, ErrorCodes.MalformedResponse, "the server's answer is not the JSON the API defines", ex);
        }
    }

    private static ulong HeaderNumber(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values)
        && ulong.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : 0;

    /// <summary>
    /// The key as one escaped segment, <c>/</c> included: the server decodes <c>%2F</c> like a plain slash (so curl's
    /// <c>a/b</c> is the same key), and an escaped name is never rewritten on the way, as <see cref="Uri"/> would
    /// rewrite a <c>.</c> or <c>..</c> between literal slashes.
    /// </summary>
    private static string KeyPath(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return ApiPaths.KvPrefix + ResourceName.Escape(key);
    }

    /// <summary>The lock's name as one escaped segment, as <see cref="KeyPath"/>.</summary>
    private static string LockPath(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return ApiPaths.LocksPrefix + ResourceName.Escape(name);
    }

    private static string ConsistencyName(Consistency consistency) => consistency switch
    {
        Consistency.Linearizable => "linearizable",
        Consistency.Lease => "lease",
        Consistency.Stale => "stale",
        _ => throw new ArgumentOutOfRangeException(nameof(consistency), consistency, "unknown consistency"),
    };

    private static byte[] Utf8(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Encoding.UTF8.GetBytes(value);
    }

    private static Uri Checked(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return endpoint.IsAbsoluteUri && (endpoint.Scheme == Uri.UriSchemeHttp || endpoint.Scheme == Uri.UriSchemeHttps)
            ? endpoint
            : throw new ArgumentException($"'{endpoint}' is not an absolute http or https URI", nameof(endpoint));
    }
}
