using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Raft.Storage;

namespace Raft.Server.Tests;

/// <summary>
/// Three (or N) nodes in this process: real Kestrel servers on free 127.0.0.1 ports, the in-memory network between
/// them, and data directories under a temporary folder that outlive a restart of the cluster.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(15);

    private readonly string _root;
    private readonly int[] _httpPorts;
    private readonly Func<int, string[]> _extraArgs;
    private readonly WebApplication?[] _apps;
    private readonly HttpClient[] _clients;
    private readonly bool _tcp;
    private readonly int[] _peerPorts;
    private readonly int _voters;
    private readonly Func<int, IDiskIo?> _diskIo;

    private TestCluster(int size, Func<int, string[]> extraArgs, bool tcp, int voters, Func<int, IDiskIo?> diskIo)
    {
        _diskIo = diskIo;
        _tcp = tcp;
        _voters = voters;
        _peerPorts = tcp ? FreePorts(size) : [.. Enumerable.Range(7001, size)];
        _root = Path.Combine(Path.GetTempPath(), "raft-server-tests", Guid.NewGuid().ToString("N"));
        _httpPorts = FreePorts(size);
        _extraArgs = extraArgs;
        _apps = new WebApplication?[size];
        _clients = new HttpClient[size];
        for (var i = 0; i < size; i++)
        {
            _clients[i] = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false })
            {
                BaseAddress = new Uri(HttpUrl(i + 1)),
                Timeout = WaitLimit,
            };
        }
    }

    public InMemoryNetwork Network { get; } = new();

    public int Size => _apps.Length;

    /// <summary>Creates a cluster of <paramref name="size"/> nodes and starts the first <paramref name="startCount"/> (all by default).</summary>
    /// <remarks>
    /// With <paramref name="tcp"/>, nodes talk over the production TCP transport on free ports instead of the in-memory
    /// network. The first <paramref name="voters"/> nodes (all by default) bootstrap the cluster; the others, when
    /// started, join it through those (<c>--Node:Join</c>). <paramref name="diskIo"/> gives each node, each time it
    /// starts, the file operations of its log and hard state (null: the system's), so a test can fill a node's disk or
    /// fail its fsync.
    /// </remarks>
    public static async Task<TestCluster> StartAsync(int size = 3, Func<int, string[]>? extraArgs = null, int? startCount = null, bool tcp = false, int? voters = null, Func<int, IDiskIo?>? diskIo = null)
    {
        var cluster = new TestCluster(size, extraArgs ?? (_ => []), tcp, voters ?? size, diskIo ?? (_ => null));
        for (var id = 1; id <= (startCount ?? size); id++)
        {
            await cluster.StartNodeAsync(id);
        }

        return cluster;
    }

    public string HttpUrl(int id) => $"http://127.0.0.1:{_httpPorts[id - 1]}";

    /// <summary>Where node <paramref name="id"/> keeps its data (created when it first starts).</summary>
    public string DataDirectory(int id) => Path.Combine(_root, $"node-{id}");

    /// <summary>Every bootstrapping voter's peer address, as <c>--Node:Peers:ID=</c> arguments.</summary>
    public string[] PeerArguments() => [.. Enumerable.Range(1, _voters).Select(PeerArgument)];

    /// <summary>Node <paramref name="id"/>'s peer address, host:port.</summary>
    public string PeerAddress(int id) => $"127.0.0.1:{_peerPorts[id - 1]}";

    private string PeerArgument(int id) => $"--Node:Peers:{id}={PeerAddress(id)}";

    public HttpClient Client(int id) => _clients[id - 1];

    /// <summary>Node <paramref name="id"/>'s node loop, while it runs.</summary>
    internal NodeLoop Node(int id) => (_apps[id - 1] ?? throw new InvalidOperationException($"node {id} is not running")).Services.GetRequiredService<NodeLoop>();

    /// <summary>A service of a running node's host (its <see cref="NodeMetrics"/>, say).</summary>
    internal T Service<T>(int id)
        where T : notnull =>
        (_apps[id - 1] ?? throw new InvalidOperationException($"node {id} is not running")).Services.GetRequiredService<T>();

    public async Task StartNodeAsync(int id, string[]? extraArgs = null)
    {
        var args = new List<string>
        {
            $"--Node:Id={id}",
            $"--Node:DataDirectory={DataDirectory(id)}",
            "--Node:TickMs=5",
            "--Node:HeartbeatIntervalMs=25",
            "--Node:ElectionTimeoutMs=250",
            "--Node:RequestTimeoutMs=5000",
            "--Logging:LogLevel:Default=Warning",
        };
        if (id <= _voters)
        {
            args.AddRange(PeerArguments());
            for (var peer = 1; peer <= _voters; peer++)
            {
                args.Add($"--Node:HttpEndpoints:{peer}={HttpUrl(peer)}");
            }

            args.Add("--Node:ClusterState=new");
        }
        else
        {
            args.Add(PeerArgument(id));
            args.Add($"--Node:HttpEndpoints:{id}={HttpUrl(id)}");
            args.Add($"--Node:Join={string.Join(',', Enumerable.Range(1, _voters).Select(HttpUrl))}");
        }

        args.AddRange(_extraArgs(id));
        args.AddRange(extraArgs ?? []);
        var app = NodeHost.Build([.. args], _tcp ? null : Network.Factory, _diskIo(id));
        await app.StartAsync();
        _apps[id - 1] = app;
    }

    public async Task StopNodeAsync(int id)
    {
        if (_apps[id - 1] is { } app)
        {
            _apps[id - 1] = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>
    /// Waits until every running node names the same leader in the same term and has applied the highest cluster
    /// version they all support (the entry that raises it comes right after an election); returns the leader.
    /// </summary>
    public async Task<int> WaitForLeaderAsync(int? excluding = null)
    {
        return await WaitUntilAsync(async () =>
        {
            int leader = 0;
            long term = -1;
            var (lowestApplied, lowestSupported) = (int.MaxValue, int.MaxValue);
            for (var id = 1; id <= Size; id++)
            {
                if (_apps[id - 1] is null || id == excluding)
                {
                    continue;
                }

                using var status = await ClusterStatusAsync(id);
                var nodeLeader = status.RootElement.GetProperty("leaderId").GetInt32();
                var nodeTerm = status.RootElement.GetProperty("term").GetInt64();
                if (nodeLeader == 0 || nodeLeader == excluding || (leader != 0 && (nodeLeader != leader || nodeTerm != term)))
                {
                    return 0;
                }

                leader = nodeLeader;
                term = nodeTerm;
                lowestApplied = Math.Min(lowestApplied, status.RootElement.GetProperty("clusterVersion").GetInt32());
                lowestSupported = Math.Min(lowestSupported, status.RootElement.GetProperty("supportsVersion").GetInt32());
            }

            return lowestApplied < lowestSupported ? 0 : leader;
        }, "a leader known to every node");
    }

    public async Task<JsonDocument> ClusterStatusAsync(int id)
    {
        using var response = await Client(id).GetAsync("/v1/cluster");
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>Polls <paramref name="probe"/> until it returns a non-default value; fails after <see cref="WaitLimit"/>.</summary>
    public static async Task<T> WaitUntilAsync<T>(Func<Task<T>> probe, string what)
    {
        var deadline = DateTime.UtcNow + WaitLimit;
        while (true)
        {
            var value = await probe();
            if (!EqualityComparer<T>.Default.Equals(value, default))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"gave up waiting for {what} after {WaitLimit}");
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (var id = 1; id <= Size; id++)
        {
            await StopNodeAsync(id);
        }

        foreach (var client in _clients)
        {
            client.Dispose();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int[] FreePorts(int count)
    {
        var listeners = new TcpListener[count];
        try
        {
            for (var i = 0; i < count; i++)
            {
                listeners[i] = new TcpListener(IPAddress.Loopback, 0);
                listeners[i].Start();
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener?.Stop();
            }
        }
    }

    public static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
