namespace Raft.Server.Launcher;

/// <summary>The <c>cluster</c> command: starts N local nodes, reports the leader, stops them all on Ctrl+C or SIGTERM.</summary>
public static class ClusterCommand
{
    public static Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        throw new NotSupportedException("the launcher is being assembled");
    }
}
