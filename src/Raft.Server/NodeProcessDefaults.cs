namespace Raft.Server;

/// <summary>
/// How a node process runs its IO threads, set before it opens its first socket, where its environment does not say
/// otherwise: socket continuations run on the socket engine's threads rather than being queued to the thread pool
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>). The other half, idle thread-pool workers that sleep at once
/// instead of spinning and yielding (<c>System.Threading.ThreadPool.UnfairSemaphoreSpinLimit</c> 0), is in the
/// project file, since .NET reads it from the runtime configuration when the pool starts; the environment variable
/// <c>DOTNET_ThreadPool_UnfairSemaphoreSpinLimit</c> (hexadecimal) overrides it.
/// </summary>
/// <remarks>
/// A message between nodes and a client's request each cross several threads; every crossing is a wake-up that must
/// wait for a core. Run inline, a peer's frame is decoded and queued to the node's thread by the thread that saw it
/// arrive, one wake-up fewer per message. A spinning idle worker yields its core over and over, which on a busy host
/// gives it to another process for a whole time slice. Both measured in the README (Performance, Contention).
/// What runs inline is short: a peer's frames are decoded and queued; Kestrel passes its reads to its own queues as
/// before, and the HTTP handlers run on the thread pool.
/// </remarks>
internal static class NodeProcessDefaults
{
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Sets what the environment leaves unset; <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0</c> keeps .NET's dispatch.</summary>
    public static void Apply(Func<string, string?> read, Action<string, string> write)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(write);
        if (string.IsNullOrEmpty(read(InlineCompletionsVariable)))
        {
            write(InlineCompletionsVariable, "1");
        }
    }
}
