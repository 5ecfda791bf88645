using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Cli;

/// <summary>
/// raftctl: every command, its options, and the one place an outcome becomes an exit code (0 ok, 1 refused or not
/// found, 2 usage, 3 unavailable).
/// </summary>
internal static class RaftCtl
{
    private static readonly Option<string?> EndpointsOption = new("--endpoints")
    {
        Description = $"Comma-separated node URLs (default: ${CliSettings.EndpointsVariable}, the config file, or {CliSettings.DefaultEndpoints})",
        Recursive = true,
    };

    private static readonly Option<string?> TokenOption = new("--token") { Description = $"API token sent as Authorization: Bearer (default: ${CliSettings.TokenVariable})", Recursive = true };

    private static readonly Option<string?> CaCertOption = new("--cacert") { Description = $"PEM file of the CA an https:// node's certificate must chain to, e.g. DIR/tls/ca.pem of a cluster started with --tls (default: ${CliSettings.CaCertVariable})", Recursive = true };

    private static readonly Option<string?> OutputOption = new("--output", "-o") { Description = "table (default) or json", Recursive = true };

    private static readonly Option<string?> ConfigOption = new("--config") { Description = $"Config file (default: ${CliSettings.ConfigVariable}, or ~/.config/raftctl/config.json if it exists)", Recursive = true };

    private static readonly Option<double?> TimeoutOption = new("--timeout") { Description = "Seconds to keep retrying through failover before giving up with exit 3 (default 15)", Recursive = true };

    public static async Task<int> RunAsync(string[] args, CliConsole console)
    {
        var root = new RootCommand("raftctl: the command-line client of the Raft key-value store.")
        {
            EndpointsOption, TokenOption, CaCertOption, OutputOption, ConfigOption, TimeoutOption,
        };
        KvCommands.Add(root, console);
        LockCommand.Add(root, console);
        LeaseCommands.Add(root, console);
        ClusterCommands.Add(root, console);

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                await console.Error.WriteLineAsync($"raftctl: {error.Message}").ConfigureAwait(false);
            }

            await console.Error.WriteLineAsync("run 'raftctl --help' for the commands and options").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        var exit = await parse.InvokeAsync(new InvocationConfiguration { Output = console.Out, Error = console.Error }).ConfigureAwait(false);
        return exit;
    }

    /// <summary>
    /// Sets <paramref name="command"/>'s action: resolve the settings, make a client, run <paramref name="body"/>, and
    /// turn what it throws into a message on standard error and an exit code.
    /// </summary>
    public static void SetAction(Command command, CliConsole console, Func<Invocation, Task<int>> body)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            CliSettings? settings = null;
            try
            {
                settings = CliSettings.Resolve(
                    parse.GetValue(EndpointsOption), parse.GetValue(TokenOption), parse.GetValue(CaCertOption), parse.GetValue(OutputOption), parse.GetValue(ConfigOption), parse.GetValue(TimeoutOption), console.Environment);
                using var client = settings.CreateClient();
                return await body(new Invocation(parse, settings, client, console, cancellationToken)).ConfigureAwait(false);
            }
            catch (RaftKvException ex)
            {
                await ReportAsync(console, settings, ex.ErrorCode, ex.Detail ?? ex.Message).ConfigureAwait(false);
                return ExitCodes.For(ex);
            }
            catch (RefusedException ex)
            {
                await ReportAsync(console, settings, ex.Code, ex.Message).ConfigureAwait(false);
                return ExitCodes.Refused;
            }
            catch (UsageException ex)
            {
                await ReportAsync(console, settings, "usage", ex.Message).ConfigureAwait(false);
                return ExitCodes.Usage;
            }
            catch (ArgumentException ex)
            {
                // The client checks its arguments (an empty key, a lease id of 0) before sending anything.
                await ReportAsync(console, settings, "usage", ex.Message).ConfigureAwait(false);
                return ExitCodes.Usage;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl+C or SIGTERM: a watch or a held lock ends here, after its cleanup ran.
                return ExitCodes.Ok;
            }
        });
    }

    // An error in the output's form: a sentence for people, the API's error shape for JSON.
    private static Task ReportAsync(CliConsole console, CliSettings? settings, string code, string detail) =>
        settings?.Output == OutputFormat.Json
            ? console.Error.WriteLineAsync(JsonSerializer.Serialize(new ErrorBody(code, detail), ProtocolJsonContext.Wire.ErrorBody))
            : console.Error.WriteLineAsync($"raftctl: {code}: {detail}");
}

/// <summary>One command's run: what was parsed, the settings, a client, where to write, and Ctrl+C.</summary>
internal sealed record Invocation(ParseResult Parse, CliSettings Settings, RaftKvClient Client, CliConsole Console, CancellationToken CancellationToken)
{
    public bool Json => Settings.Output == OutputFormat.Json;

    public T? Value<T>(Option<T> option) => Parse.GetValue(option);

    public T? Value<T>(Argument<T> argument) => Parse.GetValue(argument);

    public Task WriteJsonAsync<T>(T value, JsonTypeInfo<T> type) => Console.Out.WriteLineAsync(JsonSerializer.Serialize(value, type));

    public Task WriteLineAsync(string line) => Console.Out.WriteLineAsync(line);
}
