using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using Raft.FailoverBench.Harness;
using Raft.FailoverBench.Report;
using Raft.FailoverBench.Targets;
using Raft.Server.Launcher;

namespace Raft.FailoverBench;

/// <summary>
/// Measures what clients see while a three-node cluster fails over (crash, hang, planned switchover), for our cluster
/// and etcd under the same client harness, throughput under load (also with watches open), and how both handle a large
/// state (catch-up by snapshot, snapshots under writes, backup, restore, restart, memory). Exit code 0: done, no
/// violation; 1: a safety violation (a lost, duplicated or stale acknowledged write; in failover mode also a trial's watch
/// that missed, repeated or reordered one, or delivered a change no writer made; in load mode a watch that missed,
/// repeated or reordered a write, or ended early; in scale mode also a catch-up that saw a failed write or an election
/// or never ended, an election while snapshots were taken, a restarted node never ready); 2: bad arguments
/// or a cluster that could not run. Every process it starts is killed by id when it ends, however it ends.
/// </summary>
internal static class Program
{
    private static readonly Lock LiveGate = new();
    private static readonly List<IBenchTarget> Live = [];
    private static readonly List<CpuContention> LiveContention = [];

    public static async Task<int> Main(string[] args)
    {
        if (!BenchOptions.TryParse(args, out var options, out var error))
        {
            await Console.Error.WriteLineAsync(error).ConfigureAwait(false);
            await Console.Error.WriteLineAsync(BenchOptions.Usage).ConfigureAwait(false);
            return 2;
        }

        if (options.Help)
        {
            await Console.Out.WriteLineAsync(BenchOptions.Usage).ConfigureAwait(false);
            return 0;
        }

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillEverything();
        AppDomain.CurrentDomain.UnhandledException += (_, _) => KillEverything();
        var work = Path.Combine(Path.GetTempPath(), $"raft-failover-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        try
        {
            return await RunAsync(options, work, Console.Out, stop.Token).ConfigureAwait(false);
        }
        catch (BenchException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("interrupted: every process started was killed").ConfigureAwait(false);
            return 130;
        }
        finally
        {
            KillEverything();
            if (options.KeepData)
            {
                await Console.Out.WriteLineAsync($"data directories and node logs kept in {work}").ConfigureAwait(false);
            }
            else
            {
                TryDelete(work);
            }
        }
    }

    internal static async Task<int> RunAsync(BenchOptions options, string work, TextWriter output, CancellationToken cancellationToken)
    {
        var targetNames = options.TargetNames();
        string? etcdVersion = null;
        if (options.UsesEtcd)
        {
            if (EtcdClusterTarget.FindExecutable() is null)
            {
                throw new BenchException(EtcdClusterTarget.EtcdMissing);
            }

            if (options.Mode == BenchMode.Scale && EtcdClusterTarget.FindExecutable("etcdctl") is null)
            {
                throw new BenchException(EtcdClusterTarget.EtcdctlMissing);
            }

            etcdVersion = EtcdClusterTarget.Version();
        }

        var serverDll = targetNames.Any(t => t.StartsWith("ours", StringComparison.Ordinal)) ? ResolveServerDll(options) : null;
        var dotNextDll = targetNames.Contains(DotNextClusterTarget.TargetName) ? ResolveDotNextDll() : null;
        var runId = Guid.NewGuid().ToString("N")[..8];
        var machine = new MachineInfo(
            Environment.ProcessorCount, RuntimeInformation.OSDescription, RuntimeInformation.OSArchitecture.ToString(), RuntimeInformation.FrameworkDescription, etcdVersion);
        await output.WriteLineAsync($"{options.Mode.ToString().ToLowerInvariant()} run {runId}: {string.Join(", ", targetNames)} on {machine.Cores} cores, {machine.Os}, {machine.DotNet}{(etcdVersion is null ? string.Empty : ", " + etcdVersion)}").ConfigureAwait(false);
        if (dotNextDll is not null)
        {
            await output.WriteLineAsync(DotNextClusterTarget.Settings).ConfigureAwait(false);
        }
        var maxConcurrency = options.Mode switch
        {
            BenchMode.Load => options.Concurrency.Max(),
            BenchMode.Scale => options.FillWriters,
            _ => options.Writers + 8,
        };
        // With --tls, one CA for the run, made before any cluster so the client can trust it; each cluster's nodes get
        // their certificates from it, whatever directory the cluster runs in.
        var tlsDirectory = Path.Combine(work, "tls");
        var authorities = options.Tls ? PrepareTls(tlsDirectory) : null;
        using var http = BenchHttp.CreateClient(maxConcurrency + 8, authorities);
        // The watches' own client, a connection per watch, so that the writers' pool stays as it is in the other rows.
        using var watchHttp = options.Watchers.Count > 0 ? BenchHttp.CreateClient(options.Watchers.Max(w => w.Count) + 8, authorities) : null;
        if (options.Mode == BenchMode.Scale)
        {
            return await RunScaleAsync(options, work, tlsDirectory, output, http, serverDll, runId, machine, cancellationToken).ConfigureAwait(false);
        }

        var trials = new List<TrialResult>();
        var load = new List<LoadResult>();
        var watcherLoad = new List<WatcherLoadResult>();
        var startup = new List<StartupResult>();
        var violations = new List<string>();
        var startedAt = DateTimeOffset.UtcNow;
        for (var t = 0; t < targetNames.Count && violations.Count == 0; t++)
        {
            var target = CreateTarget(targetNames[t], options, http, serverDll, dotNextDll, work, tlsDirectory);
            lock (LiveGate)
            {
                Live.Add(target);
            }

            CpuContention? contention = null;
            try
            {
                if (options.Contention)
                {
                    contention = StartContention();
                    await output.WriteLineAsync($"CPU contention for {target.Name}: pids {string.Join(' ', contention.Pids)}").ConfigureAwait(false);
                }

                await output.WriteLineAsync($"starting {target.Name}").ConfigureAwait(false);
                if (options.Mode == BenchMode.Startup)
                {
                    // The runner starts the cluster itself, to time it.
                    startup.Add(await new StartupRunner(target, runId, options.Starts, TimeSpan.FromSeconds(options.IdleS), output).RunAsync(cancellationToken).ConfigureAwait(false));
                    continue;
                }

                await target.StartAsync(cancellationToken).ConfigureAwait(false);
                if (options.Mode == BenchMode.Failover)
                {
                    var runner = new FailoverRunner(target, runId, options.Writers, TimeSpan.FromMilliseconds(options.RequestTimeoutMs), output, options.WriteViaFollower);
                    foreach (var scenario in options.Scenarios)
                    {
                        for (var trial = 1; trial <= options.Trials && violations.Count == 0; trial++)
                        {
                            var result = await runner.RunTrialAsync(scenario, trial, options.Trials, cancellationToken).ConfigureAwait(false);
                            trials.Add(result);
                            violations.AddRange(result.Violations);
                        }
                    }
                }
                else
                {
                    var runner = new LoadRunner(target, runId, TimeSpan.FromSeconds(options.DurationS), TimeSpan.FromSeconds(options.WarmupS), TimeSpan.FromSeconds(5), output);
                    foreach (var concurrency in options.Concurrency)
                    {
                        load.AddRange(await runner.RunAsync(concurrency, cancellationToken).ConfigureAwait(false));
                    }

                    if (watchHttp is not null && target.Name == "ours")
                    {
                        var rows = await runner.RunWatchersAsync(options.Concurrency.Max(), options.Watchers, watchHttp, cancellationToken).ConfigureAwait(false);
                        watcherLoad.AddRange(rows);
                        violations.AddRange(rows.SelectMany(r => r.Violations));
                    }
                    else if (watchHttp is not null)
                    {
                        await output.WriteLineAsync($"{target.Name}: no watcher rows (they measure our three-node cluster only)").ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                await target.DisposeAsync().ConfigureAwait(false);
                lock (LiveGate)
                {
                    Live.Remove(target);
                }

                StopContention(contention);
            }
        }

        var contentionText = options.Contention ? CpuContention.Describe(Environment.ProcessorCount) : null;
        var settings = new BenchSettings(
            options.Mode.ToString().ToLowerInvariant(), targetNames, options.Scenarios, options.Trials, options.Writers, options.RequestTimeoutMs, options.DurationS, options.Concurrency, options.WarmupS,
            options.Watchers.Count > 0 ? [WatcherRow.None.Label, .. options.Watchers.Select(w => w.Label)] : null,
            contentionText,
            options.TimingProfile,
            options.Mode == BenchMode.Failover ? (options.WriteViaFollower ? "follower" : "leader") : null)
        {
            Starts = options.Mode == BenchMode.Startup ? options.Starts : null,
            IdleS = options.Mode == BenchMode.Startup ? options.IdleS : null,
        };
        var resultsPath = Path.Combine(options.OutDirectory, "results.json");
        var earlier = ReadEarlierResults(resultsPath);
        var results = options.Mode switch
        {
            BenchMode.Failover => new BenchResults(
                startedAt, machine, settings, trials, violations, earlier?.LoadSettings, earlier?.Load ?? [], earlier?.ScaleSettings, earlier?.Scale, earlier?.WatcherLoad,
                earlier?.StartupSettings, earlier?.Startup),
            BenchMode.Load => new BenchResults(
                startedAt, machine, earlier?.FailoverSettings, earlier?.Trials ?? [], earlier?.Violations ?? [], settings, load, earlier?.ScaleSettings, earlier?.Scale, watcherLoad,
                earlier?.StartupSettings, earlier?.Startup),
            _ => (earlier ?? new BenchResults(startedAt, machine, null, [], [], null, [])) with { StartedAt = startedAt, Machine = machine, StartupSettings = settings, Startup = startup },
        };
        Directory.CreateDirectory(options.OutDirectory);
        await File.WriteAllTextAsync(resultsPath, JsonSerializer.Serialize(results, BenchJsonContext.Default.BenchResults), cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
        if (contentionText is not null)
        {
            await output.WriteLineAsync($"under CPU contention: {contentionText}, beside every target").ConfigureAwait(false);
        }

        if (options.TimingProfile is { } profile)
        {
            await output.WriteLineAsync($"timing: {profile}").ConfigureAwait(false);
        }

        if (contentionText is not null || options.TimingProfile is not null)
        {
            await output.WriteLineAsync().ConfigureAwait(false);
        }

        if (options.Mode == BenchMode.Startup)
        {
            await output.WriteAsync(Tables.Startup(startup, targetNames)).ConfigureAwait(false);
            await output.WriteLineAsync($"results: {resultsPath}").ConfigureAwait(false);
        }
        else if (options.Mode == BenchMode.Failover)
        {
            await File.WriteAllTextAsync(Path.Combine(options.OutDirectory, "failover.svg"), SvgChart.Render(trials, targetNames, options.Scenarios), cancellationToken).ConfigureAwait(false);
            await output.WriteAsync(Tables.Failover(trials, targetNames, options.Scenarios)).ConfigureAwait(false);
            await output.WriteLineAsync($"results: {resultsPath}, chart: {Path.Combine(options.OutDirectory, "failover.svg")}").ConfigureAwait(false);
        }
        else
        {
            await output.WriteAsync(Tables.Load(load, targetNames)).ConfigureAwait(false);
            if (Tables.LoadElections(load, targetNames) is { Length: > 0 } elections)
            {
                await output.WriteLineAsync().ConfigureAwait(false);
                await output.WriteLineAsync("elections (rise of the highest term) and leader changes (most seen by one node) during each measured phase:").ConfigureAwait(false);
                await output.WriteLineAsync().ConfigureAwait(false);
                await output.WriteAsync(elections).ConfigureAwait(false);
            }

            if (watcherLoad.Count > 0)
            {
                await output.WriteLineAsync().ConfigureAwait(false);
                var skipped = targetNames.Where(t => t != "ours").ToArray();
                await output.WriteLineAsync($"writes with watches open, ours only{(skipped.Length > 0 ? $" ({string.Join(", ", skipped)} not measured)" : string.Empty)}:").ConfigureAwait(false);
                await output.WriteLineAsync().ConfigureAwait(false);
                await output.WriteAsync(Tables.WatcherLoad(watcherLoad)).ConfigureAwait(false);
            }

            await output.WriteLineAsync($"results: {resultsPath}").ConfigureAwait(false);
        }

        if (violations.Count > 0)
        {
            var where = options.Mode == BenchMode.Failover ? "the run stopped after the trial that found them" : "the run stopped after the watcher rows that found them";
            await output.WriteLineAsync($"FAILED: {violations.Count} violation(s); {where}:").ConfigureAwait(false);
            foreach (var violation in violations)
            {
                await output.WriteLineAsync("  " + violation).ConfigureAwait(false);
            }

            return 1;
        }

        return 0;
    }

    /// <summary>etcd's settings in scale mode: it, too, snapshots every 10,000 entries (3.4 keeps 5,000 behind), and its database may outgrow the default 2 GiB quota.</summary>
    internal static readonly IReadOnlyList<string> ScaleEtcdArguments = ["--snapshot-count", "10000", "--quota-backend-bytes", "8589934592"];

    /// <summary>
    /// Scale mode: per data size, each target on clusters started afresh, measured by <see cref="ScaleRunner"/>, one
    /// after the other; results.json is rewritten after each, and a table printed per size.
    /// </summary>
    private static async Task<int> RunScaleAsync(
        BenchOptions options, string work, string tlsDirectory, TextWriter output, HttpClient http, string? serverDll, string runId, MachineInfo machine, CancellationToken cancellationToken)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var targetNames = options.TargetNames();
        var settings = new ScaleSettings(
            targetNames, options.DataMib, options.ValueBytes, options.FillWriters, options.SnapshotPhaseS, options.BaselineS, options.RequestTimeoutMs,
            options.NodeArguments, options.UsesEtcd ? ScaleEtcdArguments : []);
        var resultsPath = Path.Combine(options.OutDirectory, "results.json");
        var earlier = ReadEarlierResults(resultsPath);
        var results = new List<ScaleResult>();
        foreach (var mib in options.DataMib)
        {
            var directory = Path.Combine(work, $"{mib}mib");
            foreach (var name in targetNames)
            {
                var target = (IScaleTarget)CreateTarget(name, options, http, serverDll, null, directory, tlsDirectory);
                lock (LiveGate)
                {
                    Live.Add(target);
                }

                try
                {
                    await output.WriteLineAsync($"starting {target.Name} for {mib} MiB").ConfigureAwait(false);
                    await target.StartAsync(cancellationToken).ConfigureAwait(false);
                    var plan = new ScalePlan(
                        mib, options.ValueBytes, options.FillWriters, TimeSpan.FromSeconds(options.SnapshotPhaseS), TimeSpan.FromSeconds(options.BaselineS),
                        TimeSpan.FromMilliseconds(options.RequestTimeoutMs), options.KeepData);
                    var runner = new ScaleRunner(target, plan, $"scale/{runId}/{mib}", directory, output);
                    results.Add(await runner.RunAsync(cancellationToken).ConfigureAwait(false));
                }
                finally
                {
                    await target.DisposeAsync().ConfigureAwait(false);
                    lock (LiveGate)
                    {
                        Live.Remove(target);
                    }

                    if (!options.KeepData)
                    {
                        TryDelete(Path.Combine(directory, name));
                    }
                }

                Directory.CreateDirectory(options.OutDirectory);
                var all = new BenchResults(
                    startedAt, machine, earlier?.FailoverSettings, earlier?.Trials ?? [], earlier?.Violations ?? [], earlier?.LoadSettings, earlier?.Load ?? [], settings, results, earlier?.WatcherLoad,
                    earlier?.StartupSettings, earlier?.Startup);
                await File.WriteAllTextAsync(resultsPath, JsonSerializer.Serialize(all, BenchJsonContext.Default.BenchResults), cancellationToken).ConfigureAwait(false);
            }

            await output.WriteLineAsync().ConfigureAwait(false);
            await output.WriteAsync(Tables.Scale([.. results.Where(r => r.DataMib == mib)], targetNames)).ConfigureAwait(false);
        }

        var etcdSettings = options.UsesEtcd ? $"etcd ran with {string.Join(' ', ScaleEtcdArguments)}; " : string.Empty;
        await output.WriteLineAsync($"scale: {etcdSettings}our nodes' options: {(options.NodeArguments.Count == 0 ? "(none)" : string.Join(' ', options.NodeArguments))}").ConfigureAwait(false);
        await output.WriteLineAsync($"results: {resultsPath}").ConfigureAwait(false);
        foreach (var warning in results.SelectMany(r => r.Warnings))
        {
            await output.WriteLineAsync("warning: " + warning).ConfigureAwait(false);
        }

        var violations = results.SelectMany(r => r.Violations).ToList();
        if (violations.Count > 0)
        {
            await output.WriteLineAsync($"FAILED: {violations.Count} violation(s):").ConfigureAwait(false);
            foreach (var violation in violations)
            {
                await output.WriteLineAsync("  " + violation).ConfigureAwait(false);
            }

            return 1;
        }

        return 0;
    }

    /// <summary>The results.json an earlier run left in the output directory, if it can be read.</summary>
    private static BenchResults? ReadEarlierResults(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), BenchJsonContext.Default.BenchResults);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // The run's authority; each cluster issues its nodes' certificates as it starts or adds them.
    private static System.Security.Cryptography.X509Certificates.X509Certificate2Collection PrepareTls(string tlsDirectory)
    {
        ClusterTls.Ensure(tlsDirectory, []);
        return Raft.Protocol.HttpsTrust.LoadAuthorities(ClusterTls.AuthorityPath(tlsDirectory));
    }

    private static IBenchTarget CreateTarget(string name, BenchOptions options, HttpClient http, string? serverDll, string? dotNextDll, string work, string tlsDirectory)
    {
        int[] ports;
        IBenchTarget target;
        switch (name)
        {
            case "ours":
                ports = [.. Range(options.BasePort), .. Range(options.PeerBasePort)];
                target = new OurClusterTarget(http, new ClusterLaunchOptions
                {
                    Nodes = 3,
                    BasePort = options.BasePort,
                    PeerBasePort = options.PeerBasePort,
                    DataDirectory = Path.Combine(work, "ours"),
                    Clean = true,
                    NodeArguments = options.OurNodeArguments,
                    ServerDll = serverDll,
                    Tls = options.Tls,
                    TlsDirectory = tlsDirectory,
                }, TextWriter.Null);
                break;
            case "ours-1node":
                ports = [options.BasePort + 30, options.PeerBasePort + 30];
                target = new OurClusterTarget(http, new ClusterLaunchOptions
                {
                    Nodes = 1,
                    BasePort = options.BasePort + 30,
                    PeerBasePort = options.PeerBasePort + 30,
                    DataDirectory = Path.Combine(work, name),
                    Clean = true,
                    NodeArguments = options.OurNodeArguments,
                    ServerDll = serverDll,
                    Tls = options.Tls,
                    TlsDirectory = tlsDirectory,
                }, TextWriter.Null, name);
                break;
            case "etcd-ours" or "etcd-default":
                var offset = name == "etcd-ours" ? 10 : 20;
                ports = [.. Range(options.BasePort + offset), .. Range(options.PeerBasePort + offset)];
                target = new EtcdClusterTarget(
                    http, name == "etcd-ours" ? (options.LowLatency ? EtcdProfile.LowLatency : EtcdProfile.OurTimeouts) : EtcdProfile.Defaults, Path.Combine(work, name), options.BasePort + offset, options.PeerBasePort + offset,
                    options.Mode == BenchMode.Scale ? ScaleEtcdArguments : null);
                break;
            case DotNextClusterTarget.TargetName:
                // Offsets no other target takes (ours +0..+3, etcd +10..+13 and +20..+23, ours-1node +30).
                ports = [.. Range(options.BasePort + 5), .. Range(options.PeerBasePort + 5)];
                target = new DotNextClusterTarget(
                    http, dotNextDll ?? throw new InvalidOperationException("no DotNext node to run"), Path.Combine(work, name), options.BasePort + 5, options.PeerBasePort + 5);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(name), name, "unknown target");
        }

        foreach (var port in ports)
        {
            if (!IsFree(port))
            {
                throw new BenchException($"port {port} (for {name}) is in use; choose other ports with --base-port and --peer-base-port");
            }
        }

        return target;

        static int[] Range(int first) => [first, first + 1, first + 2];
    }

    private static bool IsFree(int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>
    /// The server to launch: --server-dll (a Raft.Server.dll with its runtimeconfig, or a native Raft.Server
    /// executable), else the Raft.Server.dll built next to this tool.
    /// </summary>
    private static string ResolveServerDll(BenchOptions options)
    {
        var server = options.ServerDll ?? Path.Combine(AppContext.BaseDirectory, "Raft.Server.dll");
        if (!NodeProcess.IsManagedAssembly(server))
        {
            return File.Exists(server)
                ? server
                : throw new BenchException($"cannot run our server: {server} is missing; publish it (dotnet publish src/Raft.Server -c Release -r linux-x64 -p:PublishAot=true) or pass a Raft.Server.dll");
        }

        var runtimeConfig = Path.ChangeExtension(server, ".runtimeconfig.json");
        if (!File.Exists(server) || !File.Exists(runtimeConfig))
        {
            throw new BenchException($"cannot run our server: {server} or {runtimeConfig} is missing; build src/Raft.Server and pass --server-dll");
        }

        return server;
    }

    /// <summary>The DotNext node built next to this tool (a project reference of it), with its runtimeconfig.</summary>
    private static string ResolveDotNextDll()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Raft.DotNextNode.dll");
        if (!File.Exists(dll) || !File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")))
        {
            throw new BenchException($"cannot run the dotnext target: {dll} or its runtimeconfig is missing; build bench/Raft.FailoverBench");
        }

        return dll;
    }

    private static void KillEverything()
    {
        lock (LiveGate)
        {
            foreach (var target in Live)
            {
                target.KillAll();
            }

            foreach (var contention in LiveContention)
            {
                contention.Kill();
            }
        }
    }

    /// <summary>One busy loop per core, registered so that an interrupted run kills it too.</summary>
    private static CpuContention StartContention()
    {
        var contention = CpuContention.Start(Environment.ProcessorCount);
        lock (LiveGate)
        {
            LiveContention.Add(contention);
        }

        return contention;
    }

    private static void StopContention(CpuContention? contention)
    {
        if (contention is null)
        {
            return;
        }

        contention.Dispose();
        lock (LiveGate)
        {
            LiveContention.Remove(contention);
        }
    }

    private static void TryDelete(string directory)
    {
        for (var attempt = 0; attempt < 3 && Directory.Exists(directory); attempt++)
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // A killed process's file may still be closing; try again.
                Thread.Sleep(100);
            }
            catch (UnauthorizedAccessException)
            {
                return;
            }
        }
    }
}
