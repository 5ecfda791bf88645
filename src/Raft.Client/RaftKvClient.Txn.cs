using System.Text.Json;
using Raft.Protocol;

namespace Raft.Client;

/// <summary>How a transaction's compare relates what it reads to its operand.</summary>
public enum CompareOp
{
    /// <summary>What the compare reads equals the operand.</summary>
    Equal,

    /// <summary>What the compare reads differs from the operand.</summary>
    NotEqual,

    /// <summary>What the compare reads is below the operand (values: bytewise).</summary>
    Less,

    /// <summary>What the compare reads is above the operand (values: bytewise).</summary>
    Greater,
}

/// <summary>
/// A transaction for <see cref="RaftKvClient.TxnAsync"/>: compares (<c>If…</c>), the operations to apply when every
/// compare holds (<c>Then…</c>), and those to apply otherwise (<c>Else…</c>). The cluster applies one list, in order,
/// each operation seeing what the ones before it did, as one log entry: no reader sees part of it.
/// </summary>
public sealed class Transaction
{
    private readonly List<TxnCompare> _compare = [];
    private readonly List<TxnOperation> _success = [];
    private readonly List<TxnOperation> _failure = [];

    /// <summary>Holds when <paramref name="key"/>'s version relates to <paramref name="version"/> by <paramref name="op"/> (an absent key is at version 0).</summary>
    public Transaction IfVersion(string key, ulong version, CompareOp op = CompareOp.Equal) => If(new TxnCompare(Key(key), OpName(op), Version: version));

    /// <summary>Holds when the index that created <paramref name="key"/> relates to <paramref name="index"/> by <paramref name="op"/> (0 when absent).</summary>
    public Transaction IfCreateIndex(string key, ulong index, CompareOp op = CompareOp.Equal) => If(new TxnCompare(Key(key), OpName(op), CreateIndex: index));

    /// <summary>Holds when <paramref name="key"/>'s value relates to <paramref name="value"/> bytewise by <paramref name="op"/>; never for an absent key.</summary>
    public Transaction IfValue(string key, ReadOnlyMemory<byte> value, CompareOp op = CompareOp.Equal) => If(new TxnCompare(Key(key), OpName(op), Value: value.ToArray()));

    /// <summary>Holds when <paramref name="key"/>'s value relates to <paramref name="value"/> (as UTF-8) by <paramref name="op"/>.</summary>
    public Transaction IfValue(string key, string value, CompareOp op = CompareOp.Equal) => IfValue(key, Utf8(value), op);

    /// <summary>Holds when <paramref name="key"/> exists.</summary>
    public Transaction IfExists(string key) => If(new TxnCompare(Key(key), Exists: true));

    /// <summary>Holds when <paramref name="key"/> does not exist.</summary>
    public Transaction IfMissing(string key) => If(new TxnCompare(Key(key), Exists: false));

    /// <summary>When every compare holds, stores <paramref name="value"/> under <paramref name="key"/>.</summary>
    public Transaction ThenPut(string key, ReadOnlyMemory<byte> value) => Add(_success, "put", key, value.ToArray());

    /// <summary>When every compare holds, stores <paramref name="value"/> (as UTF-8) under <paramref name="key"/>.</summary>
    public Transaction ThenPut(string key, string value) => Add(_success, "put", key, Utf8(value));

    /// <summary>Puts <paramref name="value"/> as UTF-8, bound to <paramref name="lease"/>, when every compare holds (the election recipe: <c>IfMissing(k).ThenPut(k, me, lease)</c>).</summary>
    public Transaction ThenPut(string key, string value, ulong lease) => Add(_success, "put", key, Utf8(value), lease);

    /// <summary>When every compare holds, removes <paramref name="key"/>.</summary>
    public Transaction ThenDelete(string key) => Add(_success, "delete", key, null);

    /// <summary>When every compare holds, removes every key that starts with <paramref name="prefix"/> (not empty).</summary>
    public Transaction ThenDeletePrefix(string prefix) => Add(_success, "deletePrefix", prefix, null);

    /// <summary>When every compare holds, reads <paramref name="key"/> as the operations before it left it.</summary>
    public Transaction ThenGet(string key) => Add(_success, "get", key, null);

    /// <summary>When a compare fails, stores <paramref name="value"/> under <paramref name="key"/>.</summary>
    public Transaction ElsePut(string key, ReadOnlyMemory<byte> value) => Add(_failure, "put", key, value.ToArray());

    /// <summary>When a compare fails, stores <paramref name="value"/> (as UTF-8) under <paramref name="key"/>.</summary>
    public Transaction ElsePut(string key, string value) => Add(_failure, "put", key, Utf8(value));

    /// <summary>Puts <paramref name="value"/> as UTF-8, bound to <paramref name="lease"/>, when a compare fails.</summary>
    public Transaction ElsePut(string key, string value, ulong lease) => Add(_failure, "put", key, Utf8(value), lease);

    /// <summary>When a compare fails, removes <paramref name="key"/>.</summary>
    public Transaction ElseDelete(string key) => Add(_failure, "delete", key, null);

    /// <summary>When a compare fails, removes every key that starts with <paramref name="prefix"/> (not empty).</summary>
    public Transaction ElseDeletePrefix(string prefix) => Add(_failure, "deletePrefix", prefix, null);

    /// <summary>When a compare fails, reads <paramref name="key"/> as the operations before it left it.</summary>
    public Transaction ElseGet(string key) => Add(_failure, "get", key, null);

    /// <summary>
    /// A transaction with the compares and operations of <paramref name="request"/>, the API's <c>POST /v1/txn</c> body as
    /// written by hand (a file for <c>raftctl txn</c>); the cluster checks them as it checks any transaction.
    /// </summary>
    /// <param name="request">The body, as <see cref="ProtocolJsonContext"/> reads it.</param>
    /// <returns>The transaction, to send with <see cref="RaftKvClient.TxnAsync"/>.</returns>
    public static Transaction FromRequest(TxnRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var transaction = new Transaction();
        transaction._compare.AddRange(request.Compare ?? []);
        transaction._success.AddRange(request.Success ?? []);
        transaction._failure.AddRange(request.Failure ?? []);
        return transaction;
    }

    internal TxnRequest ToRequest() => new([.. _compare], [.. _success], [.. _failure]);

    private Transaction If(TxnCompare compare)
    {
        _compare.Add(compare);
        return this;
    }

    private Transaction Add(List<TxnOperation> list, string op, string key, byte[]? value, ulong lease = 0)
    {
        list.Add(new TxnOperation(op, Key(key), value, lease == 0 ? null : lease));
        return this;
    }

    private static string Key(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return key;
    }

    private static byte[] Utf8(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return System.Text.Encoding.UTF8.GetBytes(value);
    }

    private static string? OpName(CompareOp op) => op switch
    {
        CompareOp.Equal => null,
        CompareOp.NotEqual => "!=",
        CompareOp.Less => "<",
        CompareOp.Greater => ">",
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "unknown compare"),
    };
}

/// <summary>What one operation of an applied transaction did.</summary>
/// <param name="Op"><c>put</c>, <c>delete</c>, <c>deletePrefix</c> or <c>get</c>.</param>
/// <param name="Found">For a get, whether the key existed.</param>
/// <param name="Version">A put's new version; a found get's version.</param>
/// <param name="CreateIndex">A put's or a found get's create index.</param>
/// <param name="Deleted">How many keys a delete or a prefix delete removed.</param>
/// <param name="Value">A found get's value.</param>
public sealed record TransactionOpResult(string Op, bool Found, ulong Version, ulong CreateIndex, ulong Deleted, byte[]? Value)
{
    /// <summary>A found get's value decoded as UTF-8; null otherwise.</summary>
    public string? ValueAsString() => Value is null ? null : System.Text.Encoding.UTF8.GetString(Value);
}

/// <summary>The outcome of a transaction.</summary>
/// <param name="Succeeded">Every compare held, so the <c>Then…</c> operations applied; otherwise the <c>Else…</c> ones.</param>
/// <param name="Index">The log index of the transaction.</param>
/// <param name="Results">One result per operation of the branch that applied.</param>
public sealed record TransactionResult(bool Succeeded, ulong Index, IReadOnlyList<TransactionOpResult> Results);

public sealed partial class RaftKvClient
{
    /// <summary>
    /// Applies <paramref name="transaction"/> once a majority has it, in this client's session: a retry after a lost
    /// answer is answered as the first attempt was, and applies nothing again.
    /// </summary>
    /// <param name="transaction">The compares and the two lists of operations.</param>
    /// <param name="cancellationToken">Stops waiting; the transaction may still be applied.</param>
    /// <returns>Which branch applied, the log index, and one result per operation of that branch.</returns>
    /// <exception cref="NoLeaderException">No leader answered within the retry budget; the transaction may have been applied.</exception>
    /// <exception cref="RaftKvException">
    /// <c>invalid_txn</c>, <c>invalid_key</c>, <c>txn_too_large</c>, or <c>cluster_version_too_low</c> while a voter runs a
    /// server without transactions.
    /// </exception>
    public async Task<TransactionResult> TxnAsync(Transaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        var body = JsonSerializer.SerializeToUtf8Bytes(transaction.ToRequest(), ProtocolJsonContext.Wire.TxnRequest);
        using var response = await WriteAsync(HttpMethod.Post, ApiPaths.Txn, body, null, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var answer = await ReadJsonAsync(response, ProtocolJsonContext.Wire.TxnResponse, cancellationToken).ConfigureAwait(false);
        var results = (answer.Results ?? []).Select(r => new TransactionOpResult(r.Op ?? string.Empty, r.Found ?? false, r.Version ?? 0, r.CreateIndex ?? 0, r.Deleted ?? 0, r.Value)).ToList();
        return new TransactionResult(answer.Succeeded, answer.Index, results);
    }
}
