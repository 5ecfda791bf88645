using System.CommandLine;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Cli;

/// <summary><c>lease grant|keepalive|revoke</c>.</summary>
internal static class LeaseCommands
{
    public static void Add(RootCommand root, CliConsole console)
    {
        var lease = new Command("lease", "Grant, keep alive and revoke leases (keys and locks bound to one end with it)");
        lease.Subcommands.Add(Grant(console));
        lease.Subcommands.Add(KeepAlive(console));
        lease.Subcommands.Add(Revoke(console));
        root.Subcommands.Add(lease);
    }

    private static Command Grant(CliConsole console)
    {
        var ttl = new Argument<double>("ttl") { Description = "Seconds the lease lives unless kept alive, 1 to 86400" };
        var command = new Command("grant", "Grant a lease and print its id") { ttl };
        RaftCtl.SetAction(command, console, async run =>
        {
            var seconds = run.Value(ttl);
            if (seconds is < 1 or > 86_400)
            {
                throw new UsageException("a lease's ttl is between 1 and 86400 seconds");
            }

            var granted = await run.Client.GrantLeaseAsync(TimeSpan.FromSeconds(seconds), run.CancellationToken).ConfigureAwait(false);
            await WriteAsync(run, granted, "granted").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command KeepAlive(CliConsole console)
    {
        var id = new Argument<ulong>("id") { Description = "The lease's id" };
        var once = new Option<bool>("--once") { Description = "Renew once and exit (default: renew at a third of the ttl until Ctrl+C)" };
        var command = new Command("keepalive", "Keep a lease alive") { id, once };
        RaftCtl.SetAction(command, console, async run =>
        {
            while (true)
            {
                var renewed = await run.Client.KeepAliveAsync(run.Value(id), run.CancellationToken).ConfigureAwait(false);
                await WriteAsync(run, renewed, "kept alive").ConfigureAwait(false);
                if (run.Value(once))
                {
                    return ExitCodes.Ok;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(renewed.TtlMs) / 3, run.CancellationToken).ConfigureAwait(false);
            }
        });
        return command;
    }

    private static Command Revoke(CliConsole console)
    {
        var id = new Argument<ulong>("id") { Description = "The lease's id" };
        var command = new Command("revoke", "End a lease now: its keys are deleted and its locks released") { id };
        RaftCtl.SetAction(command, console, async run =>
        {
            var lease = run.Value(id);
            var revoked = await run.Client.RevokeLeaseAsync(lease, run.CancellationToken).ConfigureAwait(false);
            await (run.Json
                ? run.WriteJsonAsync(new RevokeReport(lease, revoked), CliJsonContext.Default.RevokeReport)
                : run.WriteLineAsync(revoked ? $"lease {Text.Number(lease)} revoked" : $"no lease {Text.Number(lease)}")).ConfigureAwait(false);
            return revoked ? ExitCodes.Ok : ExitCodes.Refused;
        });
        return command;
    }

    private static Task WriteAsync(Invocation run, KvLease lease, string what) => run.Json
        ? run.WriteJsonAsync(new LeaseResponse(lease.Id, lease.TtlMs, lease.ExpiresAtMs), ProtocolJsonContext.Wire.LeaseResponse)
        : run.WriteLineAsync($"lease {Text.Number(lease.Id)} {what}: ttl {Text.Number(lease.TtlMs / 1000)} s, expires {Text.Time(lease.ExpiresAtMs)}");
}
