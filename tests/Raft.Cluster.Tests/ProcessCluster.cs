using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Raft.Server.Launcher;

namespace Raft.Cluster.Tests;

/// <summary>
/// Real node processes on 127.0.0.1 with ports the operating system handed out, each with its own data directory.
/// Every process it starts it kills, by id, when disposed.
/// </summary>
internal sealed class ProcessCluster : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly Dictionary<int, Process> _processes = [];
    private readonly Dictionary<int, List<string>> _logs = [];
    private readonly IReadOnlyList<string> _extraArguments;

    public ProcessCluster(int size, params string[] extraArguments)
    {
        Size = size;
        _extraArguments = extraArguments;
        DataDirectory = Path.Combine(Path.GetTempPath(), $"raft-cluster-{Guid.NewGuid():N}");
        Directory.CreateDirectory(DataDirectory);
        var ports = FreePorts(2 * size);
        for (var id = 1; id <= size; id++)
        {
            HttpPorts[id] = ports[id - 1];
            PeerPorts[id] = ports[size + id - 1];
        }

        Http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
    }

    public int Size { get; }

    /// <summary>
    /// The nodes that bootstrap the cluster (1 to this; all by default). A node above it starts on an empty data directory
    /// and joins through them as a learner, promoted once caught up (<c>--Node:Join</c>, <c>--Node:AutoPromote</c>).
    /// </summary>
    public int Voters { get; init; }

    private int BootstrapVoters => Voters == 0 ? Size : Voters;

    public string DataDirectory { get; }

    public Dictionary<int, int> HttpPorts { get; } = [];

    public Dictionary<int, int> PeerPorts { get; } = [];

    public HttpClient Http { get; }

    public Uri Endpoint(int id) => new($"http://127.0.0.1:{HttpPorts[id]}");

    public Uri Url(int id, string pathAndQuery) => new(Endpoint(id), pathAndQuery);

    public bool IsRunning(int id) => _processes.TryGetValue(id, out var p) && !p.HasExited;

    public void StartAll()
    {
        for (var id = 1; id <= BootstrapVoters; id++)
        {
            Start(id);
        }
    }

    public void Start(int id, params string[] moreArguments)
    {
        var info = NodeProcess.StartInfo([], ServerDll);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.ArgumentList.Add($"--Node:Id={id}");
        info.ArgumentList.Add($"--Node:DataDirectory={Path.Combine(DataDirectory, $"node-{id}")}");
        if (id <= BootstrapVoters)
        {
            for (var j = 1; j <= BootstrapVoters; j++)
            {
                info.ArgumentList.Add($"--Node:Peers:{j}=127.0.0.1:{PeerPorts[j]}");
                info.ArgumentList.Add($"--Node:HttpEndpoints:{j}=http://127.0.0.1:{HttpPorts[j]}");
            }

            info.ArgumentList.Add("--Node:ClusterState=new");
        }
        else
        {
            info.ArgumentList.Add($"--Node:Peers:{id}=127.0.0.1:{PeerPorts[id]}");
            info.ArgumentList.Add($"--Node:HttpEndpoints:{id}=http://127.0.0.1:{HttpPorts[id]}");
            info.ArgumentList.Add($"--Node:Join={string.Join(',', Enumerable.Range(1, BootstrapVoters).Select(j => Endpoint(j).ToString().TrimEnd('/')))}");
            info.ArgumentList.Add("--Node:AutoPromote=true");
        }

        foreach (var argument in _extraArguments.Concat(moreArguments))
        {
            info.ArgumentList.Add(argument);
        }

        var log = _logs.TryGetValue(id, out var existing) ? existing : _logs[id] = [];
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start a node");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.Add(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.Add(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes[id] = process;
    }

    /// <summary>kill -9.</summary>
    public async Task KillAsync(int id)
    {
        var process = _processes[id];
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync().WaitAsync(Patience);
    }

    /// <summary>
    /// Polls /v1/cluster until a majority of running nodes name the same leader, which has raised the cluster version
    /// to what it supports (the entry that does so comes right after the first election).
    /// </summary>
    public async Task<int> WaitForLeaderAsync(TimeSpan? timeout = null, int? notThis = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Patience);
        while (DateTime.UtcNow < deadline)
        {
            var votes = new Dictionary<int, int>();
            foreach (var id in _processes.Keys.Where(IsRunning))
            {
                var leader = await TryGetLeaderAsync(id);
                if (leader is > 0)
                {
                    votes[leader.Value] = votes.GetValueOrDefault(leader.Value) + 1;
                }
            }

            foreach (var (leader, count) in votes)
            {
                // A majority can still name a leader that has just stepped down: ask the node itself as well.
                if (count > Size / 2 && leader != notThis && IsRunning(leader) && await ClaimsLeadershipAsync(leader))
                {
                    return leader;
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"no leader within {(timeout ?? Patience).TotalSeconds} s\n{Logs()}");
    }

    private async Task<bool> ClaimsLeadershipAsync(int id)
    {
        try
        {
            using var doc = await GetClusterAsync(id);
            return doc.RootElement.TryGetProperty("role", out var role)
                && string.Equals(role.GetString(), "leader", StringComparison.OrdinalIgnoreCase)
                && doc.RootElement.GetProperty("clusterVersion").GetInt32() >= doc.RootElement.GetProperty("supportsVersion").GetInt32();
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }

    public async Task<int?> TryGetLeaderAsync(int id)
    {
        try
        {
            using var doc = await GetClusterAsync(id);
            return doc.RootElement.TryGetProperty("leaderId", out var l) && l.TryGetInt32(out var v) ? v : null;
        }
        catch (HttpRequestException)
        {
            return null;
        }
        catch (TaskCanceledException)
        {
            return null;
        }
    }

    public async Task<JsonDocument> GetClusterAsync(int id)
    {
        using var response = await Http.GetAsync(Url(id, "/v1/cluster"));
        response.EnsureSuccessStatusCode();
        return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
    }

    /// <summary>Retries a request until it gets an answer other than a connection failure or 503, within <paramref name="timeout"/>.</summary>
    public async Task<HttpResponseMessage> SendUntilAnsweredAsync(Func<HttpRequestMessage> request, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Patience);
        while (true)
        {
            try
            {
                var response = await Http.SendAsync(request());
                if (response.StatusCode != HttpStatusCode.ServiceUnavailable || DateTime.UtcNow > deadline)
                {
                    return response;
                }

                response.Dispose();
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            catch (TaskCanceledException) when (DateTime.UtcNow < deadline)
            {
            }

            await Task.Delay(20);
        }
    }

    public string Logs()
    {
        var lines = new List<string>();
        foreach (var (id, log) in _logs)
        {
            lock (log)
            {
                lines.AddRange(log.TakeLast(30).Select(l => $"[node {id}] {l}"));
            }
        }

        return string.Join('\n', lines);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes.Values)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().WaitAsync(Patience);
                }
            }
            finally
            {
                process.Dispose();
            }
        }

        Http.Dispose();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A node's file may still be closing; the directory is under the temp folder.
        }
    }

    /// <summary>The checkout this test runs from: the directory above the test's binaries that holds Raft.sln.</summary>
    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Raft.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Raft.sln not found above the test directory");
        }
    }

    /// <summary>
    /// The server the tests run: the one named by <c>RAFT_TEST_SERVER</c> (a Raft.Server.dll, or a native Raft.Server
    /// from <c>dotnet publish src/Raft.Server -c Release -r linux-x64 -p:PublishAot=true</c>), else the one built next
    /// to this test project (same configuration).
    /// </summary>
    public static string ServerDll
    {
        get
        {
            if (Environment.GetEnvironmentVariable("RAFT_TEST_SERVER") is { Length: > 0 } named)
            {
                return File.Exists(named) ? Path.GetFullPath(named) : throw new FileNotFoundException("RAFT_TEST_SERVER names no file", named);
            }

            var here = AppContext.BaseDirectory;
            var configuration = here.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
            var path = Path.Combine(RepositoryRoot, "src", "Raft.Server", "bin", configuration, "net10.0", "Raft.Server.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("build src/Raft.Server first", path);
        }
    }

    /// <summary>The server as a shell runs it: <c>dotnet</c> and the dll, or the native executable alone.</summary>
    public static string ServerCommand => NodeProcess.IsManagedAssembly(ServerDll) ? $"dotnet {ServerDll}" : ServerDll;

    /// <summary>
    /// The first of <paramref name="count"/> consecutive ports below the ephemeral range that are all free right now,
    /// for the launcher, which numbers its ports from a base. Where the search starts depends on this process's id,
    /// so parallel runs look in different places.
    /// </summary>
    public static int FreeConsecutivePorts(int count)
    {
        lock (PortGate)
        {
            for (var attempt = 0; attempt < 2_000; attempt++)
            {
                if (_nextPort + count > 32_000)
                {
                    _nextPort = 20_000;
                }

                var first = _nextPort;
                _nextPort += count;
                var listeners = new List<TcpListener>();
                try
                {
                    for (var port = first; port < first + count; port++)
                    {
                        var listener = new TcpListener(IPAddress.Loopback, port);
                        listeners.Add(listener);
                        listener.Start();
                    }

                    return first;
                }
                catch (SocketException)
                {
                    // One of them is taken: try the next run.
                }
                finally
                {
                    foreach (var listener in listeners)
                    {
                        listener.Stop();
                    }
                }
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free ports found");
    }

    // Listening ports come from below the kernel's ephemeral range (32768 and up on Linux), so a port handed out
    // here is never taken in the meantime by an outgoing connection of another node or test. Each test process
    // starts at its own place; within a process a cursor never hands out the same port twice.
    private static readonly Lock PortGate = new();
    private static int _nextPort = 20_000 + ((Environment.ProcessId % 400) * 20);

    /// <summary>Ports that are free right now and that no other caller in this process has been given.</summary>
    public static int[] FreePorts(int count)
    {
        var ports = new int[count];
        lock (PortGate)
        {
            for (var i = 0; i < count; i++)
            {
                ports[i] = NextFreePort();
            }
        }

        return ports;
    }

    private static int NextFreePort()
    {
        for (var attempt = 0; attempt < 12_000; attempt++)
        {
            var port = _nextPort;
            _nextPort = _nextPort >= 31_999 ? 20_000 : _nextPort + 1;
            var listener = new TcpListener(IPAddress.Loopback, port);
            try
            {
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // In use: try the next one.
            }
            finally
            {
                listener.Stop();
            }
        }

        throw new InvalidOperationException("no free port between 20000 and 32000");
    }
}
