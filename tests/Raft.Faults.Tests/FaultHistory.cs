using System.Diagnostics;
using System.Text.Json;
using Raft.Checking;

namespace Raft.Faults.Tests;

/// <summary>What a client did, as the report and the history file name it.</summary>
internal enum ClientOpKind
{
    Read,
    Write,
    CompareAndSet,

    /// <summary>A session write sent again with its sequence after it was answered: it must answer the same and change nothing.</summary>
    Repeat,
}

/// <summary>One client operation, from invocation to answer: a line of the history file.</summary>
/// <param name="Event">The invocation's and answer's positions in the history's one event order.</param>
internal sealed record ClientOpRecord(
    int Client,
    ClientOpKind Kind,
    string Key,
    ulong Value,
    ulong ExpectedVersion,
    ulong Sequence,
    long InvokedMs,
    long CompletedMs,
    long InvokedEvent,
    long CompletedEvent,
    RegisterOutcome Outcome,
    ulong Version,
    string? Error);

/// <summary>
/// The history of a run, shared by every client thread: each operation's invocation and answer as positions in one
/// event order (for <see cref="RegisterChecker"/>), every session answer (for <see cref="SessionChecker"/>), and a
/// record of each operation with its wall-clock time (for availability and the history file).
/// </summary>
internal sealed class FaultHistory
{
    private readonly Lock _gate = new();
    private readonly RegisterHistory _registers = new();
    private readonly List<ClientOpRecord> _records = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _events;

    public SessionChecker Sessions { get; } = new();

    public long NowMs => _clock.ElapsedMilliseconds;

    public IReadOnlyList<ClientOpRecord> Records
    {
        get
        {
            lock (_gate)
            {
                return [.. _records];
            }
        }
    }

    public IReadOnlyList<RegisterOp> Registers
    {
        get
        {
            lock (_gate)
            {
                return [.. _registers.Operations];
            }
        }
    }

    /// <summary>Records an invocation; the returned token completes it.</summary>
    public Invocation Invoke(int client, ClientOpKind kind, string key, ulong value = 0, ulong expectedVersion = 0, ulong sequence = 0)
    {
        lock (_gate)
        {
            var at = ++_events;
            var register = kind switch
            {
                ClientOpKind.Read => _registers.Invoke(client, key, RegisterOpKind.Get, at),
                ClientOpKind.Write => _registers.Invoke(client, key, RegisterOpKind.Put, at, value),
                ClientOpKind.CompareAndSet => _registers.Invoke(client, key, RegisterOpKind.PutIfVersion, at, value, expectedVersion),
                _ => -1,
            };
            return new Invocation(client, kind, key, value, expectedVersion, sequence, NowMs, at, register);
        }
    }

    /// <summary>Records the answer (or its absence: <see cref="RegisterOutcome.Unknown"/> leaves the operation open forever).</summary>
    /// <param name="version">A read's version, a write's new version, a failed precondition's current version.</param>
    /// <param name="readValue">A read's value.</param>
    public void Complete(Invocation invocation, RegisterOutcome outcome, ulong version = 0, ulong readValue = 0, string? error = null)
    {
        lock (_gate)
        {
            var at = ++_events;
            if (invocation.Register >= 0 && outcome != RegisterOutcome.Unknown)
            {
                _registers.Complete(invocation.Register, outcome, at, version, readValue);
            }

            var value = invocation.Kind == ClientOpKind.Read ? readValue : invocation.Value;
            _records.Add(new ClientOpRecord(
                invocation.Client, invocation.Kind, invocation.Key, value, invocation.ExpectedVersion, invocation.Sequence,
                invocation.InvokedMs, NowMs, invocation.Event, outcome == RegisterOutcome.Unknown ? 0 : at, outcome, version, error));
        }
    }

    /// <summary>An answer to a session write, first or repeated.</summary>
    public void OnSessionAnswer(string clientId, ulong sequence, string key, ulong value, SessionAnswer answer)
    {
        lock (_gate)
        {
            Sessions.OnAnswer(clientId, sequence, key, value, answer);
        }
    }

    /// <summary>Writes every operation, one JSON object a line, in the order they were answered.</summary>
    public void Save(string path)
    {
        using var writer = new StreamWriter(path);
        foreach (var record in Records)
        {
            writer.WriteLine(JsonSerializer.Serialize(record, HistoryJson.Default.ClientOpRecord));
        }
    }

    /// <summary>An operation on its way: what was asked and where it sits in the event order.</summary>
    internal readonly record struct Invocation(int Client, ClientOpKind Kind, string Key, ulong Value, ulong ExpectedVersion, ulong Sequence, long InvokedMs, long Event, int Register);
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(UseStringEnumConverter = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ClientOpRecord))]
internal sealed partial class HistoryJson : System.Text.Json.Serialization.JsonSerializerContext;
