using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Raft.KeyValue;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>
/// <c>GET /v1/watch?key=k|prefix=p&amp;fromIndex=N&amp;consistency=linearizable|stale</c>: every change to matching keys
/// after index N, in log order, as newline-delimited JSON (<see cref="WatchEventResponse"/>), one line per log entry
/// that changed a matching key, a progress line when there is nothing to say for <c>WatchProgressMs</c>, until the
/// client goes. Any node serves it, from its own history (<see cref="WatchHub"/>); <c>linearizable</c> (the default)
/// first confirms with the leader that this node has applied what was committed when the watch began.
/// </summary>
internal static class WatchApi
{
    private const int BatchMax = 256;

    private static readonly byte[] NewLine = "\n"u8.ToArray();

    public static void Map(IEndpointRouteBuilder routes) => routes.MapGet(ApiPaths.Watch, WatchAsync).Needs(ApiRole.Read);

    /// <summary>
    /// Reads <c>key</c> or <c>prefix</c> (exactly one; a prefix may be empty: every key), as the listing reads its
    /// prefix, and checks it against the caller's token.
    /// </summary>
    internal static IResult? ReadFilter(HttpContext context, NodeOptions options, out WatchFilter filter)
    {
        filter = default;
        if (ApiResults.ReadQueryName(context, "key", ErrorCodes.InvalidKey, out var key) is { } badKey)
        {
            return badKey;
        }

        if (ApiResults.ReadQueryName(context, "prefix", ErrorCodes.InvalidKey, out var prefix) is { } badPrefix)
        {
            return badPrefix;
        }

        if ((key is null) == (prefix is null))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidWatch, "a watch takes exactly one of key and prefix (prefix= watches every key)");
        }

        if (ApiResults.CheckKey(key ?? prefix, options.MaxKeyBytes, allowEmpty: prefix is not null) is { } invalid)
        {
            return invalid;
        }

        filter = new WatchFilter(key ?? prefix!, prefix is not null);
        return filter.IsPrefix ? ApiAccess.CheckPrefix(context, filter.Text) : ApiAccess.CheckName(context, filter.Text);
    }

    /// <summary>An index parameter: absent (null), or an unsigned integer.</summary>
    internal static IResult? ReadIndex(string? text, string name, out ulong? index)
    {
        index = null;
        if (text is null)
        {
            return null;
        }

        if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidWatch, $"{name} must be an integer in [0, {ulong.MaxValue}] (got '{text}')");
        }

        index = value;
        return null;
    }

    private static async Task<IResult> WatchAsync(HttpContext context, string? fromIndex, string? consistency, NodeLoop node, NodeOptions options, WatchHub hub, IHostApplicationLifetime lifetime)
    {
        if (ReadFilter(context, options, out var filter) is { } badFilter)
        {
            return badFilter;
        }

        if (ReadIndex(fromIndex, "fromIndex", out var from) is { } badFrom)
        {
            return badFrom;
        }

        if (!KvApi.TryParseConsistency(consistency, out var level) || level == ReadConsistency.Lease)
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidConsistency, $"a watch's consistency must be linearizable or stale (got '{consistency}')");
        }

        if (!hub.TryEnter())
        {
            return ApiResults.Error(StatusCodes.Status429TooManyRequests, ErrorCodes.TooManyWatchers, $"this node serves {options.WatchersMax} watches already; watch through another node, or share a watch");
        }

        try
        {
            // Linearizable: once this node has applied the leader's commit index as of now, what it streams is current.
            var start = hub.Published;
            if (level == ReadConsistency.Linearizable)
            {
                var barrier = await node.ListAsync(string.Empty, null, 0, level, context.RequestAborted).WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
                if (!barrier.Served)
                {
                    return ApiResults.FromReadFailure(context, barrier.Failure, barrier.LeaderId);
                }

                start = barrier.Value.AppliedIndex;
            }

            var after = from ?? start;
            if (!hub.TryOpen(after, out var position, out var oldest))
            {
                return ApiResults.Json(StatusCodes.Status410Gone, new ErrorBody(ErrorCodes.Compacted,
                    $"the changes after index {after} are no longer all kept on this node (it keeps those after {oldest}): read the keys again, then watch from the index of that read")
                { OldestIndex = oldest });
            }

            context.Response.ContentType = "application/x-ndjson";
            context.Response.Headers[ApiHeaders.Index] = after.ToString(CultureInfo.InvariantCulture);
            // The headers go at once: a watch may have nothing to send for a while, and its client waits for them.
            await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
            await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            // A node that stops ends its watches (the client goes on through another node) rather than hold up its stop.
            using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
            await StreamAsync(context, filter, after, position, options, hub, ending.Token).ConfigureAwait(false);
            return Results.Empty;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested || lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Results.Empty;
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("confirming the index with the leader");
        }
        finally
        {
            hub.Leave();
        }
    }

    // Until the client goes: each batch of published changes as one line per matching entry, a progress line after a
    // quiet WatchProgressMs, and a last line if the watch fell behind the history.
    private static async Task StreamAsync(HttpContext context, WatchFilter filter, ulong after, long position, NodeOptions options, WatchHub hub, CancellationToken aborted)
    {
        var body = context.Response.Body;
        var buffer = new ArrayBufferWriter<byte>();
        var changes = new List<WatchChange>();
        var matching = new List<WatchChange>();
        var progress = TimeSpan.FromMilliseconds(options.WatchProgressMs);
        var seen = after;
        var said = after;
        var quietSince = Stopwatch.GetTimestamp();
        while (!aborted.IsCancellationRequested)
        {
            changes.Clear();
            matching.Clear();
            buffer.ResetWrittenCount();
            if (!hub.Read(ref position, changes, BatchMax, out var published, out var next))
            {
                hub.CountDropped();
                Write(buffer, new WatchEventResponse(said, Error: ErrorCodes.WatchDropped,
                    Detail: $"this watch fell further behind than the node's history holds; watch again from index {said}"));
                await body.WriteAsync(buffer.WrittenMemory, aborted).ConfigureAwait(false);
                return;
            }

            // One line per entry: Select keeps an entry's changes together, in log order.
            filter.Select(changes, after, matching);
            for (var i = 0; i < matching.Count;)
            {
                var index = matching[i].Index;
                var line = new List<WatchChangeResponse>();
                for (; i < matching.Count && matching[i].Index == index; i++)
                {
                    var change = matching[i];
                    line.Add(change.Value is null
                        ? new WatchChangeResponse(change.Key, "delete")
                        : new WatchChangeResponse(change.Key, "put", change.Value, change.Version, change.CreateIndex, change.Lease == 0 ? null : change.Lease));
                }

                Write(buffer, new WatchEventResponse(index, line));
                said = index;
            }

            seen = Math.Max(seen, published);
            if (buffer.WrittenCount == 0 && Stopwatch.GetElapsedTime(quietSince) >= progress)
            {
                // Quiet for WatchProgressMs: say how far this watch has seen; it also tells the client the node is there.
                Write(buffer, new WatchEventResponse(Math.Max(seen, said)));
                said = Math.Max(seen, said);
            }

            if (buffer.WrittenCount > 0)
            {
                await body.WriteAsync(buffer.WrittenMemory, aborted).ConfigureAwait(false);
                await body.FlushAsync(aborted).ConfigureAwait(false);
                quietSince = Stopwatch.GetTimestamp();
                continue;
            }

            if (changes.Count == 0)
            {
                var wait = progress - Stopwatch.GetElapsedTime(quietSince);
                try
                {
                    await next.WaitAsync(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, aborted).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Time for a progress line, if there is progress to tell.
                }
            }
        }
    }

    private static void Write(ArrayBufferWriter<byte> buffer, WatchEventResponse line)
    {
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = ProtocolJsonContext.Wire.Options.Encoder }))
        {
            JsonSerializer.Serialize(writer, line, ProtocolJsonContext.Wire.WatchEventResponse);
        }

        buffer.Write(NewLine);
    }
}
