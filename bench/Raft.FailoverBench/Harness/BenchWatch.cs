using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text.Json;
using Raft.FailoverBench.Targets;
using Raft.Protocol;

namespace Raft.FailoverBench.Harness;

/// <summary>A write as a watch saw it or as its writer was answered: the log index it committed at and the number its key ends with.</summary>
internal readonly record struct WatchedWrite(ulong Index, ulong Write);

/// <summary>
/// One open watch (<c>GET /v1/watch?prefix=</c>) of the load mode, read by its own task, every line parsed as it arrives,
/// until <see cref="DisposeAsync"/> closes it. A busy watch records each change as a <see cref="WatchedWrite"/> (its key
/// is the prefix and a write number); an idle watch expects progress lines only. A change on an idle watch, a key that
/// is no write of the row, an error line (<c>watch_dropped</c>) and a stream that ends, breaks or says something unreadable
/// before it is closed are its <see cref="Failure"/>, and it reads no further. Only the reading task writes what the watch
/// saw; <see cref="SeenThrough"/> and <see cref="Failure"/> may be read at any time, the rest once it is closed.
/// </summary>
internal sealed class BenchWatch : IAsyncDisposable
{
    // The bench's lines carry one small write each: a longer line means a stream gone wrong, not one to buffer.
    private const int LineBytesMax = 64 * 1024;

    private readonly HttpResponseMessage _response;
    private readonly string _prefix;
    private readonly bool _busy;
    private readonly List<WatchedWrite> _seen = [];
    private readonly CancellationTokenSource _closing = new();
    private Task _reading = Task.CompletedTask;
    private long _seenThrough;
    private long _progressLines;
    private volatile string? _failure;
    private bool _closed;

    private BenchWatch(int number, int node, HttpResponseMessage response, string prefix, bool busy)
    {
        Number = number;
        Node = node;
        _response = response;
        _prefix = prefix;
        _busy = busy;
    }

    public int Number { get; }

    public int Node { get; }

    /// <summary>The highest index of a line received: the watch has been sent everything up to it.</summary>
    public ulong SeenThrough => (ulong)Volatile.Read(ref _seenThrough);

    /// <summary>Why the watch stopped reading before it was closed; null while it is fine.</summary>
    public string? Failure => _failure;

    /// <summary>Progress lines received (lines with an index and no change).</summary>
    public long ProgressLines => Volatile.Read(ref _progressLines);

    /// <summary>A busy watch's changes in the order they arrived; read it once the watch is closed.</summary>
    public IReadOnlyList<WatchedWrite> Seen => _closed ? _seen : throw new InvalidOperationException("read what a watch saw once it is closed");

    /// <summary>
    /// Opens the watch and returns once the node has sent its headers (the watch is in place from then on), reading.
    /// A watch the node refuses, or that is not open within <paramref name="timeout"/>, ends the run.
    /// </summary>
    public static async Task<BenchWatch> OpenAsync(
        HttpClient http, Uri uri, int number, int node, string prefix, bool busy, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BenchException($"watch {number} on node {node} was not open within {timeout.TotalSeconds:F0} s");
        }
        catch (HttpRequestException ex)
        {
            throw new BenchException($"watch {number} on node {node} could not be opened: {BenchHttp.Classify(ex)}", ex);
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            using (response)
            {
                throw new BenchException($"watch {number} on node {node} was refused: {(int)response.StatusCode} {await BodyAsync(response, deadline.Token).ConfigureAwait(false)}");
            }
        }

        var watch = new BenchWatch(number, node, response, prefix, busy);
        watch._reading = Task.Run(watch.ReadAsync, CancellationToken.None);
        return watch;
    }

    /// <summary>Closes the watch (the connection with it) and waits for its reader; what it saw stays readable. Once only.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closed)
        {
            return;
        }

        await _closing.CancelAsync().ConfigureAwait(false);
        await _reading.ConfigureAwait(false);
        _response.Dispose();
        _closing.Dispose();
        _closed = true;
    }

    /// <summary>The next whole line of <paramref name="buffer"/> (without its newline), consumed from it; false when none is whole yet.</summary>
    internal static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        if (buffer.PositionOf((byte)'\n') is not { } end)
        {
            line = default;
            return false;
        }

        line = buffer.Slice(0, end);
        buffer = buffer.Slice(buffer.GetPosition(1, end));
        return true;
    }

    private async Task ReadAsync()
    {
        var closing = _closing.Token;
        try
        {
            var body = await _response.Content.ReadAsStreamAsync(closing).ConfigureAwait(false);
            var reader = PipeReader.Create(body, new StreamPipeReaderOptions(leaveOpen: false));
            try
            {
                while (true)
                {
                    var read = await reader.ReadAsync(closing).ConfigureAwait(false);
                    var buffer = read.Buffer;
                    while (TryReadLine(ref buffer, out var line))
                    {
                        if (!Take(line))
                        {
                            return;
                        }
                    }

                    if (buffer.Length > LineBytesMax)
                    {
                        Fail($"a line longer than {LineBytesMax} bytes");
                        return;
                    }

                    if (read.IsCompleted)
                    {
                        Fail("the node ended the stream");
                        return;
                    }

                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
            }
            finally
            {
                await reader.CompleteAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (closing.IsCancellationRequested && ex is OperationCanceledException or IOException or HttpRequestException)
        {
            // Closed by DisposeAsync: the end of the row, not a failure.
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            Fail($"the stream broke: {ex.Message}");
        }
    }

    // One line: false when it ends the watch.
    private bool Take(ReadOnlySequence<byte> line)
    {
        WatchEventResponse? watchEvent;
        try
        {
            var json = new Utf8JsonReader(line);
            watchEvent = JsonSerializer.Deserialize(ref json, ProtocolJsonContext.Wire.WatchEventResponse);
        }
        catch (JsonException ex)
        {
            Fail($"an unreadable line: {ex.Message}");
            return false;
        }

        if (watchEvent is null)
        {
            Fail("a line of null");
            return false;
        }

        if (watchEvent.Error is not null)
        {
            Fail($"the node ended the watch at index {watchEvent.Index}: {watchEvent.Error} ({watchEvent.Detail})");
            return false;
        }

        if (watchEvent.Changes is not { Count: > 0 } changes)
        {
            Volatile.Write(ref _progressLines, _progressLines + 1);
            SawThrough(watchEvent.Index);
            return true;
        }

        foreach (var change in changes)
        {
            if (!_busy)
            {
                Fail($"a change ({change.Type} of {change.Key} at index {watchEvent.Index}) under a prefix nothing writes");
                return false;
            }

            if (change.Type != "put"
                || !change.Key.StartsWith(_prefix, StringComparison.Ordinal)
                || !ulong.TryParse(change.Key.AsSpan(_prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var write))
            {
                Fail($"a change that is no write of this row: {change.Type} of {change.Key} at index {watchEvent.Index}");
                return false;
            }

            _seen.Add(new WatchedWrite(watchEvent.Index, write));
        }

        SawThrough(watchEvent.Index);
        return true;
    }

    private void SawThrough(ulong index)
    {
        if (index > SeenThrough)
        {
            Volatile.Write(ref _seenThrough, (long)index);
        }
    }

    private void Fail(string reason) => _failure ??= reason;

    private static async Task<string> BodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            return string.Empty;
        }
    }
}
