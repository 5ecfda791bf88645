namespace Raft.Server;

/// <summary>Runs one node: configuration, storage, transport, the node loop and the HTTP API.</summary>
public static class NodeHost
{
    public static Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        throw new NotSupportedException("the node host is being assembled");
    }
}
