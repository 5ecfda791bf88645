using System.Globalization;
using System.Text.RegularExpressions;

namespace Raft.Faults.Tests;

/// <summary>How the lab cuts links and drops packets.</summary>
internal enum Firewall
{
    /// <summary><c>iptables</c> in each node's namespace: partitions by DROP rules, packet loss by the <c>statistic</c> match.</summary>
    Iptables,

    /// <summary>No iptables: partitions by blackhole routes in each node's namespace; no packet loss.</summary>
    BlackholeRoutes,
}

/// <summary>
/// A private network of network namespaces: a hub namespace holding a bridge, one namespace per node and one for the
/// clients, each joined to the bridge by a veth pair, with addresses in 10.213.0.0/24. Nothing is assigned in the
/// namespace this process runs in. Names carry this process's id (<c>rkf1234-n1</c>), so parallel runs never meet.
/// </summary>
/// <remarks>
/// Faults are applied inside the node namespaces only, so clients always reach every node the fault leaves up; what a
/// partition cuts is the nodes' view of each other. Deleting a namespace removes its end of every veth pair, and with
/// it the other end, so <see cref="Dispose"/> (after the processes in the namespaces have ended) leaves nothing behind.
/// </remarks>
internal sealed partial class NetworkLab : IDisposable
{
    public const string NamePrefix = "rkf";
    private const string Subnet = "10.213.0";
    private const string NodeInterface = "eth0";

    private readonly List<string> _namespaces = [];
    private readonly List<(int Node, string Route)> _routes = [];
    private bool _disposed;

    private NetworkLab(int nodes, Firewall firewall, string firewallNote)
    {
        Nodes = nodes;
        Firewall = firewall;
        FirewallNote = firewallNote;
    }

    public int Nodes { get; }

    public Firewall Firewall { get; }

    /// <summary>What was found (or installed) to cut links with, for the run's report.</summary>
    public string FirewallNote { get; }

    public bool CanDropPackets => Firewall == Firewall.Iptables;

    public static string Tag { get; } = NamePrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    public static string HubNamespace => $"{Tag}-hub";

    public static string ClientNamespace => $"{Tag}-c";

    public static string NodeNamespace(int id) => $"{Tag}-n{id}";

    public static string NodeAddress(int id) => $"{Subnet}.{10 + id}";

    public static string ClientAddress => $"{Subnet}.100";

    /// <summary>
    /// Null where the lab can be built here; otherwise why not (not Linux, not root, no <c>ip</c>, or namespaces,
    /// bridges or veth pairs cannot be made), for a test to skip with.
    /// </summary>
    public static string? WhyUnavailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces need Linux";
        }

        if (Environment.UserName != "root" && NativeMethods.GetEffectiveUserId() != 0)
        {
            return "creating network namespaces needs root";
        }

        if (!Shell.Exists("ip"))
        {
            return "the ip command (iproute2) is not installed";
        }

        var probe = $"{Tag}-probe";
        try
        {
            var (code, output) = Shell.Run("ip", "netns", "add", probe);
            if (code != 0)
            {
                return $"ip netns add failed: {output}";
            }

            (code, output) = Shell.Run("ip", "-n", probe, "link", "add", "br0", "type", "bridge");
            if (code != 0)
            {
                return $"a bridge cannot be made in a namespace: {output}";
            }

            (code, output) = Shell.Run("ip", "-n", probe, "link", "add", "va", "type", "veth", "peer", "name", "vb");
            return code != 0 ? $"a veth pair cannot be made in a namespace: {output}" : null;
        }
        finally
        {
            _ = Shell.Run("ip", "netns", "del", probe);
        }
    }

    /// <summary>
    /// Removes what runs of this suite left behind when they were killed before they could clean up: namespaces named
    /// after a process that no longer exists, with any process still inside them.
    /// </summary>
    public static IReadOnlyList<string> RemoveLeftovers()
    {
        var removed = new List<string>();
        var (code, output) = Shell.Run("ip", "netns", "list");
        if (code != 0)
        {
            return removed;
        }

        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var name = line.Split(' ')[0];
            var match = LeftoverName().Match(name);
            if (!match.Success || Directory.Exists($"/proc/{match.Groups[1].Value}"))
            {
                continue;
            }

            var (_, pids) = Shell.Run("ip", "netns", "pids", name);
            foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (int.TryParse(pid, CultureInfo.InvariantCulture, out var id))
                {
                    _ = NativeMethods.Kill(id, NativeMethods.SigKill);
                }
            }

            if (DeleteNamespace(name))
            {
                removed.Add(name);
            }
        }

        return removed;
    }

    /// <summary>Builds the hub, the client namespace and <paramref name="nodes"/> node namespaces, and finds a firewall.</summary>
    public static NetworkLab Create(int nodes, Action<string> log)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodes, 1);
        var (firewall, note) = FindFirewall();
        log($"network: {note}");
        var lab = new NetworkLab(nodes, firewall, note);
        try
        {
            lab.AddNamespace(HubNamespace);
            Shell.Check("ip", "-n", HubNamespace, "link", "add", "br0", "type", "bridge");
            Shell.Check("ip", "-n", HubNamespace, "link", "set", "br0", "up");
            lab.Attach(ClientNamespace, "vc", ClientAddress);
            for (var id = 1; id <= nodes; id++)
            {
                lab.Attach(NodeNamespace(id), $"v{id}", NodeAddress(id));
            }

            return lab;
        }
        catch
        {
            lab.Dispose();
            throw;
        }
    }

    /// <summary>Cuts the link between nodes <paramref name="a"/> and <paramref name="b"/>, both ways.</summary>
    public void Cut(int a, int b)
    {
        CutOneWay(a, b);
        CutOneWay(b, a);
    }

    /// <summary>Drops each packet into and out of <paramref name="node"/> with <paramref name="probability"/>, clients' included.</summary>
    public void Drop(int node, double probability)
    {
        if (!CanDropPackets)
        {
            throw new InvalidOperationException("packet loss needs iptables");
        }

        var p = probability.ToString("0.00", CultureInfo.InvariantCulture);
        Iptables(node, "-A", "INPUT", "-i", NodeInterface, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP");
        Iptables(node, "-A", "OUTPUT", "-o", NodeInterface, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP");
    }

    /// <summary>Removes every cut and every loss rule.</summary>
    public void Heal()
    {
        if (Firewall == Firewall.Iptables)
        {
            for (var id = 1; id <= Nodes; id++)
            {
                Iptables(id, "-F", "INPUT");
                Iptables(id, "-F", "OUTPUT");
            }
        }

        foreach (var (node, route) in _routes)
        {
            Shell.Check("ip", "-n", NodeNamespace(node), "route", "del", "blackhole", route);
        }

        _routes.Clear();
    }

    /// <summary>Deletes every namespace the lab made; the processes in them must have ended first.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        for (var i = _namespaces.Count - 1; i >= 0; i--)
        {
            _ = DeleteNamespace(_namespaces[i]);
        }
    }

    private void CutOneWay(int from, int to)
    {
        if (Firewall == Firewall.Iptables)
        {
            Iptables(from, "-A", "INPUT", "-s", NodeAddress(to), "-j", "DROP");
            Iptables(from, "-A", "OUTPUT", "-d", NodeAddress(to), "-j", "DROP");
            return;
        }

        var route = $"{NodeAddress(to)}/32";
        if (!_routes.Contains((from, route)))
        {
            Shell.Check("ip", "-n", NodeNamespace(from), "route", "add", "blackhole", route);
            _routes.Add((from, route));
        }
    }

    private static void Iptables(int node, params string[] rule) =>
        Shell.Check("ip", ["netns", "exec", NodeNamespace(node), "iptables", "-w", "5", .. rule]);

    private void AddNamespace(string name)
    {
        Shell.Check("ip", "netns", "add", name);
        _namespaces.Add(name);
        Shell.Check("ip", "-n", name, "link", "set", "lo", "up");
    }

    // A namespace joined to the hub's bridge: the hub's end named hubEnd, the namespace's end eth0 with the address.
    private void Attach(string name, string hubEnd, string address)
    {
        AddNamespace(name);
        Shell.Check("ip", "-n", HubNamespace, "link", "add", hubEnd, "type", "veth", "peer", "name", NodeInterface, "netns", name);
        Shell.Check("ip", "-n", HubNamespace, "link", "set", hubEnd, "master", "br0", "up");
        Shell.Check("ip", "-n", name, "addr", "add", $"{address}/24", "dev", NodeInterface);
        Shell.Check("ip", "-n", name, "link", "set", NodeInterface, "up");
    }

    private static bool DeleteNamespace(string name)
    {
        // A namespace whose last process is still exiting may refuse for a moment.
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var (code, output) = Shell.Run("ip", "netns", "del", name);
            if (code == 0 || output.Contains("No such file", StringComparison.Ordinal))
            {
                return code == 0;
            }

            Thread.Sleep(100);
        }

        return false;
    }

    // iptables through the project's script, which installs it where it is missing; blackhole routes otherwise, or
    // when FAULTS_FIREWALL=routes asks for them (to try the fallback on a machine that has iptables).
    private static (Firewall Firewall, string Note) FindFirewall()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("FAULTS_FIREWALL"), "routes", StringComparison.Ordinal))
        {
            return (Firewall.BlackholeRoutes, "FAULTS_FIREWALL=routes: partitions by blackhole routes, packet-loss faults left out");
        }

        var script = Path.Combine(AppContext.BaseDirectory, "ensure-iptables.sh");
        var (code, output) = File.Exists(script) ? Shell.Run("bash", script) : (1, "ensure-iptables.sh is missing next to the suite");
        if (code == 0)
        {
            // The kernel must also take rules (nf_tables or the legacy tables) inside a namespace.
            var probe = $"{Tag}-fwprobe";
            try
            {
                Shell.Check("ip", "netns", "add", probe);
                var (ruleCode, ruleOutput) = Shell.Run("ip", "netns", "exec", probe, "iptables", "-w", "5", "-A", "INPUT", "-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "DROP");
                if (ruleCode == 0)
                {
                    return (Firewall.Iptables, $"{output.Replace('\n', ' ')}; partitions by DROP rules, loss by the statistic match");
                }

                output += $"; but a rule cannot be added in a namespace: {ruleOutput}";
            }
            finally
            {
                _ = DeleteNamespace(probe);
            }
        }

        return (Firewall.BlackholeRoutes, $"{output.Replace('\n', ' ')}; partitions by blackhole routes, packet-loss faults left out");
    }

    [GeneratedRegex(@"^rkf(\d+)-")]
    private static partial Regex LeftoverName();
}
