namespace Raft.FailoverBench.Targets;

/// <summary>A cluster that serves watches (ours): where node <c>n</c> streams the changes under a prefix.</summary>
internal interface IWatchTarget : IBenchTarget
{
    /// <summary><c>GET</c> of this streams, as newline-delimited JSON, every change under <paramref name="prefix"/> from now on.</summary>
    Uri WatchUri(int node, string prefix);
}
