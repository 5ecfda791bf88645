using Raft.Simulation.Checking;

namespace Raft.Simulation.CheckingTests;

/// <summary>
/// Hand-made register histories, one call per operation: <c>Put(c: 1, 5, 0, 1, v: 10)</c> is client 1 writing 5,
/// invoked at 0, answered at 1 with version 10. Operations get ids in call order (the #ids of reports).
/// </summary>
internal sealed class HistoryBuilder(string key = "k")
{
    private readonly List<RegisterOp> _ops = [];

    public IReadOnlyList<RegisterOp> Ops => _ops;

    public RegisterCheckResult Check(RegisterCheckOptions? options = null) => RegisterChecker.Check(_ops, options);

    public HistoryBuilder Put(int c, ulong value, long from, long to, ulong v, string? on = null) =>
        Add(c, on, RegisterOpKind.Put, value, 0, RegisterOutcome.Ok, v, from, to);

    public HistoryBuilder PutFailed(int c, ulong value, long from, long to, string? on = null) =>
        Add(c, on, RegisterOpKind.Put, value, 0, RegisterOutcome.Failed, 0, from, to);

    public HistoryBuilder PutLost(int c, ulong value, long at, string? on = null) =>
        Add(c, on, RegisterOpKind.Put, value, 0, RegisterOutcome.Unknown, 0, at, 0);

    public HistoryBuilder PutIf(int c, ulong expected, ulong value, long from, long to, ulong v) =>
        Add(c, null, RegisterOpKind.PutIfVersion, value, expected, RegisterOutcome.Ok, v, from, to);

    public HistoryBuilder PutIfRefused(int c, ulong expected, ulong value, long from, long to, ulong current) =>
        Add(c, null, RegisterOpKind.PutIfVersion, value, expected, RegisterOutcome.PreconditionFailed, current, from, to);

    public HistoryBuilder PutIfLost(int c, ulong expected, ulong value, long at) =>
        Add(c, null, RegisterOpKind.PutIfVersion, value, expected, RegisterOutcome.Unknown, 0, at, 0);

    public HistoryBuilder Get(int c, long from, long to, ulong value, ulong v, string? on = null) =>
        Add(c, on, RegisterOpKind.Get, value, 0, RegisterOutcome.Ok, v, from, to);

    public HistoryBuilder GetNotFound(int c, long from, long to) =>
        Add(c, null, RegisterOpKind.Get, 0, 0, RegisterOutcome.NotFound, 0, from, to);

    public HistoryBuilder Delete(int c, long from, long to, ulong removed) =>
        Add(c, null, RegisterOpKind.Delete, 0, 0, RegisterOutcome.Ok, removed, from, to);

    public HistoryBuilder DeleteNotFound(int c, long from, long to) =>
        Add(c, null, RegisterOpKind.Delete, 0, 0, RegisterOutcome.NotFound, 0, from, to);

    public HistoryBuilder DeleteLost(int c, long at) =>
        Add(c, null, RegisterOpKind.Delete, 0, 0, RegisterOutcome.Unknown, 0, at, 0);

    public HistoryBuilder DeleteIf(int c, ulong expected, long from, long to, ulong removed) =>
        Add(c, null, RegisterOpKind.DeleteIfVersion, 0, expected, RegisterOutcome.Ok, removed, from, to);

    public HistoryBuilder DeleteIfRefused(int c, ulong expected, long from, long to, ulong current) =>
        Add(c, null, RegisterOpKind.DeleteIfVersion, 0, expected, RegisterOutcome.PreconditionFailed, current, from, to);

    public HistoryBuilder DeleteIfNotFound(int c, long from, long to) =>
        Add(c, null, RegisterOpKind.DeleteIfVersion, 0, 0, RegisterOutcome.NotFound, 0, from, to);

    private HistoryBuilder Add(int c, string? on, RegisterOpKind kind, ulong value, ulong expected, RegisterOutcome outcome, ulong version, long from, long to)
    {
        _ops.Add(new RegisterOp
        {
            Client = c,
            Key = on ?? key,
            Kind = kind,
            Value = value,
            ExpectedVersion = expected,
            Outcome = outcome,
            Version = version,
            InvokedAt = from,
            CompletedAt = to,
        });
        return this;
    }
}
