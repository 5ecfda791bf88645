using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using Raft.Protocol;
using Raft.Server.Launcher;

namespace Raft.KillEof;

/// <summary>
/// How long after <c>kill -9</c> a peer's socket sees the killed process's connection end (EOF or reset), against the
/// process's resident memory: the kernel closes a killed process's sockets only after tearing down its address space, so
/// a crashed leader's followers learn of it that much later. Rows: three-node clusters of our server, one per setting
/// (GC and JIT settings passed to the nodes as <c>DOTNET_*</c> variables, or another build of the server), killed
/// leader by leader in interleaved rounds; and bare processes of this tool holding N MiB touched. Every process it starts
/// is killed by id when it ends.
/// </summary>
internal static class Program
{
    private const string Usage =
        "usage: Raft.KillEof [options]\n" +
        "  --settings LIST     comma-separated node settings (default: every built-in one):\n" +
        "                      " + "{0}\n" +
        "  --build NAME=DLL    also run nodes of another build of Raft.Server.dll (e.g. a ReadyToRun publish) as setting NAME\n" +
        "  --bare-mib LIST     also kill bare processes holding these MiB touched (default 0,100,500,1024; 'none' to skip)\n" +
        "  --reps N            kills per setting (default 20)\n" +
        "  --base-port P       first HTTP port (default 25001); setting i uses P+10i..; peers P+2000+10i..\n" +
        "  --server-dll PATH   the Raft.Server.dll of the built-in settings (default: the one next to this tool)\n" +
        "  -- ARGS             options for every node\n" +
        "bare --touch-mib N --port P   (internal) the bare process: listens, holds N MiB touched, prints 'ready'";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(180);
    private static readonly TimeSpan EofTimeout = TimeSpan.FromSeconds(10);

    // Each built-in setting: the variables the nodes get. Values of DOTNET_GC* size knobs are hexadecimal.
    private static readonly (string Name, string Description, (string Key, string Value)[] Variables)[] BuiltIn =
    [
        ("default", "workstation, concurrent (the server's csproj)", []),
        ("gen0-4m", "DOTNET_GCgen0size=4 MiB", [("DOTNET_GCgen0size", "400000")]),
        ("noconcurrent", "DOTNET_gcConcurrent=0", [("DOTNET_gcConcurrent", "0")]),
        ("conserve", "DOTNET_GCConserveMemory=5", [("DOTNET_GCConserveMemory", "5")]),
        ("hardlimit-64m", "DOTNET_GCHeapHardLimit=64 MiB", [("DOTNET_GCHeapHardLimit", "4000000")]),
        ("server-datas", "server GC with DATAS (DOTNET_gcServer=1, GCDynamicAdaptationMode=1)", [("DOTNET_gcServer", "1"), ("DOTNET_GCDynamicAdaptationMode", "1")]),
        ("server", "server GC without DATAS", [("DOTNET_gcServer", "1"), ("DOTNET_GCDynamicAdaptationMode", "0")]),
        ("tc-off", "DOTNET_TieredCompilation=0", [("DOTNET_TieredCompilation", "0")]),
        ("pgo-off", "DOTNET_TieredPGO=0", [("DOTNET_TieredPGO", "0")]),
        ("wx-off", "DOTNET_EnableWriteXorExecute=0 (JIT code mapped once, not twice)", [("DOTNET_EnableWriteXorExecute", "0")]),
    ];

    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "bare")
        {
            return Bare(args);
        }

        var settingNames = BuiltIn.Select(s => s.Name).ToList();
        var builds = new List<(string Name, string Dll)>();
        int[] bareMib = [0, 100, 500, 1024];
        var reps = 20;
        var basePort = 25001;
        var serverDll = Path.Combine(AppContext.BaseDirectory, "Raft.Server.dll");
        IReadOnlyList<string> nodeArguments = [];
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--")
            {
                nodeArguments = args[(i + 1)..];
                break;
            }

            if (args[i] is "--help" or "-h")
            {
                Console.WriteLine(Usage, string.Join(", ", BuiltIn.Select(s => $"{s.Name} ({s.Description})")));
                return 0;
            }

            if (i + 1 >= args.Length)
            {
                return Fail($"{args[i]} needs a value");
            }

            var value = args[++i];
            switch (args[i - 1])
            {
                case "--settings":
                    settingNames = [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries)];
                    if (settingNames.FirstOrDefault(n => BuiltIn.All(s => s.Name != n)) is { } unknown)
                    {
                        return Fail($"unknown setting '{unknown}'");
                    }

                    break;
                case "--build" when value.Split('=', 2) is [{ Length: > 0 } name, { Length: > 0 } dll] && File.Exists(dll):
                    builds.Add((name, Path.GetFullPath(dll)));
                    break;
                case "--bare-mib" when value == "none":
                    bareMib = [];
                    break;
                case "--bare-mib" when TryParseList(value, out var mib):
                    bareMib = mib;
                    break;
                case "--reps" when int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n > 0:
                    reps = n;
                    break;
                case "--base-port" when int.TryParse(value, CultureInfo.InvariantCulture, out var p) && p is > 1024 and < 60000:
                    basePort = p;
                    break;
                case "--server-dll" when File.Exists(value):
                    serverDll = Path.GetFullPath(value);
                    break;
                default:
                    return Fail($"bad option or value: {args[i - 1]} {value}");
            }
        }

        if (!File.Exists(serverDll))
        {
            return Fail($"{serverDll} is missing: build src/Raft.Server or pass --server-dll");
        }

        var settings = settingNames
            .Select(n => BuiltIn.First(s => s.Name == n))
            .Select(s => new Setting(s.Name, s.Variables, serverDll))
            .Concat(builds.Select(b => new Setting(b.Name, [], b.Dll)))
            .ToList();
        var work = Path.Combine(Path.GetTempPath(), $"raft-killeof-{Environment.ProcessId}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clusters = new List<Row>();
        var keep = false;
        try
        {
            Console.WriteLine($"load average before: {LoadAverage()}");
            for (var s = 0; s < settings.Count; s++)
            {
                var cluster = new LocalCluster(new ClusterLaunchOptions
                {
                    Nodes = 3,
                    BasePort = basePort + (10 * s),
                    PeerBasePort = basePort + 2000 + (10 * s),
                    DataDirectory = Path.Combine(work, settings[s].Name),
                    Clean = true,
                    NodeArguments = nodeArguments,
                    ServerDll = settings[s].ServerDll,
                }, TextWriter.Null);
                clusters.Add(new Row(settings[s], cluster));
                WithVariables(settings[s], cluster.Start);

                // One cluster at a time: thirty processes starting at once on a small machine form slowly.
                if (await cluster.WaitForLeaderAsync(StartTimeout, CancellationToken.None).ConfigureAwait(false) is null)
                {
                    keep = true;
                    return Fail($"{settings[s].Name}: no leader within {StartTimeout.TotalSeconds:F0} s; logs in {cluster.Options.DataDirectory}");
                }
            }

            // Idle for a while, so the resident memory is that of a formed, idle cluster.
            await Task.Delay(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
            foreach (var row in clusters)
            {
                row.IdleRssMib.AddRange(row.Cluster.Ids.Select(id => RssMib(row.Cluster.Pid(id))));
            }

            for (var rep = 1; rep <= reps; rep++)
            {
                foreach (var row in clusters)
                {
                    var leader = await LeaderAsync(http, row.Cluster).ConfigureAwait(false)
                        ?? throw new InvalidOperationException($"{row.Setting.Name}: no leader before kill {rep}");
                    var pid = row.Cluster.Pid(leader);
                    row.KilledRssMib.Add(RssMib(pid));
                    row.KilledAnonMib.Add(RssMib(pid, "RssAnon:"));
                    var (eof, exit) = KillAndTime(pid, row.Cluster.Options.HttpPort(leader), () => row.Cluster.KillAsync(leader, CancellationToken.None).GetAwaiter().GetResult());
                    row.EofMs.Add(eof);
                    row.ExitMs.Add(exit);
                    WithVariables(row.Setting, () => row.Cluster.Restart(leader));
                }

                foreach (var row in clusters)
                {
                    if (await row.Cluster.WaitForLeaderAsync(StartTimeout, CancellationToken.None).ConfigureAwait(false) is null)
                    {
                        keep = true;
                        return Fail($"{row.Setting.Name}: no formed cluster after kill {rep}");
                    }
                }

                Console.WriteLine($"round {rep}/{reps} done, load average {LoadAverage()}");
            }
        }
        finally
        {
            foreach (var row in clusters)
            {
                row.Cluster.KillAll();
                await row.Cluster.DisposeAsync().ConfigureAwait(false);
            }

            if (!keep)
            {
                TryDelete(work);
            }
        }

        var bare = new List<(int Mib, List<double> Rss, List<double> Anon, List<double> Eof, List<double> Exit)>();
        foreach (var mib in bareMib)
        {
            bare.Add((mib, [], [], [], []));
        }

        for (var rep = 1; rep <= reps && bare.Count > 0; rep++)
        {
            foreach (var (mib, rss, anon, eof, exit) in bare)
            {
                var (r, a, e, x) = KillBare(mib, basePort + 900);
                rss.Add(r);
                anon.Add(a);
                eof.Add(e);
                exit.Add(x);
            }
        }

        Console.WriteLine($"load average after: {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| setting | idle RSS MiB (3 nodes, median) | RSS at kill MiB (median) | of it anonymous MiB | kill to EOF p50 ms | p90 | max | kill to exit p50 ms |");
        Console.WriteLine("| --- | --: | --: | --: | --: | --: | --: | --: |");
        foreach (var row in clusters)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {row.Setting.Name} | {Percentile(row.IdleRssMib, 50):F0} | {Percentile(row.KilledRssMib, 50):F0} | {Percentile(row.KilledAnonMib, 50):F0} | {Percentile(row.EofMs, 50):F1} | {Percentile(row.EofMs, 90):F1} | {row.EofMs.Max():F1} | {Percentile(row.ExitMs, 50):F1} |"));
        }

        foreach (var (mib, rss, anon, eof, exit) in bare)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| bare process, {mib} MiB touched | – | {Percentile(rss, 50):F0} | {Percentile(anon, 50):F0} | {Percentile(eof, 50):F1} | {Percentile(eof, 90):F1} | {eof.Max():F1} | {Percentile(exit, 50):F1} |"));
        }

        return 0;
    }

    /// <summary>
    /// Connects to <paramref name="port"/> of process <paramref name="pid"/>, sends SIGKILL, and times until the socket
    /// ends (a read returns 0 or a reset) and until <paramref name="waitForExit"/> returns (the process reaped).
    /// </summary>
    private static (double EofMs, double ExitMs) KillAndTime(int pid, int port, Action waitForExit)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(IPAddress.Loopback, port);
        long ended = 0;
        using var reading = new ManualResetEventSlim();
        var reader = new Thread(() =>
        {
            var buffer = new byte[256];
            reading.Set();
            try
            {
                while (socket.Receive(buffer) > 0)
                {
                }
            }
            catch (SocketException)
            {
                // A reset ends the connection as EOF does.
            }

            Volatile.Write(ref ended, Stopwatch.GetTimestamp());
        }) { IsBackground = true, Priority = ThreadPriority.Highest };
        reader.Start();
        reading.Wait();
        Thread.Sleep(20);
        var killed = Stopwatch.GetTimestamp();
        if (NativeMethods.Kill(pid, 9) != 0)
        {
            throw new InvalidOperationException($"kill -9 {pid} failed (errno {Marshal.GetLastPInvokeError()})");
        }

        waitForExit();
        var exited = Stopwatch.GetTimestamp();
        if (!reader.Join(EofTimeout))
        {
            throw new InvalidOperationException($"no EOF within {EofTimeout.TotalSeconds:F0} s of killing {pid}");
        }

        return (Stopwatch.GetElapsedTime(killed, Volatile.Read(ref ended)).TotalMilliseconds, Stopwatch.GetElapsedTime(killed, exited).TotalMilliseconds);
    }

    private static (double RssMib, double AnonMib, double EofMs, double ExitMs) KillBare(int mib, int port)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet") { UseShellExecute = false, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(info.FileName) == "dotnet")
        {
            info.ArgumentList.Add(typeof(Program).Assembly.Location);
        }

        foreach (var word in new[] { "bare", "--touch-mib", mib.ToString(CultureInfo.InvariantCulture), "--port", port.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(word);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the bare process");
        try
        {
            var line = process.StandardOutput.ReadLine();
            if (line != "ready")
            {
                throw new InvalidOperationException($"the bare process said '{line}' instead of ready");
            }

            var rss = RssMib(process.Id);
            var anon = RssMib(process.Id, "RssAnon:");
            var (eof, exit) = KillAndTime(process.Id, port, () => process.WaitForExit());
            return (rss, anon, eof, exit);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    private static int Bare(string[] args)
    {
        if (args is not ["bare", "--touch-mib", var mibText, "--port", var portText]
            || !int.TryParse(mibText, CultureInfo.InvariantCulture, out var mib) || mib < 0
            || !int.TryParse(portText, CultureInfo.InvariantCulture, out var port))
        {
            return Fail("bare --touch-mib N --port P");
        }

        var held = new byte[mib][];
        for (var i = 0; i < mib; i++)
        {
            held[i] = GC.AllocateUninitializedArray<byte>(1 << 20);
            for (var b = 0; b < held[i].Length; b += 4096)
            {
                held[i][b] = 1;
            }
        }

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen();
        Console.WriteLine("ready");
        using var accepted = listener.Accept();
        Thread.Sleep(Timeout.Infinite);
        GC.KeepAlive(held);
        return 0;
    }

    private static void WithVariables(Setting setting, Action start)
    {
        foreach (var (key, value) in setting.Variables)
        {
            Environment.SetEnvironmentVariable(key, value);
        }

        try
        {
            start();
        }
        finally
        {
            foreach (var (key, _) in setting.Variables)
            {
                Environment.SetEnvironmentVariable(key, null);
            }
        }
    }

    private static async Task<int?> LeaderAsync(HttpClient http, LocalCluster cluster)
    {
        foreach (var id in cluster.Ids)
        {
            try
            {
                var body = await http.GetByteArrayAsync(new Uri(cluster.Options.HttpEndpoint(id) + ApiPaths.HealthLive)).ConfigureAwait(false);
                if (JsonSerializer.Deserialize(body, ProtocolJsonContext.Wire.HealthResponse) is { LeaderId: > 0 } health && health.LeaderId == id)
                {
                    return id;
                }
            }
            catch (HttpRequestException)
            {
            }
        }

        return null;
    }

    // VmRSS, or with "RssAnon:" the anonymous part (heaps, stacks; not the mapped assemblies), in MiB.
    private static double RssMib(int pid, string field = "VmRSS:")
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        throw new InvalidOperationException($"no {field} in /proc/{pid}/status");
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Trim();

    private static double Percentile(List<double> values, int percent)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(percent / 100.0 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    private static bool TryParseList(string value, out int[] list)
    {
        var words = value.Split(',');
        list = new int[words.Length];
        for (var i = 0; i < words.Length; i++)
        {
            if (!int.TryParse(words[i], CultureInfo.InvariantCulture, out list[i]) || list[i] < 0)
            {
                return false;
            }
        }

        return true;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 2;
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private sealed record Setting(string Name, (string Key, string Value)[] Variables, string ServerDll);

    private sealed record Row(Setting Setting, LocalCluster Cluster)
    {
        public List<double> IdleRssMib { get; } = [];

        public List<double> KilledRssMib { get; } = [];

        public List<double> KilledAnonMib { get; } = [];

        public List<double> EofMs { get; } = [];

        public List<double> ExitMs { get; } = [];
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int Kill(int pid, int signal);
    }
}
