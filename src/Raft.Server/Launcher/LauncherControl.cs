using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;

namespace Raft.Server.Launcher;

/// <summary>
/// The running launcher's control channel: a Unix domain socket, <c>launcher.sock</c> in the cluster's data directory,
/// through which <c>run-cluster restart N</c>, <c>run-cluster add</c> and <c>run-cluster remove N</c>, typed in another
/// terminal, ask it to start node N again, to add a new node to the cluster, or to remove node N from it.
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
/// Protocol, one exchange per connection: the client sends one request line and the launcher answers one line, then
/// closes: <c>restart ID</c> is answered <c>started PID ENDPOINT LOGPATH</c> once the node's process is started;
/// <c>add</c> is answered <c>added ID PID ENDPOINT PEER LOGPATH</c> once the new node's process is started;
/// <c>remove ID</c> is answered <c>removed SENTENCE</c> once the node is no longer a member and its process stopped;
/// any of them may be answered <c>refused SENTENCE</c>. For a start the launcher answers at once and the client then
/// waits for the node on its own (ready, or a voter), so the launcher serves one connection at a time and a slow
/// start never holds up another.
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
    private static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(60);

    private readonly Socket _listener;
    private readonly string _path;
    private readonly Func<LauncherRequest, CancellationToken, Task<string>> _handle;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private LauncherControl(Socket listener, string path, Func<LauncherRequest, CancellationToken, Task<string>> handle)
    {
        _listener = listener;
        _path = path;
        _handle = handle;
        _accepting = Task.Run(AcceptAsync);
    }

    public static string SocketPath(string dataDirectory) => Path.Combine(dataDirectory, SocketFileName);

    /// <summary>
    /// Listens on <paramref name="path"/>, handing each request to <paramref name="handle"/>, which gives the answer line; null, with the
    /// reason in <paramref name="unavailable"/>, where the socket cannot be made (a path too long for a socket address).
    /// Call only once <see cref="IsAnsweringAsync"/> has said no launcher answers there: a file left behind is replaced.
    /// </summary>
    public static LauncherControl? TryListen(string path, Func<LauncherRequest, CancellationToken, Task<string>> handle, out string? unavailable)
    {
        ArgumentNullException.ThrowIfNull(handle);
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

        return new LauncherControl(listener, path, handle);
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
        var (reached, answer) = await ExchangeAsync(path, new LauncherRequest(LauncherVerb.Restart, id), cancellationToken).ConfigureAwait(false);
        if (!reached)
        {
            return (false, answer);
        }

        if (!TryParseStarted(answer, out var pid, out var endpoint, out var logPath))
        {
            return (false, Refusal(answer));
        }

        return await WaitUntilReadyAsync(path, id, pid, endpoint, logPath, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The client side of <c>cluster add</c>: asks the launcher on <paramref name="path"/> to start a new node that joins
    /// the cluster, then waits until the node is a voter (it joins as a learner and asks to be promoted once caught up).
    /// </summary>
    public static async Task<(bool Ok, string Message)> AddAsync(string path, CancellationToken cancellationToken)
    {
        var (reached, answer) = await ExchangeAsync(path, new LauncherRequest(LauncherVerb.Add, 0), cancellationToken).ConfigureAwait(false);
        if (!reached)
        {
            return (false, answer);
        }

        var parts = answer.Split(' ', 6);
        if (parts.Length != 6 || parts[0] != "added" || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || !Uri.TryCreate(parts[3], UriKind.Absolute, out var endpoint))
        {
            return (false, Refusal(answer));
        }

        return await WaitUntilVoterAsync(path, id, pid, endpoint, parts[4], parts[5], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The client side of <c>cluster remove ID</c>: the launcher removes node <paramref name="id"/> from the members and stops it.</summary>
    public static async Task<(bool Ok, string Message)> RemoveAsync(string path, int id, CancellationToken cancellationToken)
    {
        var (reached, answer) = await ExchangeAsync(path, new LauncherRequest(LauncherVerb.Remove, id), cancellationToken).ConfigureAwait(false);
        return !reached ? (false, answer)
            : answer.StartsWith("removed ", StringComparison.Ordinal) ? (true, answer["removed ".Length..])
            : (false, Refusal(answer));
    }

    // Reached: the launcher answered (the answer line); otherwise why it could not be asked.
    private static async Task<(bool Reached, string Answer)> ExchangeAsync(string path, LauncherRequest request, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            return (false, $"no launcher is running on {Path.GetDirectoryName(path)}: there is no {path} (start the cluster first, or name its --data)");
        }

        if (!TryEndPoint(path, out var endPoint, out var unavailable))
        {
            return (false, unavailable!);
        }

        using var exchange = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        exchange.CancelAfter(ExchangeTimeout);
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(endPoint, exchange.Token).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request.Line + "\n"), exchange.Token).ConfigureAwait(false);
            return (true, await new StreamReader(stream, Encoding.UTF8).ReadLineAsync(exchange.Token).ConfigureAwait(false) ?? "refused the launcher closed the connection without an answer");
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

    private static string Refusal(string answer) =>
        answer.StartsWith("refused ", StringComparison.Ordinal) ? answer["refused ".Length..] : $"unexpected answer from the launcher: {answer}";

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        _stop.Dispose();
        File.Delete(_path);
    }

    private static async Task<(bool Ok, string Message)> WaitUntilReadyAsync(string path, int id, int pid, Uri endpoint, string logPath, CancellationToken cancellationToken) =>
        await PollNodeAsync(path, pid, new Uri(endpoint, "/health/ready"), ReadyTimeout, (response, _) => Task.FromResult(response.StatusCode == HttpStatusCode.OK), cancellationToken).ConfigureAwait(false) switch
        {
            Polled.Done => (true, $"node {id} started again (pid {pid}) and is ready"),
            Polled.Exited => (false, $"node {id} started again (pid {pid}) but exited; see its log {logPath}"),
            _ => (false, $"node {id} started again (pid {pid}) but is not ready after {ReadyTimeout.TotalSeconds:F0} s: a node is ready once it knows a leader, " +
                $"so a majority of the nodes must be running; see its log {logPath}"),
        };

    private static async Task<(bool Ok, string Message)> WaitUntilVoterAsync(string path, int id, int pid, Uri endpoint, string peer, string logPath, CancellationToken cancellationToken) =>
        await PollNodeAsync(path, pid, new Uri(endpoint, "/v1/cluster/members"), JoinTimeout, async (response, token) =>
            response.StatusCode == HttpStatusCode.OK
            && (await response.Content.ReadFromJsonAsync(Protocol.ProtocolJsonContext.Wire.MembersResponse, token).ConfigureAwait(false))?.Members.Any(m => m.Id == id && m.Voter) == true,
            cancellationToken).ConfigureAwait(false) switch
        {
            Polled.Done => (true, $"node {id} joined as a learner, caught up and votes: {endpoint.ToString().TrimEnd('/')}  peers {peer}  pid {pid}  log {logPath}"),
            Polled.Exited => (false, $"node {id} started (pid {pid}) but exited; see its log {logPath}"),
            _ => (false, $"node {id} started (pid {pid}) but is not a voter after {JoinTimeout.TotalSeconds:F0} s; see its log {logPath}"),
        };

    private enum Polled
    {
        Done,
        Exited,
        TimedOut,
    }

    // Asks uri of the node with process pid until done says so, the process exits, or the time limit passes. The
    // launcher's socket path names its data directory, where a cluster started with --tls keeps the CA to trust.
    private static async Task<Polled> PollNodeAsync(string path, int pid, Uri uri, TimeSpan limit, Func<HttpResponseMessage, CancellationToken, Task<bool>> done, CancellationToken cancellationToken)
    {
        using var http = ClusterTls.CreateClient(ClusterTls.DirectoryOf(Path.GetDirectoryName(path)!), TimeSpan.FromSeconds(2));
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < limit)
        {
            if (!IsRunning(pid))
            {
                return Polled.Exited;
            }

            try
            {
                using var response = await http.GetAsync(uri, cancellationToken).ConfigureAwait(false);
                if (await done(response, cancellationToken).ConfigureAwait(false))
                {
                    return Polled.Done;
                }
            }
            catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // Not listening yet, or too busy starting to answer in time.
            }

            await Task.Delay(ReadyPollInterval, cancellationToken).ConfigureAwait(false);
        }

        return Polled.TimedOut;
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

            var answer = LauncherRequest.TryParse(request, out var parsed)
                ? await _handle(parsed, exchange.Token).ConfigureAwait(false)
                : $"refused unknown request '{request}'; the launcher understands 'restart ID', 'add' and 'remove ID'";
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

    /// <summary>The answer line to a restart.</summary>
    public static string Format(RestartOutcome outcome) => outcome.Refusal is { } refusal
        ? $"refused {refusal}"
        : string.Create(CultureInfo.InvariantCulture, $"started {outcome.Pid} {outcome.Endpoint} {outcome.LogPath}");
}

/// <summary>What a request through the control socket asks of the launcher.</summary>
public enum LauncherVerb
{
    Restart,
    Add,
    Remove,
}

/// <summary>One request through the control socket; <see cref="Id"/> is the node (0 for <see cref="LauncherVerb.Add"/>).</summary>
public readonly record struct LauncherRequest(LauncherVerb Verb, int Id)
{
    public string Line => Verb switch
    {
        LauncherVerb.Add => "add",
        LauncherVerb.Remove => string.Create(CultureInfo.InvariantCulture, $"remove {Id}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"restart {Id}"),
    };

    public static bool TryParse(string line, out LauncherRequest request)
    {
        ArgumentNullException.ThrowIfNull(line);
        request = default;
        if (line == "add")
        {
            request = new LauncherRequest(LauncherVerb.Add, 0);
            return true;
        }

        foreach (var (word, verb) in new[] { ("restart ", LauncherVerb.Restart), ("remove ", LauncherVerb.Remove) })
        {
            if (line.StartsWith(word, StringComparison.Ordinal)
                && int.TryParse(line.AsSpan(word.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                request = new LauncherRequest(verb, id);
                return true;
            }
        }

        return false;
    }
}

/// <summary>What the launcher did with a restart request: started the node (its pid, HTTP endpoint and log), or refused, saying why.</summary>
public readonly record struct RestartOutcome(int Pid, Uri? Endpoint, string? LogPath, string? Refusal)
{
    public static RestartOutcome Started(int pid, Uri endpoint, string logPath) => new(pid, endpoint, logPath, null);

    public static RestartOutcome Refused(string why) => new(0, null, null, why);
}
