using System.CommandLine;
using System.Diagnostics;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Cli;

/// <summary>
/// <c>lock NAME -- COMMAND...</c>: takes the lock (waiting for it), runs the command with the fencing token in
/// <c>RAFT_LOCK_TOKEN</c>, renews the lease while it runs, releases the lock when it ends, and exits with its exit
/// code. A lock lost meanwhile (its lease ran out unrenewed, another owner took it) stops the command and exits 1.
/// Without a command it holds the lock until Ctrl+C.
/// </summary>
internal static class LockCommand
{
    public const string TokenVariable = "RAFT_LOCK_TOKEN";
    public const string NameVariable = "RAFT_LOCK_NAME";
    public const string OwnerVariable = "RAFT_LOCK_OWNER";

    // The server's longest wait for a held lock (waitMs).
    private const int WaitSecondsMax = 60;

    public static void Add(RootCommand root, CliConsole console)
    {
        var name = new Argument<string>("name") { Description = "The lock's name" };
        var commandLine = new Argument<string[]>("command") { Description = "The command to run while holding the lock (after --)", Arity = ArgumentArity.ZeroOrMore, CaptureRemainingTokens = true };
        var ttl = new Option<double>("--ttl") { Description = "Seconds the lock outlives this process if it stops renewing (default 10)", DefaultValueFactory = _ => 10 };
        var wait = new Option<double>("--wait") { Description = $"Seconds to wait for a held lock, up to {WaitSecondsMax} (default 30; 0 fails at once)", DefaultValueFactory = _ => 30 };
        var owner = new Option<string?>("--owner") { Description = "The owner to take it as (default: raftctl@HOST:PID)" };
        var command = new Command("lock", "Hold a lock while a command runs, its fencing token in $" + TokenVariable) { name, commandLine, ttl, wait, owner };
        RaftCtl.SetAction(command, console, run => RunAsync(run, run.Value(name)!, run.Value(commandLine) ?? [], run.Value(ttl), run.Value(wait), run.Value(owner)));
        root.Subcommands.Add(command);
    }

    private static async Task<int> RunAsync(Invocation run, string name, string[] commandLine, double ttlSeconds, double waitSeconds, string? owner)
    {
        if (ttlSeconds is < 1 or > 86_400)
        {
            throw new UsageException("--ttl must be between 1 and 86400 seconds");
        }

        if (waitSeconds is < 0 or > WaitSecondsMax)
        {
            throw new UsageException($"--wait must be between 0 and {WaitSecondsMax} seconds");
        }

        owner ??= $"raftctl@{Environment.MachineName}:{Environment.ProcessId}";
        var ttl = TimeSpan.FromSeconds(ttlSeconds);
        var held = await run.Client.AcquireLockAsync(name, owner, ttl, waitSeconds > 0 ? TimeSpan.FromSeconds(waitSeconds) : null, run.CancellationToken).ConfigureAwait(false);
        using var lost = new CancellationTokenSource();
        using var stopRenewing = CancellationTokenSource.CreateLinkedTokenSource(run.CancellationToken);
        var renewing = RenewAsync(run, held, ttl, lost, stopRenewing.Token);
        int exit;
        try
        {
            if (commandLine.Length == 0)
            {
                await (run.Json
                    ? run.WriteJsonAsync(new LockResponse(held.Name, held.Owner, held.FencingToken, held.ExpiresAtMs), ProtocolJsonContext.Wire.LockResponse)
                    : run.WriteLineAsync($"holding '{held.Name}' as '{held.Owner}' with fencing token {Text.Number(held.FencingToken)}; Ctrl+C releases it")).ConfigureAwait(false);
                try
                {
                    await Task.Delay(Timeout.Infinite, lost.Token).WaitAsync(run.CancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (lost.IsCancellationRequested)
                {
                }
                catch (OperationCanceledException) when (run.CancellationToken.IsCancellationRequested)
                {
                }

                exit = ExitCodes.Ok;
            }
            else
            {
                exit = await RunHoldingAsync(run, held, commandLine, lost.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            await stopRenewing.CancelAsync().ConfigureAwait(false);
            await renewing.ConfigureAwait(false);
            if (!lost.IsCancellationRequested)
            {
                // Released even on Ctrl+C: a fresh budget, since the invocation's token is already cancelled.
                using var release = new CancellationTokenSource(run.Settings.Timeout);
                await run.Client.ReleaseLockAsync(held.Name, held.Owner, release.Token).ConfigureAwait(false);
            }
        }

        if (lost.IsCancellationRequested)
        {
            await run.Console.Error.WriteLineAsync($"raftctl: lock_lost: '{held.Name}' was lost while the command ran; it was stopped").ConfigureAwait(false);
            return ExitCodes.Refused;
        }

        if (run.Json && commandLine.Length > 0)
        {
            await run.WriteJsonAsync(new LockReport(held.Name, held.Owner, held.FencingToken, exit), CliJsonContext.Default.LockReport).ConfigureAwait(false);
        }

        return exit;
    }

    private static async Task<int> RunHoldingAsync(Invocation run, LockLease held, string[] commandLine, CancellationToken lost)
    {
        var info = new ProcessStartInfo(commandLine[0]) { UseShellExecute = false };
        foreach (var argument in commandLine.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment[TokenVariable] = Text.Number(held.FencingToken);
        info.Environment[NameVariable] = held.Name;
        info.Environment[OwnerVariable] = held.Owner;
        Process child;
        try
        {
            child = Process.Start(info) ?? throw new UsageException($"could not start '{commandLine[0]}'");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new UsageException($"could not start '{commandLine[0]}': {ex.Message}", ex);
        }

        using (child)
        {
            using var either = CancellationTokenSource.CreateLinkedTokenSource(lost, run.CancellationToken);
            try
            {
                await child.WaitForExitAsync(either.Token).ConfigureAwait(false);
                return child.ExitCode;
            }
            catch (OperationCanceledException)
            {
                // The lock is gone or the user pressed Ctrl+C: the command must not go on as if it held it.
                child.Kill(entireProcessTree: true);
                await child.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                run.CancellationToken.ThrowIfCancellationRequested();
                return ExitCodes.Refused;
            }
        }
    }

    // Renews at a third of the time to live; a refusal (another owner, not held), or no renewal for a whole time to
    // live, means the lock is lost.
    private static async Task RenewAsync(Invocation run, LockLease held, TimeSpan ttl, CancellationTokenSource lost, CancellationToken stop)
    {
        var lastRenewed = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(ttl / 3, stop).ConfigureAwait(false);
                await run.Client.RenewLockAsync(held.Name, held.Owner, ttl, stop).ConfigureAwait(false);
                lastRenewed = Stopwatch.GetTimestamp();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (RaftKvException ex) when (ExitCodes.For(ex) == ExitCodes.Refused)
            {
                await lost.CancelAsync().ConfigureAwait(false);
                return;
            }
            catch (RaftKvException)
            {
                if (Stopwatch.GetElapsedTime(lastRenewed) >= ttl)
                {
                    await lost.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
    }
}
