using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Raft.Server.Launcher;

/// <summary>
/// The running launcher's control channel: a Unix domain socket, <c>launcher.sock</c> in the cluster's data directory,
/// through which <c>run-cluster restart N</c>, typed in another terminal, asks it to start node N again.
/// </summary>
/// <remarks>
/// <para>
/// Why a socket file in the data directory. The launcher's own terminal is taken by its output, and it may run in the
/// background or under a test with no terminal at all, so reading commands from stdin would not reach it. A signal
/// carries no node id and does not exist on Windows. A TCP port would have to be picked, written down and found again,
/// and any local user could connect to it. The socket is found through the data directory the user already names
/// (<c>--data</c>, ./data by default), only its owner may connect (mode 0600 on Unix), .NET supports it on Linux, macOS and
/// Windows 10 and later (so run-cluster.ps1 works the same way), and a second launcher can tell a live one from a file
/// left by a killed one before it wipes the directory with <c>--clean</c>.
/// </para>
/// <para>
/// Protocol, one exchange per connection: the client sends <c>restart ID\n</c>; the launcher answers one line,
/// <c>started PID ENDPOINT LOGPATH\n</c> once the node's process is started, or <c>refused SENTENCE\n</c>, and closes.
/// The launcher answers at once; the client then waits for the node to become ready on its own, so the launcher serves
/// one connection at a time and a slow restart never holds up another.
/// </para>
/// </remarks>
public sealed class LauncherControl : IAsyncDisposable
{
    public const string SocketFileName = "launcher.sock";

    private const int RequestBytesMax = 64;
    private const int Backlog = 16;
    private static readonly TimeSpan ExchangeTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ReadyPollInterval = TimeSpan.FromMilliseconds(100);

    private readonly Socket _listener;
    private readonly string _path;
    private readonly Func<int, CancellationToken, Task<RestartOutcome>> _restart;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private LauncherControl(Socket listener, string path, Func<int, CancellationToken, Task<RestartOutcome>> restart)
    {
        _listener = listener;
        _path = path;
        _restart = restart;
        _accepting = Task.Run(AcceptAsync);
    }

    public static string SocketPath(string dataDirectory) => Path.Combine(dataDirectory, SocketFileName);

    /// <summary>
    /// Listens on <paramref name="path"/>, handing each restart request to <paramref name="restart"/>; null, with the
    /// reason in <paramref name="unavailable"/>, where the socket cannot be made (a path too long for a socket address).
    /// Call only once <see cref="IsAnsweringAsync"/> has said no launcher answers there: a file left behind is replaced.
    /// </summary>
    public static LauncherControl? TryListen(string path, Func<int, CancellationToken, Task<RestartOutcome>> restart, out string? unavailable)
    {
        ArgumentNullException.ThrowIfNull(restart);
        if (!TryEndPoint(path, out var endPoint, out unavailable))
        {
            return null;
        }

        File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(endPoint);

            // Before Listen, so no connection is accepted while the file still has the umask's mode.
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            listener.Listen(Backlog);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            unavailable = $"could not listen on {path}: {e.Message}";
            return null;
        }

        return new LauncherControl(listener, path, restart);
    }

    /// <summary>Whether a launcher listens on <paramref name="path"/> (a file there that refuses connections was left by a killed one).</summary>
    public static async Task<bool> IsAnsweringAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path) || !TryEndPoint(path, out var endPoint, out _))
        {
            return false;
        }

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Something holds the socket without accepting: treat it as a live launcher rather than wipe its data.
            return true;
        }
    }

    /// <summary>
    /// The client side of <c>cluster restart ID</c>: asks the launcher listening on <paramref name="path"/> to start node
    /// <paramref name="id"/> again, then waits until the node is ready (<c>/health/ready</c>: it knows a leader and has
    /// applied what it committed). Returns whether it is, and the sentence to show the user.
    /// </summary>
    public static async Task<(bool Ok, string Message)> RestartAsync(string path, int id, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            return (false, $"no launcher is running on {Path.GetDirectoryName(path)}: there is no {path} (start the cluster first, or name its --data)");
        }

        if (!TryEndPoint(path, out var endPoint, out var unavailable))
        {
            return (false, unavailable!);
        }

        string answer;
        using (var exchange = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            exchange.CancelAfter(ExchangeTimeout);
            try
            {
                using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(endPoint, exchange.Token).ConfigureAwait(false);
                await using var stream = new NetworkStream(socket, ownsSocket: false);
                await stream.WriteAsync(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"restart {id}\n")), exchange.Token).ConfigureAwait(false);
                answer = await new StreamReader(stream, Encoding.UTF8).ReadLineAsync(exchange.Token).ConfigureAwait(false) ?? "refused the launcher closed the connection without an answer";
            }
            catch (SocketException e)
            {
                return (false, $"no launcher answers on {path} ({e.Message}): it was stopped or killed; start the cluster again");
            }
            catch (IOException e)
            {
                return (false, $"the launcher on {path} did not answer: {e.Message}");
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return (false, $"the launcher on {path} did not answer within {ExchangeTimeout.TotalSeconds:F0} s");
            }
        }

        if (!TryParseStarted(answer, out var pid, out var endpoint, out var logPath))
        {
            return (false, answer.StartsWith("refused ", StringComparison.Ordinal) ? answer["refused ".Length..] : $"unexpected answer from the launcher: {answer}");
        }

        return await WaitUntilReadyAsync(id, pid, endpoint, logPath, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        _stop.Dispose();
        File.Delete(_path);
    }

    private static async Task<(bool Ok, string Message)> WaitUntilReadyAsync(int id, int pid, Uri endpoint, string logPath, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var ready = new Uri(endpoint, "/health/ready");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < ReadyTimeout)
        {
            if (!IsRunning(pid))
            {
                return (false, $"node {id} started again (pid {pid}) but exited; see its log {logPath}");
            }

            try
            {
                using var response = await http.GetAsync(ready, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return (true, $"node {id} started again (pid {pid}) and is ready");
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Starting up too slowly to answer in time.
            }

            await Task.Delay(ReadyPollInterval, cancellationToken).ConfigureAwait(false);
        }

        return (false, $"node {id} started again (pid {pid}) but is not ready after {ReadyTimeout.TotalSeconds:F0} s: a node is ready once it knows a leader, " +
            $"so a majority of the nodes must be running; see its log {logPath}");
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool TryEndPoint(string path, out UnixDomainSocketEndPoint endPoint, out string? unavailable)
    {
        try
        {
            endPoint = new UnixDomainSocketEndPoint(path);
            unavailable = null;
            return true;
        }
        catch (ArgumentOutOfRangeException)
        {
            endPoint = null!;
            unavailable = $"the control socket's path {path} is longer than a socket address allows; choose a shorter --data";
            return false;
        }
    }

    private static bool TryParseStarted(string answer, out int pid, out Uri endpoint, out string logPath)
    {
        var parts = answer.Split(' ', 4);
        pid = 0;
        endpoint = null!;
        logPath = "";
        if (parts.Length != 4 || parts[0] != "started" || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out pid)
            || !Uri.TryCreate(parts[2], UriKind.Absolute, out var uri))
        {
            return false;
        }

        endpoint = uri;
        logPath = parts[3];
        return true;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && _stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                // A connection that failed before it was accepted (aborted by its client); the listener is fine.
                continue;
            }

            using (client)
            {
                await ServeAsync(client).ConfigureAwait(false);
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var exchange = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        exchange.CancelAfter(ExchangeTimeout);
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: false);
            var request = await ReadRequestAsync(stream, exchange.Token).ConfigureAwait(false);
            if (request is null)
            {
                return;
            }

            var answer = TryParseRestart(request, out var id)
                ? Format(await _restart(id, exchange.Token).ConfigureAwait(false))
                : $"refused unknown request '{request}'; the launcher understands 'restart ID'";
            await stream.WriteAsync(Encoding.UTF8.GetBytes(answer + "\n"), exchange.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopping: the client sees the connection close without an answer.
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException)
        {
            // A client that went away or never finished its request; the next one is served.
        }
    }

    /// <summary>The request line without its newline; null if the client closed first or sent more than a request can be.</summary>
    private static async Task<string?> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[RequestBytesMax];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return null;
            }

            length += read;
            var newline = Array.IndexOf(buffer, (byte)'\n', 0, length);
            if (newline >= 0)
            {
                return Encoding.UTF8.GetString(buffer, 0, newline);
            }
        }

        return null;
    }

    private static bool TryParseRestart(string request, out int id)
    {
        id = 0;
        return request.StartsWith("restart ", StringComparison.Ordinal)
            && int.TryParse(request.AsSpan("restart ".Length), NumberStyles.None, CultureInfo.InvariantCulture, out id);
    }

    private static string Format(RestartOutcome outcome) => outcome.Refusal is { } refusal
        ? $"refused {refusal}"
        : string.Create(CultureInfo.InvariantCulture, $"started {outcome.Pid} {outcome.Endpoint} {outcome.LogPath}");
}

/// <summary>What the launcher did with a restart request: started the node (its pid, HTTP endpoint and log), or refused, saying why.</summary>
public readonly record struct RestartOutcome(int Pid, Uri? Endpoint, string? LogPath, string? Refusal)
{
    public static RestartOutcome Started(int pid, Uri endpoint, string logPath) => new(pid, endpoint, logPath, null);

    public static RestartOutcome Refused(string why) => new(0, null, null, why);
}
