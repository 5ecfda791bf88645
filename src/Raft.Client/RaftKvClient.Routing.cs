using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Raft.Protocol;

namespace Raft.Client;

public sealed partial class RaftKvClient
{
    // Guards the endpoint list, the id map, the leader cache, the rotation cursor and what was learned of failures.
    // Held only for field updates, never across an await.
    private readonly Lock _routes = new();
    private readonly List<Uri> _endpoints = [];
    private readonly Dictionary<int, Uri> _endpointsById = [];
    private readonly HashSet<int> _membersAskedFor = [];
    private readonly Dictionary<Uri, long> _unreachableAt = [];
    private Uri? _leader;
    private int _next;

    /// <summary>
    /// One request as the retry loop resends it: every attempt builds a fresh message from this. A streamed call's
    /// answer is returned once its headers arrive, its body left for the caller to read (a backup).
    /// </summary>
    private readonly record struct Call(HttpMethod Method, string PathAndQuery, ReadOnlyMemory<byte>? Body, string? IfMatch, ulong? Sequence, TimeSpan ExtraTime, bool Streamed = false);

    /// <summary>
    /// Sends <paramref name="call"/> until an answer arrives that is not about routing or availability, and returns
    /// it (the caller disposes it). Redirects and leader hints are followed; connection failures, timeouts and
    /// <c>502</c>/<c>503</c>/<c>504</c>/<c>429</c> are retried after a backoff (at least the capped
    /// <c>Retry-After</c>) until the deadline or the attempt budget runs out. A <c>429 rate_limited</c> is retried at
    /// the same node after its whole <c>Retry-After</c>, or ends in <see cref="RateLimitedException"/> at once when
    /// that wait would pass the deadline. Every attempt of a write carries the
    /// same sequence, so the cluster applies it at most once however many attempts reached it.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(Call call, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var attempts = 0;
        var failures = 0;

        // Hints followed since the last backoff. Nodes that disagree about the leader for a moment (one has not
        // heard of the new term yet) can send a request back and forth; past one hop per node, wait instead.
        var hops = 0;
        Uri? redirect = null;
        HttpStatusCode? lastStatus = null;
        var lastError = "no attempt made";
        Exception? lastException = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (attempts >= _options.MaxAttempts || _time.GetElapsedTime(started) >= _options.RetryDeadline)
            {
                throw new NoLeaderException(attempts, lastStatus, lastError, lastException);
            }

            var endpoint = redirect is null ? CurrentEndpoint() : BaseOf(redirect);
            var target = redirect ?? new Uri(endpoint, call.PathAndQuery);
            redirect = null;
            attempts++;
            HttpResponseMessage response;
            using (var request = Build(call, target))
            using (var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                attempt.CancelAfter(_options.RequestTimeout + call.ExtraTime);
                try
                {
                    var completion = call.Streamed ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead;
                    response = await _http.SendAsync(request, completion, attempt.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    (lastStatus, lastError, lastException) = (null, $"{endpoint} did not answer within {_options.RequestTimeout + call.ExtraTime}", ex);
                    ForgetEndpoint(endpoint, unreachable: true);
                    await BackoffAsync(failures++, null, started, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                catch (HttpRequestException ex)
                {
                    (lastStatus, lastError, lastException) = (null, $"{endpoint}: {ex.Message}", ex);
                    ForgetEndpoint(endpoint, unreachable: true);
                    await BackoffAsync(failures++, null, started, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }

            var leaderId = LeaderIdOf(response);
            var status = response.StatusCode;
            if (status is HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect && response.Headers.Location is { } location)
            {
                redirect = location.IsAbsoluteUri ? location : new Uri(target, location);
                response.Dispose();
                AdoptLeader(leaderId, BaseOf(redirect));
                (lastStatus, lastError, lastException) = (status, $"redirected to {redirect}", null);
                if (++hops > EndpointCount())
                {
                    hops = 0;
                    await BackoffAsync(failures++, null, started, cancellationToken).ConfigureAwait(false);
                }

                continue;
            }

            if (status is not (HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout or HttpStatusCode.TooManyRequests))
            {
                // A routed answer (forwarded by a follower, or served by the leader) still names the leader: go
                // there directly next time. A client that was given only followers learns the leader's endpoint
                // from the members, once per leader id, rather than forwarding through a follower for good.
                if (leaderId > 0)
                {
                    await LearnEndpointOfAsync(leaderId, endpoint, cancellationToken).ConfigureAwait(false);
                    AdoptRoutedLeader(leaderId);
                }

                return response;
            }

            using (response)
            {
                var error = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
                (lastStatus, lastError, lastException) = (status, error?.Error ?? ((int)status).ToString(CultureInfo.InvariantCulture), null);
                if (leaderId > 0)
                {
                    await LearnEndpointOfAsync(leaderId, endpoint, cancellationToken).ConfigureAwait(false);
                }

                // The node's rate limit: its Retry-After is what the server needs, not a hint to cap, and another node
                // would forward to the same leader, which limits the same token. Wait here, if the deadline allows.
                if (status == HttpStatusCode.TooManyRequests && error?.Error == ErrorCodes.RateLimited)
                {
                    var wait = RetryAfterOf(response.Headers.RetryAfter) ?? TimeSpan.FromSeconds(1);
                    if (wait > _options.RetryDeadline - _time.GetElapsedTime(started))
                    {
                        throw new RateLimitedException(error.Detail ?? "the node's rate limit refused the request", wait);
                    }

                    hops = 0;
                    await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                // A 503 that names another node is acted on at once: that node leads now. A hint naming the node
                // that just refused, or none, means an election or a hand-over is under way, which takes time. A
                // 502 or 504 names the leader the answering node could not reach or wait for, so it is not
                // followed blindly.
                if (status == HttpStatusCode.ServiceUnavailable && leaderId > 0 && AdoptKnownLeader(leaderId) is { } leader && leader != endpoint
                    && ++hops <= EndpointCount())
                {
                    continue;
                }

                hops = 0;
                ForgetEndpoint(endpoint);
                await BackoffAsync(failures++, response.Headers.RetryAfter, started, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private HttpRequestMessage Build(Call call, Uri target)
    {
        var request = new HttpRequestMessage(call.Method, target);
        if (call.Body is { } body)
        {
            request.Content = new ReadOnlyMemoryContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(call.PathAndQuery.StartsWith(ApiPaths.LocksPrefix, StringComparison.Ordinal) ? "application/json" : "application/octet-stream");
        }

        if (call.IfMatch is { } version)
        {
            // Sent without quotes: the server compares the plain version number, which is not an entity tag.
            request.Headers.TryAddWithoutValidation(ApiHeaders.IfMatch, version);
        }

        if (call.Sequence is { } sequence)
        {
            request.Headers.TryAddWithoutValidation(ApiHeaders.ClientId, _clientId);
            request.Headers.TryAddWithoutValidation(ApiHeaders.ClientSeq, sequence.ToString(CultureInfo.InvariantCulture));
        }

        return request;
    }

    private async Task BackoffAsync(int failures, RetryConditionHeaderValue? retryAfter, long started, CancellationToken cancellationToken)
    {
        var exponent = Math.Min(failures, 20);
        var ceiling = Math.Min(_options.BackoffMax.Ticks, _options.BackoffBase.Ticks << exponent);

        // Jitter spreads clients that failed together so they do not return together.
        var delay = TimeSpan.FromTicks((long)(ceiling * (0.5 + (Random.Shared.NextDouble() / 2))));
        if (RetryAfterOf(retryAfter) is { } hinted && hinted > delay)
        {
            delay = hinted < _options.MaxRetryAfter ? hinted : _options.MaxRetryAfter;
        }

        var left = _options.RetryDeadline - _time.GetElapsedTime(started);
        if (delay > left)
        {
            delay = left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }

        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private TimeSpan? RetryAfterOf(RetryConditionHeaderValue? retryAfter) => retryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - _time.GetUtcNow(),
        _ => null,
    };

    private static int LeaderIdOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues(ApiHeaders.Leader, out var values)
        && int.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var id) ? id : 0;

    private static async Task<ErrorBody?> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            return bytes.Length == 0 ? null : JsonSerializer.Deserialize(bytes, ProtocolJsonContext.Wire.ErrorBody);
        }
        catch (JsonException)
        {
            // A proxy or a dying node may answer with something else; the status alone still says what to do.
            return null;
        }
    }

    /// <summary>
    /// Asks <paramref name="endpoint"/> for the members' HTTP endpoints so leader hints by id can be followed; returns
    /// <see langword="false"/> when it did not answer.
    /// </summary>
    private async Task<bool> LearnMembersAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        try
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(_options.RequestTimeout);
            using var response = await _http.GetAsync(new Uri(endpoint, ApiPaths.Members), attempt.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return true;
            }

            var bytes = await response.Content.ReadAsByteArrayAsync(attempt.Token).ConfigureAwait(false);
            var body = JsonSerializer.Deserialize(bytes, ProtocolJsonContext.Wire.MembersResponse);
            lock (_routes)
            {
                foreach (var member in body?.Members ?? [])
                {
                    if (Uri.TryCreate(member.HttpEndpoint, UriKind.Absolute, out var uri))
                    {
                        Remember(member.Id, BaseOf(uri));
                    }
                }
            }

            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Learning the map is an optimisation; the retry loop goes on without it.
            return false;
        }
        catch (HttpRequestException)
        {
            // As above.
            return false;
        }
        catch (JsonException)
        {
            // As above; the node answered.
            return true;
        }
    }

    private Uri CurrentEndpoint()
    {
        lock (_routes)
        {
            return _leader ?? _endpoints[_next % _endpoints.Count];
        }
    }

    /// <summary>
    /// Drops <paramref name="endpoint"/> as the cached leader and moves the rotation past it; one that could not be
    /// reached is not taken up again from a routed answer's hint for <see cref="RaftKvClientOptions.RequestTimeout"/>.
    /// </summary>
    private void ForgetEndpoint(Uri endpoint, bool unreachable = false)
    {
        lock (_routes)
        {
            if (_leader == endpoint)
            {
                _leader = null;
            }

            if (unreachable)
            {
                _unreachableAt[endpoint] = _time.GetTimestamp();
            }

            var index = _endpoints.IndexOf(endpoint);
            _next = index >= 0 ? (index + 1) % _endpoints.Count : (_next + 1) % _endpoints.Count;
        }
    }

    private int EndpointCount()
    {
        lock (_routes)
        {
            return _endpoints.Count;
        }
    }

    /// <summary>
    /// The one way an answer naming <paramref name="leaderId"/> teaches the client its endpoint: when the id has none
    /// and no members list has been read for it yet, the members are asked of <paramref name="endpoint"/>. Once per
    /// id bounds the lookups when the list gives no endpoint for it (a member without an HTTP address); a lookup that
    /// got no answer does not count.
    /// </summary>
    private async Task LearnEndpointOfAsync(int leaderId, Uri endpoint, CancellationToken cancellationToken)
    {
        lock (_routes)
        {
            if (_endpointsById.ContainsKey(leaderId) || !_membersAskedFor.Add(leaderId))
            {
                return;
            }
        }

        var answered = false;
        try
        {
            answered = await LearnMembersAsync(endpoint, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (!answered)
            {
                lock (_routes)
                {
                    _membersAskedFor.Remove(leaderId);
                }
            }
        }
    }

    /// <summary>
    /// Caches the endpoint of node <paramref name="leaderId"/>, named by a successful answer, as the leader, unless it
    /// is unknown or could not be reached lately: a leader whose address the client cannot reach (an address only
    /// the nodes can use) is served through the endpoint that answered instead of being retried on every call. Lately
    /// is one <see cref="RaftKvClientOptions.RequestTimeout"/>, the most one failed attempt costs, so trying it again
    /// takes at most about half the time while it stays unreachable.
    /// </summary>
    private void AdoptRoutedLeader(int leaderId)
    {
        lock (_routes)
        {
            if (_endpointsById.TryGetValue(leaderId, out var endpoint)
                && (!_unreachableAt.TryGetValue(endpoint, out var failedAt) || _time.GetElapsedTime(failedAt) >= _options.RequestTimeout))
            {
                _unreachableAt.Remove(endpoint);
                _leader = endpoint;
            }
        }
    }

    /// <summary>Caches the endpoint of node <paramref name="leaderId"/> as the leader, if it is known; returns it.</summary>
    private Uri? AdoptKnownLeader(int leaderId)
    {
        lock (_routes)
        {
            if (_endpointsById.TryGetValue(leaderId, out var endpoint))
            {
                _leader = endpoint;
                return endpoint;
            }

            return null;
        }
    }

    /// <summary>A redirect names the leader's endpoint outright: cache it, and tie it to the id when one came along.</summary>
    private void AdoptLeader(int leaderId, Uri endpoint)
    {
        lock (_routes)
        {
            if (leaderId > 0)
            {
                Remember(leaderId, endpoint);
            }
            else if (!_endpoints.Contains(endpoint))
            {
                _endpoints.Add(endpoint);
            }

            _leader = endpoint;
        }
    }

    // Caller holds _routes.
    private void Remember(int id, Uri endpoint)
    {
        _endpointsById[id] = endpoint;
        if (!_endpoints.Contains(endpoint))
        {
            _endpoints.Add(endpoint);
        }
    }

    private static Uri BaseOf(Uri uri) => new(uri.GetLeftPart(UriPartial.Authority) + "/");
}
