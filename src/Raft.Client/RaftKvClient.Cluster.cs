using System.Globalization;
using System.Net;
using Raft.Protocol;

namespace Raft.Client;

/// <summary>One node's readiness (<c>GET /health/ready</c>).</summary>
/// <param name="Ready"><see langword="true"/> when it knows a leader and has applied what it committed.</param>
/// <param name="Status"><c>ready</c>, or the error code of a node that is not (<c>not_ready</c>, <c>disk_full</c>, ...).</param>
/// <param name="Detail">Why it is not ready; null when it is.</param>
/// <param name="LeaderId">The leader it knows, 0 for none or when not ready.</param>
/// <param name="CommitIndex">Its commit index, 0 when not ready.</param>
/// <param name="AppliedIndex">Its applied index, 0 when not ready.</param>
public sealed record NodeHealth(bool Ready, string Status, string? Detail, int LeaderId, ulong CommitIndex, ulong AppliedIndex);

/// <summary>A backup written by <see cref="RaftKvClient.SaveSnapshotAsync"/>.</summary>
/// <param name="Index">The log index the image reflects.</param>
/// <param name="Term">The term of that entry.</param>
/// <param name="Bytes">How many bytes were written.</param>
public sealed record SavedSnapshot(ulong Index, ulong Term, long Bytes);

public sealed partial class RaftKvClient
{
    /// <summary>The cluster as some node sees it: roles, terms, indexes, each member's match index and lag.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The answering node's status (the leader's, when one is cached: only it knows every member's lag).</returns>
    /// <exception cref="NoLeaderException">No node answered within the retry budget.</exception>
    public async Task<ClusterStatusResponse> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(new Call(HttpMethod.Get, ApiPaths.Cluster, null, null, null, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        return await ReadJsonAsync(response, ProtocolJsonContext.Wire.ClusterStatusResponse, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The status of the node at <paramref name="endpoint"/> itself, asked once within
    /// <see cref="RaftKvClientOptions.RequestTimeout"/>: no retry, no routing to another node.
    /// </summary>
    /// <param name="endpoint">The node's HTTP base address.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>That node's view of the cluster.</returns>
    /// <exception cref="RaftKvException"><c>node_unreachable</c> when it did not answer, or its error answer.</exception>
    public async Task<ClusterStatusResponse> GetNodeStatusAsync(Uri endpoint, CancellationToken cancellationToken = default)
    {
        using var response = await SendOnceAsync(endpoint, ApiPaths.Cluster, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        return await ReadJsonAsync(response, ProtocolJsonContext.Wire.ClusterStatusResponse, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether the node at <paramref name="endpoint"/> is ready to serve, asked once as <see cref="GetNodeStatusAsync"/>.</summary>
    /// <param name="endpoint">The node's HTTP base address.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>Its readiness; a node that answered "not ready" is a value, not an exception.</returns>
    /// <exception cref="RaftKvException"><c>node_unreachable</c> when it did not answer.</exception>
    public async Task<NodeHealth> GetNodeHealthAsync(Uri endpoint, CancellationToken cancellationToken = default)
    {
        using var response = await SendOnceAsync(endpoint, ApiPaths.HealthReady, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            var health = await ReadJsonAsync(response, ProtocolJsonContext.Wire.HealthResponse, cancellationToken).ConfigureAwait(false);
            return new NodeHealth(true, health.Status, null, health.LeaderId, health.CommitIndex, health.AppliedIndex);
        }

        if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
        {
            throw ErrorFrom(response.StatusCode, await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false));
        }

        var error = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
        return new NodeHealth(false, error?.Error ?? ErrorCodes.NotReady, error?.Detail ?? "the node answered 503", LeaderIdOf(response), 0, 0);
    }

    /// <summary>
    /// Hands leadership to node <paramref name="to"/> (null: the most up-to-date follower), a planned switchover;
    /// answered once the new leader has taken over.
    /// </summary>
    /// <param name="to">The voter to lead next, or null to let the leader choose.</param>
    /// <param name="cancellationToken">Stops waiting; the transfer may still happen.</param>
    /// <returns>Who led before, who was asked, and who leads now.</returns>
    /// <exception cref="RaftKvException"><c>already_leader</c>, <c>invalid_target</c>, <c>transfer_failed</c>.</exception>
    /// <exception cref="NoLeaderException">No leader answered within the retry budget.</exception>
    public async Task<TransferResponse> TransferLeaderAsync(int? to = null, CancellationToken cancellationToken = default)
    {
        if (to is { } id)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(id, nameof(to));
        }

        var path = to is { } target ? $"{ApiPaths.TransferLeader}?to={target.ToString(CultureInfo.InvariantCulture)}" : ApiPaths.TransferLeader;
        using var response = await SendAsync(new Call(HttpMethod.Post, path, null, null, null, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var body = await ReadJsonAsync(response, ProtocolJsonContext.Wire.TransferResponse, cancellationToken).ConfigureAwait(false);
        lock (_routes)
        {
            // The old leader's endpoint no longer leads.
            _leader = null;
        }

        AdoptKnownLeader(body.LeaderId);
        return body;
    }

    /// <summary>
    /// Writes a backup of some node's state to <paramref name="destination"/>: the snapshot stream that
    /// <c>Raft.Server restore</c> reads. A follower's is its applied state unless <paramref name="linearizable"/>.
    /// </summary>
    /// <param name="destination">Where the bytes go; left open.</param>
    /// <param name="linearizable">Catch up to the leader's commit index first.</param>
    /// <param name="cancellationToken">Stops the copy; what was written is then a partial stream.</param>
    /// <returns>The index and term the image reflects and its length.</returns>
    /// <exception cref="NoLeaderException">No node answered within the retry budget.</exception>
    /// <exception cref="RaftKvException">The node refused (a token without the admin role, for one).</exception>
    public async Task<SavedSnapshot> SaveSnapshotAsync(Stream destination, bool linearizable = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var path = $"{ApiPaths.Snapshot}?consistency={(linearizable ? "linearizable" : "stale")}";
        using var response = await SendAsync(new Call(HttpMethod.Get, path, null, null, null, TimeSpan.Zero, Streamed: true), cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var index = HeaderNumber(response, ApiHeaders.SnapshotIndex);
        var term = HeaderNumber(response, ApiHeaders.SnapshotTerm);
        var source = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (source.ConfigureAwait(false))
        {
            var counting = new CountingCopy(destination);
            await source.CopyToAsync(counting, cancellationToken).ConfigureAwait(false);
            return new SavedSnapshot(index, term, counting.Written);
        }
    }

    // One GET to one node, bounded by RequestTimeout; the caller disposes the answer.
    private async Task<HttpResponseMessage> SendOnceAsync(Uri endpoint, string path, CancellationToken cancellationToken)
    {
        var target = new Uri(BaseOf(Checked(endpoint)), path);
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(_options.RequestTimeout);
        try
        {
            return await _http.GetAsync(target, attempt.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RaftKvException(null, ErrorCodes.NodeUnreachable, $"{BaseOf(endpoint)} did not answer within {_options.RequestTimeout}", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new RaftKvException(null, ErrorCodes.NodeUnreachable, $"{BaseOf(endpoint)}: {ex.Message}", ex);
        }
    }

    // Counts the bytes on their way to a destination that may not say its own length (a pipe, stdout).
    private sealed class CountingCopy(Stream inner) : Stream
    {
        public long Written { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Written; set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Written += count;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            Written += buffer.Length;
        }
    }
}
