using System.Globalization;
using System.Net;

namespace Raft.DotNextNode;

/// <summary>
/// The command line of a node:
/// <c>--node N --http-port P --peers HOST:PORT,HOST:PORT,... --data DIR [--heartbeat-ms 50] [--election-ms 300]
/// [--election-jitter-ms 100]</c>. <c>--peers</c> lists every member's Raft TCP endpoint in node order; node N listens
/// on the Nth. The timing defaults are our nodes' (heartbeat 50 ms, election timeout drawn from [300, 400) ms).
/// </summary>
internal sealed record NodeArguments(int Node, int HttpPort, IReadOnlyList<IPEndPoint> Peers, string DataDirectory, int HeartbeatMs, int ElectionMs, int ElectionJitterMs)
{
    public const string Usage =
        "usage: Raft.DotNextNode --node N --http-port P --peers HOST:PORT,HOST:PORT,... --data DIR " +
        "[--heartbeat-ms 50] [--election-ms 300] [--election-jitter-ms 100]";

    public IPEndPoint RaftEndPoint => Peers[Node - 1];

    /// <summary>DotNext's election timeout range [lower, upper) in ms.</summary>
    public int UpperElectionMs => ElectionMs + ElectionJitterMs;

    /// <summary>DotNext derives its heartbeat as the lower election timeout times this threshold.</summary>
    public double HeartbeatThreshold => (double)HeartbeatMs / ElectionMs;

    public static bool TryParse(IReadOnlyList<string> args, out NodeArguments? parsed, out string error)
    {
        ArgumentNullException.ThrowIfNull(args);
        parsed = null;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i += 2)
        {
            if (args[i] is not ("--node" or "--http-port" or "--peers" or "--data" or "--heartbeat-ms" or "--election-ms" or "--election-jitter-ms"))
            {
                error = $"unknown argument '{args[i]}'";
                return false;
            }

            if (i + 1 >= args.Count)
            {
                error = $"{args[i]} needs a value";
                return false;
            }

            values[args[i]] = args[i + 1];
        }

        foreach (var required in (string[])["--node", "--http-port", "--peers", "--data"])
        {
            if (!values.ContainsKey(required))
            {
                error = $"{required} is required";
                return false;
            }
        }

        var peers = new List<IPEndPoint>();
        foreach (var peer in values["--peers"].Split(',', StringSplitOptions.TrimEntries))
        {
            if (!IPEndPoint.TryParse(peer, out var endPoint) || endPoint.Port == 0)
            {
                error = $"--peers: '{peer}' is not an IP address and port";
                return false;
            }

            peers.Add(endPoint);
        }

        if (peers.Distinct().Count() != peers.Count)
        {
            error = "--peers names an endpoint twice";
            return false;
        }

        if (!Number(values, "--node", 1, peers.Count, null, out var node, out error)
            || !Number(values, "--http-port", 1, 65_535, null, out var httpPort, out error)
            || !Number(values, "--heartbeat-ms", 1, 10_000, 50, out var heartbeat, out error)
            || !Number(values, "--election-ms", 2, 60_000, 300, out var election, out error)
            || !Number(values, "--election-jitter-ms", 1, 60_000, 100, out var jitter, out error))
        {
            return false;
        }

        if (heartbeat >= election)
        {
            error = $"--heartbeat-ms ({heartbeat}) must be shorter than --election-ms ({election})";
            return false;
        }

        parsed = new NodeArguments(node, httpPort, peers, Path.GetFullPath(values["--data"]), heartbeat, election, jitter);
        return true;
    }

    private static bool Number(Dictionary<string, string> values, string name, int min, int max, int? fallback, out int result, out string error)
    {
        error = string.Empty;
        if (!values.TryGetValue(name, out var text) && fallback is { } value)
        {
            result = value;
            return true;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out result) && result >= min && result <= max)
        {
            return true;
        }

        error = $"{name} must be an integer from {min} to {max} (got '{text}')";
        return false;
    }
}
