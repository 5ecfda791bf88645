using System.Diagnostics;
using System.Net.Http.Json;
using Raft.Protocol;
using Raft.Server.Launcher;

namespace Raft.Faults.Tests;

/// <summary>
/// Node processes, each in its own namespace of a <see cref="NetworkLab"/>, started as
/// <c>ip netns exec &lt;namespace&gt; dotnet Raft.Server.dll ...</c>. <c>ip netns exec</c> execs the node, so the
/// process id is the node's and kill -9, SIGSTOP and SIGCONT reach it. Every process it starts it kills, by id.
/// </summary>
internal sealed class FaultCluster : IDisposable
{
    public const int HttpPort = 8080;
    public const int PeerPort = 9090;
    private static readonly TimeSpan ExitPatience = TimeSpan.FromSeconds(10);

    private readonly Dictionary<int, Process> _processes = [];
    private readonly HashSet<int> _paused = [];
    private readonly string _directory;
    private readonly string _serverDll;
    private readonly Lock _gate = new();

    public FaultCluster(int size, string directory, NamespaceSockets sockets)
    {
        Size = size;
        _directory = directory;
        _serverDll = ServerDll;
        Http = new HttpClient(sockets.CreateHandler(TimeSpan.FromSeconds(1))) { Timeout = TimeSpan.FromSeconds(2) };
    }

    public int Size { get; }

    /// <summary>An HTTP client whose connections start in the clients' namespace.</summary>
    public HttpClient Http { get; }

    public static Uri Endpoint(int id) => new($"http://{NetworkLab.NodeAddress(id)}:{HttpPort}");

    public IReadOnlyDictionary<int, Uri> Endpoints => Enumerable.Range(1, Size).ToDictionary(id => id, Endpoint);

    public string LogPath(int id) => Path.Combine(_directory, $"node-{id}.log");

    public bool IsRunning(int id)
    {
        lock (_gate)
        {
            return _processes.TryGetValue(id, out var process) && !process.HasExited;
        }
    }

    public bool IsPaused(int id)
    {
        lock (_gate)
        {
            return _paused.Contains(id);
        }
    }

    public void StartAll()
    {
        for (var id = 1; id <= Size; id++)
        {
            Start(id);
        }
    }

    /// <summary>Starts node <paramref name="id"/> on its data directory (bootstrapping the cluster the first time).</summary>
    public void Start(int id)
    {
        var arguments = new List<string>
        {
            $"--Node:Id={id}",
            $"--Node:DataDirectory={Path.Combine(_directory, $"data-{id}")}",
            "--Node:ClusterState=new",
        };
        for (var j = 1; j <= Size; j++)
        {
            arguments.Add($"--Node:Peers:{j}={NetworkLab.NodeAddress(j)}:{PeerPort}");
            arguments.Add($"--Node:HttpEndpoints:{j}={Endpoint(j).ToString().TrimEnd('/')}");
        }

        var node = NodeProcess.StartInfo(arguments, _serverDll);
        var info = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var word in new[] { "netns", "exec", NetworkLab.NodeNamespace(id), node.FileName }.Concat(node.ArgumentList))
        {
            info.ArgumentList.Add(word);
        }

        var log = TextWriter.Synchronized(new StreamWriter(LogPath(id), append: true) { AutoFlush = true });
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start node {id}");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.Exited += (_, _) => log.Dispose();
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_gate)
        {
            if (_processes.Remove(id, out var old))
            {
                old.Dispose();
            }

            _processes[id] = process;
            _paused.Remove(id);
        }
    }

    /// <summary>kill -9, and waits for the process to be gone.</summary>
    public void Kill(int id)
    {
        Process process;
        lock (_gate)
        {
            process = _processes[id];
            _paused.Remove(id);
        }

        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit(ExitPatience);
        }
    }

    /// <summary>SIGSTOP: the node hangs with its sockets open.</summary>
    public void Pause(int id)
    {
        lock (_gate)
        {
            NodeProcess.Pause(_processes[id]);
            _paused.Add(id);
        }
    }

    /// <summary>SIGCONT.</summary>
    public void Resume(int id)
    {
        lock (_gate)
        {
            // A node killed while paused (by a teardown, say) has nothing left to resume.
            if (_paused.Remove(id) && !_processes[id].HasExited)
            {
                NodeProcess.Resume(_processes[id]);
            }
        }
    }

    /// <summary>This node's view of the cluster, or null when it does not answer in time.</summary>
    public async Task<ClusterStatusResponse?> StatusAsync(int id, CancellationToken cancellationToken)
    {
        try
        {
            return await Http.GetFromJsonAsync(new Uri(Endpoint(id), "/v1/cluster"), ProtocolJsonContext.Wire.ClusterStatusResponse, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>The node that calls itself leader in the highest term, among the running ones that answer; 0 for none.</summary>
    public async Task<int> LeaderAsync(CancellationToken cancellationToken)
    {
        var best = (Id: 0, Term: 0UL);
        foreach (var id in Enumerable.Range(1, Size).Where(i => IsRunning(i) && !IsPaused(i)))
        {
            if (await StatusAsync(id, cancellationToken) is { } status
                && string.Equals(status.Role, "leader", StringComparison.OrdinalIgnoreCase) && status.Term >= best.Term)
            {
                best = (id, status.Term);
            }
        }

        return best.Id;
    }

    /// <summary>Kills every node by its id; safe to call from a signal handler or more than once.</summary>
    public void KillAll()
    {
        List<Process> processes;
        lock (_gate)
        {
            processes = [.. _processes.Values];
        }

        foreach (var process in processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    process.WaitForExit(ExitPatience);
                }
            }
            catch (InvalidOperationException)
            {
                // It was never started or is already gone.
            }
        }
    }

    public void Dispose()
    {
        KillAll();
        lock (_gate)
        {
            foreach (var process in _processes.Values)
            {
                process.Dispose();
            }

            _processes.Clear();
        }

        Http.Dispose();
    }

    /// <summary>The server named by <c>RAFT_TEST_SERVER</c> (a dll or a native build), else the one built next to this project (same configuration).</summary>
    private static string ServerDll
    {
        get
        {
            if (Environment.GetEnvironmentVariable("RAFT_TEST_SERVER") is { Length: > 0 } named)
            {
                return File.Exists(named) ? Path.GetFullPath(named) : throw new FileNotFoundException("RAFT_TEST_SERVER names no file", named);
            }

            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Raft.sln")))
            {
                dir = dir.Parent;
            }

            var root = dir?.FullName ?? throw new InvalidOperationException("Raft.sln not found above the suite's directory");
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
            var path = Path.Combine(root, "src", "Raft.Server", "bin", configuration, "net10.0", "Raft.Server.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("build src/Raft.Server first", path);
        }
    }

    private static void Write(TextWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        try
        {
            log.WriteLine(line);
        }
        catch (ObjectDisposedException)
        {
            // The process exited while its last lines were in flight.
        }
    }
}
