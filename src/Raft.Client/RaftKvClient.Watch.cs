using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Raft.Protocol;

namespace Raft.Client;

/// <summary>One key's change, as a watch delivers it.</summary>
/// <param name="Index">The log index of the entry that made it (a transaction's changes share one).</param>
/// <param name="Key">The key.</param>
/// <param name="Deleted">The key was deleted; otherwise it was put.</param>
/// <param name="Value">A put's value; null for a delete.</param>
/// <param name="Version">A put's new version; 0 for a delete.</param>
/// <param name="CreateIndex">A put's create index; 0 for a delete.</param>
public sealed record WatchEvent(ulong Index, string Key, bool Deleted, byte[]? Value, ulong Version, ulong CreateIndex)
{
    /// <summary>The lease a put bound the key to; 0 for none and for a delete.</summary>
    public ulong Lease { get; init; }

    /// <summary>A put's value decoded as UTF-8; null for a delete.</summary>
    public string? ValueAsString() => Value is null ? null : System.Text.Encoding.UTF8.GetString(Value);
}

/// <summary>A watch asked to start before the oldest change the node still keeps: read the keys again, then watch from that read's index.</summary>
public sealed class WatchCompactedException(string detail, ulong oldestIndex)
    : RaftKvException(HttpStatusCode.Gone, ErrorCodes.Compacted, detail)
{
    /// <summary>The lowest index a watch may start from now.</summary>
    public ulong OldestIndex { get; } = oldestIndex;
}

public sealed partial class RaftKvClient
{
    /// <summary>
    /// Every change to keys under <paramref name="prefix"/> after index <paramref name="fromIndex"/> (from now when
    /// null), in log order, until cancelled. A broken connection, a node that stops or falls silent, or a watch the node
    /// ended is resumed on the next node from the last index seen, so no change is lost or delivered twice.
    /// </summary>
    /// <param name="prefix">The prefix; empty watches every key.</param>
    /// <param name="fromIndex">Deliver changes after this index; null: after the index the first node has applied.</param>
    /// <param name="cancellationToken">Ends the watch.</param>
    /// <exception cref="WatchCompactedException">The changes after the index to resume from are no longer kept.</exception>
    public IAsyncEnumerable<WatchEvent> WatchPrefixAsync(string prefix, ulong? fromIndex = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        return WatchCoreAsync("prefix=" + ResourceName.Escape(prefix), fromIndex, cancellationToken);
    }

    /// <summary>Every change to <paramref name="key"/> after <paramref name="fromIndex"/>, as <see cref="WatchPrefixAsync"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="fromIndex">Deliver changes after this index; null: from now.</param>
    /// <param name="cancellationToken">Ends the watch.</param>
    public IAsyncEnumerable<WatchEvent> WatchKeyAsync(string key, ulong? fromIndex = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return WatchCoreAsync("key=" + ResourceName.Escape(key), fromIndex, cancellationToken);
    }

    private async IAsyncEnumerable<WatchEvent> WatchCoreAsync(string filter, ulong? fromIndex, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var after = fromIndex;
        var failures = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var endpoint = CurrentEndpoint();
            var opened = await OpenWatchAsync(endpoint, filter, after, cancellationToken).ConfigureAwait(false);
            if (opened is not { } stream)
            {
                ForgetEndpoint(endpoint);
                await WatchBackoffAsync(failures++, cancellationToken).ConfigureAwait(false);
                continue;
            }

            using (stream.Response)
            using (stream.Reader)
            {
                after ??= stream.StartIndex;
                while (true)
                {
                    var line = await ReadWatchLineAsync(stream.Reader, cancellationToken).ConfigureAwait(false);
                    if (line is null)
                    {
                        // Ended, broken or silent: go on from the last index seen, on the next node.
                        ForgetEndpoint(endpoint);
                        break;
                    }

                    failures = 0;
                    if (line.Error is not null)
                    {
                        break;
                    }

                    foreach (var change in line.Changes ?? [])
                    {
                        var deleted = change.Type == "delete";
                        yield return new WatchEvent(line.Index, change.Key ?? string.Empty, deleted, deleted ? null : change.Value ?? [], change.Version ?? 0, change.CreateIndex ?? 0) { Lease = change.Lease ?? 0 };
                    }

                    after = Math.Max(after ?? 0, line.Index);
                }
            }
        }
    }

    private readonly record struct WatchStream(HttpResponseMessage Response, StreamReader Reader, ulong StartIndex);

    // The stream of a watch from one node, or null when that node could not serve it now (the caller tries the next).
    private async Task<WatchStream?> OpenWatchAsync(Uri endpoint, string filter, ulong? after, CancellationToken cancellationToken)
    {
        var query = after is { } index ? $"{filter}&fromIndex={index.ToString(CultureInfo.InvariantCulture)}" : filter;
        HttpResponseMessage? response = null;
        try
        {
            using var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connecting.CancelAfter(_options.RequestTimeout);
            response = await _http.GetAsync(new Uri(endpoint, $"{ApiPaths.Watch}?{query}"), HttpCompletionOption.ResponseHeadersRead, connecting.Token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.Gone)
            {
                var error = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
                throw new WatchCompactedException(error?.Detail ?? "the changes to resume from are no longer kept", error?.OldestIndex ?? 0);
            }

            if ((int)response.StatusCode is >= 400 and < 500 and not 429)
            {
                throw ErrorFrom(response.StatusCode, await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false));
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                response.Dispose();
                return null;
            }

            var start = HeaderNumber(response, ApiHeaders.Index);
            var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), System.Text.Encoding.UTF8);
            return new WatchStream(response, reader, start);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            response?.Dispose();
            return null;
        }
    }

    // The next line, or null when the stream ended, broke or said nothing for WatchIdleTimeout (a node sends progress
    // lines while quiet, so silence means it is gone or cut off).
    private async Task<WatchEventResponse?> ReadWatchLineAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        idle.CancelAfter(_options.WatchIdleTimeout);
        try
        {
            var text = await reader.ReadLineAsync(idle.Token).ConfigureAwait(false);
            return text is null ? null : JsonSerializer.Deserialize(text, ProtocolJsonContext.Wire.WatchEventResponse);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or JsonException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    private Task WatchBackoffAsync(int failures, CancellationToken cancellationToken)
    {
        var ceiling = Math.Min(_options.BackoffMax.Ticks, _options.BackoffBase.Ticks << Math.Min(failures, 20));
        return Task.Delay(TimeSpan.FromTicks((long)(ceiling * (0.5 + (Random.Shared.NextDouble() / 2)))), _time, cancellationToken);
    }
}
