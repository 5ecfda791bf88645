using System.Globalization;
using System.Runtime.InteropServices;

namespace Raft.Server.Launcher;

/// <summary>
/// The <c>cluster</c> command: starts N nodes on 127.0.0.1 as child processes of this one, waits until they agree
/// on a leader, prints every endpoint and the leader, reports leader changes and node exits while it runs (with the
/// command that starts an exited node again), and on Ctrl+C or SIGTERM stops every node it started (SIGTERM first, so
/// a leader hands over; then kill). <c>cluster restart ID</c> asks the launcher running on a data directory to start
/// node ID again, through <see cref="LauncherControl"/>.
/// </summary>
public static class ClusterCommand
{
    /// <summary>
    /// How the user invoked the launcher (run-cluster.sh and run-cluster.ps1 set it), for the commands it prints;
    /// unset, it prints this executable's own command line.
    /// </summary>
    public const string FrontEndVariable = "RAFT_CLUSTER_COMMAND";

    public const string Usage =
        "usage: Raft.Server cluster [--nodes N] [--base-port P] [--peer-base-port Q] [--data DIR] [--clean] [--tls] [--leader-timeout S] [-- node options]\n" +
        "  starts N nodes (default 3): node i serves HTTP on 127.0.0.1:P+i-1 (default 5001...) and peers on 127.0.0.1:Q+i-1 (default 7001...),\n" +
        "  keeps its data in DIR/node-i (default ./data) and its log in DIR/node-i.log; --clean wipes DIR first.\n" +
        "  --tls makes a throwaway CA and node certificates in DIR/tls: HTTPS only, and mutual TLS between peers.\n" +
        "  Anything after -- is passed to every node, e.g. -- --Node:FollowerMode=Reject\n" +
        "usage: Raft.Server cluster restart ID [--data DIR]\n" +
        "  asks the launcher running on DIR (default ./data) to start node ID again, once it has exited, and waits until it is ready\n" +
        "usage: Raft.Server cluster add [--data DIR]\n" +
        "  asks that launcher to start a new node, the next id, that joins the cluster, and waits until it is a voter\n" +
        "usage: Raft.Server cluster remove ID [--data DIR]\n" +
        "  asks that launcher to remove node ID from the members and stop it";

    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        if (args.Length > 0 && args[0] is "restart" or "add" or "remove")
        {
            return await ControlAsync(args[0], args[1..], output, cancellationToken).ConfigureAwait(false);
        }

        if (!ClusterLaunchOptions.TryParse(args, out var options, out var error))
        {
            await output.WriteLineAsync(error).ConfigureAwait(false);
            await output.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }

        // Checked before --clean could wipe the directory a running launcher's nodes write to.
        var socketPath = LauncherControl.SocketPath(options.DataDirectory);
        if (await LauncherControl.IsAnsweringAsync(socketPath, cancellationToken).ConfigureAwait(false))
        {
            await output.WriteLineAsync($"a launcher is already running on {options.DataDirectory} (it answers on {socketPath}); stop it first or choose another --data").ConfigureAwait(false);
            return 1;
        }

        output = TextWriter.Synchronized(output);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });

        var frontEnd = Environment.GetEnvironmentVariable(FrontEndVariable) is { Length: > 0 } name ? name : null;
        await using var cluster = new LocalCluster(options, output);
        using var supervisor = new ClusterSupervisor(cluster, output);
        try
        {
            cluster.Start();

            // Disposed before the cluster (declared after it), so no restart can start a node while the rest stop.
            await using var control = LauncherControl.TryListen(socketPath, supervisor.HandleAsync, out var unavailable);
            if (control is null)
            {
                await output.WriteLineAsync($"restarting, adding and removing nodes is not available: {unavailable}").ConfigureAwait(false);
            }
            else
            {
                supervisor.RestartCommand = id => options.RestartCommand(id, frontEnd);
            }

            var leader = await cluster.WaitForLeaderAsync(options.LeaderTimeout, stop.Token).ConfigureAwait(false);
            if (leader is null)
            {
                await output.WriteLineAsync($"no leader within {options.LeaderTimeout.TotalSeconds:F0} s; see the node logs in {options.DataDirectory}").ConfigureAwait(false);
                return 1;
            }

            await cluster.PrintEndpointsAsync(leader.Value).ConfigureAwait(false);
            await supervisor.RunAsync(leader.Value, stop.Token).ConfigureAwait(false);
            return 0;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 0;
        }
        finally
        {
            await output.WriteLineAsync("stopping every node").ConfigureAwait(false);
        }
    }

    /// <summary>Parses <c>restart ID [--data DIR]</c> (the words after <c>restart</c>).</summary>
    public static bool TryParseRestart(string[] args, out int id, out string dataDirectory, out string? error) =>
        TryParseControl("restart", args, out id, out dataDirectory, out error);

    /// <summary>
    /// Parses the words after <paramref name="verb"/>: <c>restart</c> and <c>remove</c> take <c>ID [--data DIR]</c>,
    /// <c>add</c> only <c>[--data DIR]</c>.
    /// </summary>
    public static bool TryParseControl(string verb, string[] args, out int id, out string dataDirectory, out string? error)
    {
        ArgumentNullException.ThrowIfNull(args);
        id = 0;
        dataDirectory = ClusterLaunchOptions.DefaultDataDirectory;
        error = null;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--data" && i + 1 < args.Length)
            {
                dataDirectory = Path.GetFullPath(args[++i]);
            }
            else if (verb != "add" && id == 0 && int.TryParse(args[i], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= ClusterLaunchOptions.NodesMax)
            {
                id = n;
            }
            else
            {
                error = $"unknown option or bad value: {args[i]}";
                return false;
            }
        }

        if (id == 0 && verb != "add")
        {
            error = $"{verb} needs a node id, 1 to {ClusterLaunchOptions.NodesMax}";
            return false;
        }

        return true;
    }

    private static async Task<int> ControlAsync(string verb, string[] args, TextWriter output, CancellationToken cancellationToken)
    {
        if (!TryParseControl(verb, args, out var id, out var dataDirectory, out var error))
        {
            await output.WriteLineAsync(error).ConfigureAwait(false);
            await output.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }

        var socket = LauncherControl.SocketPath(dataDirectory);
        var (ok, message) = verb switch
        {
            "add" => await LauncherControl.AddAsync(socket, cancellationToken).ConfigureAwait(false),
            "remove" => await LauncherControl.RemoveAsync(socket, id, cancellationToken).ConfigureAwait(false),
            _ => await LauncherControl.RestartAsync(socket, id, cancellationToken).ConfigureAwait(false),
        };
        await output.WriteLineAsync(message).ConfigureAwait(false);
        return ok ? 0 : 1;
    }
}

/// <summary>Parsed and validated arguments of the <c>cluster</c> command.</summary>
public sealed record ClusterLaunchOptions
{
    public const int NodesMax = 9;

    public int Nodes { get; init; } = 3;

    public int BasePort { get; init; } = 5001;

    public int PeerBasePort { get; init; } = 7001;

    /// <summary>./data under the current directory: the scripts run the launcher from the repository's root.</summary>
    public static string DefaultDataDirectory => Path.GetFullPath("data");

    public string DataDirectory { get; init; } = DefaultDataDirectory;

    public bool Clean { get; init; }

    /// <summary>HTTPS endpoints and mutual TLS between peers, with certificates from a CA made for this cluster (<see cref="ClusterTls"/>).</summary>
    public bool Tls { get; init; }

    /// <summary>Where the CA and node certificates are kept: DIR/tls unless given (a benchmark shares one CA between its clusters).</summary>
    public string TlsDirectory
    {
        get => _tlsDirectory ?? ClusterTls.DirectoryOf(DataDirectory);
        init => _tlsDirectory = value;
    }

    private readonly string? _tlsDirectory;

    public TimeSpan LeaderTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public IReadOnlyList<string> NodeArguments { get; init; } = [];

    /// <summary>The server to run through the dotnet host; null runs this executable again (the <c>cluster</c> command).</summary>
    public string? ServerDll { get; init; }

    public static bool TryParse(string[] args, out ClusterLaunchOptions options, out string? error)
    {
        ArgumentNullException.ThrowIfNull(args);
        options = new ClusterLaunchOptions();
        error = null;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                options = options with { NodeArguments = args[(i + 1)..] };
                break;
            }

            if (arg == "--clean")
            {
                options = options with { Clean = true };
                continue;
            }

            if (arg == "--tls")
            {
                options = options with { Tls = true };
                continue;
            }

            if (arg is not ("--nodes" or "--base-port" or "--peer-base-port" or "--data" or "--leader-timeout"))
            {
                error = $"unknown option {arg}";
                return false;
            }

            if (i + 1 >= args.Length)
            {
                error = $"{arg} needs a value";
                return false;
            }

            var value = args[++i];
            switch (arg)
            {
                case "--nodes" when int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= NodesMax:
                    options = options with { Nodes = n };
                    break;
                case "--base-port" when int.TryParse(value, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65000:
                    options = options with { BasePort = p };
                    break;
                case "--peer-base-port" when int.TryParse(value, CultureInfo.InvariantCulture, out var q) && q is > 0 and < 65000:
                    options = options with { PeerBasePort = q };
                    break;
                case "--data":
                    options = options with { DataDirectory = Path.GetFullPath(value) };
                    break;
                case "--leader-timeout" when int.TryParse(value, CultureInfo.InvariantCulture, out var s) && s > 0:
                    options = options with { LeaderTimeout = TimeSpan.FromSeconds(s) };
                    break;
                default:
                    error = $"unknown option or bad value: {arg} {value}";
                    return false;
            }
        }

        var httpPorts = Enumerable.Range(options.BasePort, options.Nodes);
        var peerPorts = Enumerable.Range(options.PeerBasePort, options.Nodes);
        if (httpPorts.Intersect(peerPorts).Any())
        {
            error = "the HTTP and peer port ranges overlap";
            return false;
        }

        return true;
    }

    public int HttpPort(int id) => BasePort + id - 1;

    public int PeerPort(int id) => PeerBasePort + id - 1;

    public string HttpEndpoint(int id) => $"{(Tls ? "https" : "http")}://127.0.0.1:{HttpPort(id)}";

    /// <summary>The command line of node <paramref name="id"/>: the full membership, its data directory, then the pass-through options.</summary>
    public IReadOnlyList<string> ArgumentsFor(int id)
    {
        var list = new List<string>
        {
            $"--Node:Id={id}",
            $"--Node:DataDirectory={Path.Combine(DataDirectory, $"node-{id}")}",
        };
        for (var j = 1; j <= Nodes; j++)
        {
            list.Add($"--Node:Peers:{j}=127.0.0.1:{PeerPort(j)}");
            list.Add($"--Node:HttpEndpoints:{j}={HttpEndpoint(j)}");
        }

        AddTlsArguments(list, id);
        list.AddRange(NodeArguments);
        return list;
    }

    /// <summary>
    /// The command line of a node added to the running cluster: its own addresses and data directory, the members it
    /// joins through (<paramref name="members"/>), promotion once caught up, then the pass-through options.
    /// </summary>
    public IReadOnlyList<string> JoinArgumentsFor(int id, IEnumerable<int> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        var list = new List<string>
        {
            $"--Node:Id={id}",
            $"--Node:DataDirectory={Path.Combine(DataDirectory, $"node-{id}")}",
            $"--Node:Peers:{id}=127.0.0.1:{PeerPort(id)}",
            $"--Node:HttpEndpoints:{id}={HttpEndpoint(id)}",
            $"--Node:Join={string.Join(',', members.Select(HttpEndpoint))}",
            "--Node:AutoPromote=true",
        };
        AddTlsArguments(list, id);
        list.AddRange(NodeArguments);
        return list;
    }

    private void AddTlsArguments(List<string> list, int id)
    {
        if (Tls)
        {
            list.AddRange(ClusterTls.NodeArguments(TlsDirectory, id));
        }
    }

    /// <summary>
    /// The command line that asks this cluster's launcher to start node <paramref name="id"/> again, to paste in
    /// another terminal. <paramref name="frontEnd"/> is the script the user ran (say <c>./run-cluster.sh</c>), which
    /// always runs from the repository's root, so the default data directory needs no <c>--data</c>; without one the
    /// command runs this executable itself, from wherever it is pasted, so it names the data directory.
    /// </summary>
    public string RestartCommand(int id, string? frontEnd)
    {
        var self = frontEnd ?? string.Join(' ', NodeProcess.CommandLine(["cluster"]).Select(QuoteForShell));
        var data = frontEnd is not null && DataDirectory == DefaultDataDirectory ? "" : $" --data {QuoteForShell(DataDirectory)}";
        return $"{self} restart {id}{data}";
    }

    /// <summary>
    /// A word as bash and PowerShell both read it back: as it is when it has nothing either would interpret, else
    /// in single quotes (literal in both), or in double quotes if it holds a single quote itself.
    /// </summary>
    public static string QuoteForShell(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=:,@%".Contains(c, StringComparison.Ordinal)))
        {
            return word;
        }

        return word.Contains('\'', StringComparison.Ordinal) ? $"\"{word}\"" : $"'{word}'";
    }
}
