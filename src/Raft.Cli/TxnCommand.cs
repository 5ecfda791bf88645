using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Cli;

/// <summary>
/// <c>txn</c>: a transaction read from a file or standard input, either the API's JSON body (values in base64) or a
/// line form, one compare or operation per line (values as the rest of the line, in UTF-8):
/// <code>
/// if version stock/apples = 5        # also: if create KEY OP N, if value KEY OP TEXT, if exists KEY, if missing KEY
/// then put stock/apples 9            # also: then delete KEY, then delete-prefix PREFIX, then get KEY
/// else get stock/apples              # the same operations, applied when a compare fails
/// </code>
/// </summary>
internal static class TxnCommand
{
    public static Command Create(CliConsole console)
    {
        var file = new Option<string?>("--file", "-f") { Description = "Read the transaction from this file (default: standard input)" };
        var command = new Command("txn", "Apply compares and operations as one entry, from JSON (the API's body) or the line form") { file };
        RaftCtl.SetAction(command, console, async run =>
        {
            var source = run.Value(file);
            string text;
            if (source is null or "-")
            {
                using var reader = new StreamReader(run.Console.OpenInput(), Encoding.UTF8);
                text = await reader.ReadToEndAsync(run.CancellationToken).ConfigureAwait(false);
            }
            else
            {
                try
                {
                    text = await File.ReadAllTextAsync(source, run.CancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw new UsageException($"cannot read '{source}': {ex.Message}", ex);
                }
            }

            var result = await run.Client.TxnAsync(Parse(text), run.CancellationToken).ConfigureAwait(false);
            if (run.Json)
            {
                var results = result.Results.Select(r => new TxnOpResult(r.Op, r.Op == "get" ? r.Found : null, r.Version == 0 ? null : r.Version, r.CreateIndex == 0 ? null : r.CreateIndex, r.Op.StartsWith("delete", StringComparison.Ordinal) ? r.Deleted : null, r.Value));
                await run.WriteJsonAsync(new TxnResponse(result.Succeeded, result.Index, [.. results]), ProtocolJsonContext.Wire.TxnResponse).ConfigureAwait(false);
            }
            else
            {
                await run.WriteLineAsync($"{(result.Succeeded ? "SUCCEEDED" : "FAILED")} at index {Text.Number(result.Index)}").ConfigureAwait(false);
                foreach (var r in result.Results)
                {
                    await run.WriteLineAsync(r.Op switch
                    {
                        "get" when r.Found => $"get: version {Text.Number(r.Version)} value {Text.Show(r.Value)}",
                        "get" => "get: not found",
                        "put" => $"put: version {Text.Number(r.Version)}",
                        _ => $"{r.Op}: {Text.Number(r.Deleted)} deleted",
                    }).ConfigureAwait(false);
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The transaction in <paramref name="text"/>; a <see cref="UsageException"/> naming the line that does not read.</summary>
    public static Transaction Parse(string text)
    {
        if (text.TrimStart().StartsWith('{'))
        {
            try
            {
                return Transaction.FromRequest(JsonSerializer.Deserialize(text, ProtocolJsonContext.Wire.TxnRequest) ?? throw new UsageException("the transaction is null"));
            }
            catch (JsonException ex)
            {
                throw new UsageException($"the transaction is not the API's JSON body: {ex.Message}", ex);
            }
        }

        var transaction = new Transaction();
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            var comment = line.IndexOf(" #", StringComparison.Ordinal);
            line = (line.TrimStart().StartsWith('#') ? string.Empty : comment >= 0 ? line[..comment] : line).Trim();
            if (line.Length == 0)
            {
                continue;
            }

            try
            {
                ParseLine(transaction, line);
            }
            catch (Exception ex) when (ex is UsageException or ArgumentException or FormatException or OverflowException)
            {
                throw new UsageException($"line {lineNumber.ToString(CultureInfo.InvariantCulture)} ('{line}'): {ex.Message}", ex);
            }
        }

        return transaction;
    }

    private static void ParseLine(Transaction transaction, string line)
    {
        var words = line.Split(' ', 4, StringSplitOptions.RemoveEmptyEntries);
        string Word(int i) => i < words.Length ? words[i] : throw new UsageException("too few words");
        switch (Word(0))
        {
            case "if":
                var what = Word(1);
                var key = Word(2);
                switch (what)
                {
                    case "exists":
                        transaction.IfExists(key);
                        return;
                    case "missing":
                        transaction.IfMissing(key);
                        return;
                }

                var rest = Word(3).Split(' ', 2, StringSplitOptions.TrimEntries);
                var op = rest[0] switch
                {
                    "=" or "==" => CompareOp.Equal,
                    "!=" => CompareOp.NotEqual,
                    "<" => CompareOp.Less,
                    ">" => CompareOp.Greater,
                    var other => throw new UsageException($"'{other}' is not a compare: use =, !=, < or >"),
                };
                var operand = rest.Length > 1 ? rest[1] : throw new UsageException("the compare has no operand");
                _ = what switch
                {
                    "version" => transaction.IfVersion(key, ulong.Parse(operand, NumberStyles.None, CultureInfo.InvariantCulture), op),
                    "create" => transaction.IfCreateIndex(key, ulong.Parse(operand, NumberStyles.None, CultureInfo.InvariantCulture), op),
                    "value" => transaction.IfValue(key, operand, op),
                    _ => throw new UsageException($"'{what}' is not something to compare: use version, create, value, exists or missing"),
                };
                return;
            case "then" or "else":
                var success = words[0] == "then";
                var target = Word(2);
                _ = Word(1) switch
                {
                    "put" => success ? transaction.ThenPut(target, Word(3)) : transaction.ElsePut(target, Word(3)),
                    "delete" => success ? transaction.ThenDelete(target) : transaction.ElseDelete(target),
                    "delete-prefix" => success ? transaction.ThenDeletePrefix(target) : transaction.ElseDeletePrefix(target),
                    "get" => success ? transaction.ThenGet(target) : transaction.ElseGet(target),
                    var other => throw new UsageException($"'{other}' is not an operation: use put, delete, delete-prefix or get"),
                };
                return;
            default:
                throw new UsageException("a line starts with if, then or else");
        }
    }
}
