namespace Raft.Server;

/// <summary>
/// One executable, three commands: <c>Raft.Server [configuration]</c> runs one node; <c>Raft.Server cluster [options]</c>
/// starts and supervises N local nodes (what <c>run-cluster.sh</c> and <c>run-cluster.ps1</c> call);
/// <c>Raft.Server restore --snapshot FILE</c> prepares a data directory from a backup.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length > 0 && args[0] == "cluster")
        {
            return await Launcher.ClusterCommand.RunAsync(args[1..], Console.Out, CancellationToken.None).ConfigureAwait(false);
        }

        if (args.Length > 0 && args[0] == "restore")
        {
            return RestoreCommand.Run(args[1..], Console.Out);
        }

        // Before the node opens any socket: .NET reads these once, when its socket engine starts.
        NodeProcessDefaults.Apply(Environment.GetEnvironmentVariable, Environment.SetEnvironmentVariable);
        return await NodeHost.RunAsync(args).ConfigureAwait(false);
    }
}
