using System.CommandLine;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Cli;

/// <summary><c>get</c>, <c>put</c>, <c>del</c>, <c>ls</c>, <c>watch</c> and <c>txn</c>.</summary>
internal static class KvCommands
{
    public static void Add(RootCommand root, CliConsole console)
    {
        root.Subcommands.Add(Get(console));
        root.Subcommands.Add(Put(console));
        root.Subcommands.Add(Delete(console));
        root.Subcommands.Add(List(console));
        root.Subcommands.Add(Watch(console));
        root.Subcommands.Add(TxnCommand.Create(console));
    }

    private static Command Get(CliConsole console)
    {
        var key = new Argument<string>("key") { Description = "The key" };
        var consistency = new Option<string>("--consistency") { Description = "linearizable (default), lease or stale", DefaultValueFactory = _ => "linearizable" };
        consistency.AcceptOnlyFromAmong("linearizable", "lease", "stale");
        var command = new Command("get", "Print a key's value (exit 1 when it does not exist)") { key, consistency };
        RaftCtl.SetAction(command, console, async run =>
        {
            var level = run.Value(consistency) switch
            {
                "lease" => Consistency.Lease,
                "stale" => Consistency.Stale,
                _ => Consistency.Linearizable,
            };
            var name = run.Value(key)!;
            var entry = await run.Client.GetAsync(name, level, run.CancellationToken).ConfigureAwait(false);
            if (entry is null)
            {
                throw new RaftKvException(System.Net.HttpStatusCode.NotFound, ErrorCodes.NotFound, $"no key '{name}'");
            }

            if (run.Json)
            {
                await run.WriteJsonAsync(new ListItem(entry.Key, entry.Value, entry.Version, entry.CreateIndex), ProtocolJsonContext.Wire.ListItem).ConfigureAwait(false);
            }
            else
            {
                // The bytes as stored, so `raftctl get k > file` gives the value back; a terminal gets a newline after it.
                await run.Console.WriteRawAsync(entry.Value, run.CancellationToken).ConfigureAwait(false);
                if (!Console.IsOutputRedirected)
                {
                    await run.WriteLineAsync(string.Empty).ConfigureAwait(false);
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Put(CliConsole console)
    {
        var key = new Argument<string>("key") { Description = "The key" };
        var value = new Argument<string?>("value") { Description = "The value (UTF-8); without it, --file or standard input", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<string?>("--file", "-f") { Description = "Read the value from this file ('-' for standard input)" };
        var lease = new Option<ulong?>("--lease") { Description = "Bind the key to this lease: it is deleted when the lease ends" };
        var ifVersion = new Option<ulong?>("--if-version") { Description = "Write only if the key is at this version (0: only if it does not exist)" };
        var command = new Command("put", "Store a value under a key") { key, value, file, lease, ifVersion };
        RaftCtl.SetAction(command, console, async run =>
        {
            var bytes = await ReadValueAsync(run, run.Value(value), run.Value(file)).ConfigureAwait(false);
            var name = run.Value(key)!;
            PutResult result;
            if (run.Value(lease) is { } leaseId)
            {
                if (run.Value(ifVersion) is not null)
                {
                    throw new UsageException("--lease and --if-version cannot be combined; use txn for a conditional put with a lease");
                }

                result = await run.Client.PutAsync(name, bytes, leaseId, run.CancellationToken).ConfigureAwait(false);
            }
            else if (run.Value(ifVersion) is { } expected)
            {
                result = await run.Client.CompareAndSetAsync(name, bytes, expected, run.CancellationToken).ConfigureAwait(false);
            }
            else
            {
                result = await run.Client.PutAsync(name, bytes, run.CancellationToken).ConfigureAwait(false);
            }

            await (run.Json
                ? run.WriteJsonAsync(new PutResponse(result.Index, result.Version), ProtocolJsonContext.Wire.PutResponse)
                : run.WriteLineAsync($"OK index {Text.Number(result.Index)} version {Text.Number(result.Version)}")).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<byte[]> ReadValueAsync(Invocation run, string? argument, string? file)
    {
        if (argument is not null && file is not null)
        {
            throw new UsageException("give the value as an argument or with --file, not both");
        }

        if (argument is not null)
        {
            return System.Text.Encoding.UTF8.GetBytes(argument);
        }

        if (file is not null and not "-")
        {
            try
            {
                return await File.ReadAllBytesAsync(file, run.CancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"cannot read '{file}': {ex.Message}", ex);
            }
        }

        using var input = run.Console.OpenInput();
        using var buffer = new MemoryStream();
        await input.CopyToAsync(buffer, run.CancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private static Command Delete(CliConsole console)
    {
        var key = new Argument<string>("key") { Description = "The key, or with --prefix the prefix" };
        var ifVersion = new Option<ulong?>("--if-version") { Description = "Delete only if the key is at this version" };
        var prefix = new Option<bool>("--prefix") { Description = "Delete every key that starts with the argument, in one transaction" };
        var command = new Command("del", "Delete a key (exit 1 when it did not exist)") { key, ifVersion, prefix };
        RaftCtl.SetAction(command, console, async run =>
        {
            var name = run.Value(key)!;
            if (run.Value(prefix))
            {
                var txn = await run.Client.TxnAsync(new Transaction().ThenDeletePrefix(name), run.CancellationToken).ConfigureAwait(false);
                var deleted = txn.Results.Sum(r => (long)r.Deleted);
                await (run.Json
                    ? run.WriteJsonAsync(new DeleteResponse(txn.Index, deleted > 0), ProtocolJsonContext.Wire.DeleteResponse)
                    : run.WriteLineAsync($"deleted {Text.Number(deleted)} keys under '{name}' at index {Text.Number(txn.Index)}")).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var result = run.Value(ifVersion) is { } expected
                ? await run.Client.CompareAndDeleteAsync(name, expected, run.CancellationToken).ConfigureAwait(false)
                : await run.Client.DeleteAsync(name, run.CancellationToken).ConfigureAwait(false);
            await (run.Json
                ? run.WriteJsonAsync(new DeleteResponse(result.Index, result.Deleted), ProtocolJsonContext.Wire.DeleteResponse)
                : run.WriteLineAsync(result.Deleted ? $"deleted '{name}' at index {Text.Number(result.Index)}" : $"no key '{name}' (index {Text.Number(result.Index)})")).ConfigureAwait(false);
            return result.Deleted ? ExitCodes.Ok : ExitCodes.Refused;
        });
        return command;
    }

    private static Command List(CliConsole console)
    {
        var prefix = new Argument<string>("prefix") { Description = "List keys that start with this (default: every key)", Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => string.Empty };
        var limit = new Option<int>("--limit") { Description = "Keys per page, 1 to 10000 (default 100)", DefaultValueFactory = _ => 100 };
        var after = new Option<string?>("--after") { Description = "Start after this key: the 'next' of the previous page" };
        var keysOnly = new Option<bool>("--keys-only") { Description = "Leave the values out" };
        var all = new Option<bool>("--all") { Description = "Walk every page instead of printing one" };
        var command = new Command("ls", "List keys by prefix, one page at a time (or --all)") { prefix, limit, after, keysOnly, all };
        RaftCtl.SetAction(command, console, async run =>
        {
            var pageSize = run.Value(limit);
            if (pageSize is < 1 or > 10_000)
            {
                throw new UsageException($"--limit must be between 1 and 10000 (got {Text.Number(pageSize)})");
            }

            List<KvEntry> items;
            string? next = null;
            ulong index = 0;
            if (run.Value(all))
            {
                items = [];
                await foreach (var entry in run.Client.ListAllAsync(run.Value(prefix)!, pageSize, run.Value(keysOnly), run.CancellationToken).ConfigureAwait(false))
                {
                    items.Add(entry);
                }
            }
            else
            {
                var page = await run.Client.ListAsync(run.Value(prefix)!, pageSize, run.Value(after), run.Value(keysOnly), run.CancellationToken).ConfigureAwait(false);
                (items, next, index) = ([.. page.Items], page.More ? page.Next : null, page.Index);
            }

            if (run.Json)
            {
                var listed = new ListResponse([.. items.Select(i => new ListItem(i.Key, run.Value(keysOnly) ? null : i.Value, i.Version, i.CreateIndex))], next is not null, index) { Next = next };
                await run.WriteJsonAsync(listed, ProtocolJsonContext.Wire.ListResponse).ConfigureAwait(false);
            }
            else
            {
                var rows = items.Select(i => (IReadOnlyList<string>)(run.Value(keysOnly)
                    ? [i.Key, Text.Number(i.Version)]
                    : [i.Key, Text.Number(i.Version), Text.Show(i.Value)]));
                Table.Write(run.Console.Out, run.Value(keysOnly) ? ["KEY", "VERSION"] : ["KEY", "VERSION", "VALUE"], rows);
                if (next is not null)
                {
                    await run.Console.Error.WriteLineAsync($"more keys: go on with --after '{next}'").ConfigureAwait(false);
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Watch(CliConsole console)
    {
        var prefix = new Argument<string>("prefix") { Description = "Watch keys that start with this (with --key: this one key)", Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => string.Empty };
        var key = new Option<bool>("--key") { Description = "Watch the argument as one key, not a prefix" };
        var fromIndex = new Option<ulong?>("--from-index") { Description = "Print changes after this log index (default: from now)" };
        var count = new Option<int?>("--count") { Description = "Stop after this many changes (default: until Ctrl+C)" };
        var command = new Command("watch", "Print changes under a prefix as they happen, going on through failover") { prefix, key, fromIndex, count };
        RaftCtl.SetAction(command, console, async run =>
        {
            var name = run.Value(prefix)!;
            var events = run.Value(key)
                ? run.Client.WatchKeyAsync(name, run.Value(fromIndex), run.CancellationToken)
                : run.Client.WatchPrefixAsync(name, run.Value(fromIndex), run.CancellationToken);
            var left = run.Value(count) ?? int.MaxValue;
            if (left < 1)
            {
                throw new UsageException("--count must be positive");
            }

            await foreach (var change in events.ConfigureAwait(false))
            {
                if (run.Json)
                {
                    var wire = new WatchChangeResponse(change.Key, change.Deleted ? "delete" : "put", change.Value, change.Deleted ? null : change.Version, change.Deleted ? null : change.CreateIndex, change.Lease == 0 ? null : change.Lease);
                    await run.WriteJsonAsync(new WatchEventResponse(change.Index, [wire]), ProtocolJsonContext.Wire.WatchEventResponse).ConfigureAwait(false);
                }
                else
                {
                    await run.WriteLineAsync(change.Deleted
                        ? $"{Text.Number(change.Index)} DELETE {change.Key}"
                        : $"{Text.Number(change.Index)} PUT {change.Key} {Text.Show(change.Value)}").ConfigureAwait(false);
                }

                if (--left == 0)
                {
                    break;
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
