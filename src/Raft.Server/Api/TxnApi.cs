using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.KeyValue;
using Raft.Node;
using Raft.Protocol;

namespace Raft.Server.Api;

/// <summary>
/// <c>POST /v1/txn</c>: compares, then the success or the failure operations, applied by the leader as one log entry,
/// so that no reader and no other write sees part of it. Needs cluster version <see cref="KvClusterVersion.Transactions"/>.
/// </summary>
internal static class TxnApi
{
    private const string Shape =
        "{\"compare\":[{\"key\",\"op\":\"=|!=|<|>\", and one of \"version\",\"createIndex\",\"value\" (base64),\"exists\"}]," +
        "\"success\":[{\"op\":\"put|delete|deletePrefix|get\",\"key\",\"value\" (base64, put only)}],\"failure\":[...]}";

    public static void Map(IEndpointRouteBuilder routes) => routes.MapPost(ApiPaths.Txn, TxnAsync).Needs(ApiRole.Write);

    /// <summary>The largest JSON body a transaction may have: its values in base64 take a third more than the largest put.</summary>
    internal static int BodyBytesMax(NodeOptions options) => (int)Math.Min(Array.MaxLength, (2L * options.MaxValueBytes) + (options.MaxKeyBytes * 4L) + (1 << 16));

    /// <summary>The largest transaction as a log entry: the largest put's size, which the transport's frames already allow.</summary>
    internal static int EncodedBytesMax(NodeOptions options) => KvCommandCodec.PutBytes(options.MaxKeyBytes, options.MaxValueBytes);

    private static async Task<IResult> TxnAsync(HttpContext context, NodeOptions options, NodeLoop node, LeaderRouting routing)
    {
        var limit = BodyBytesMax(options);
        if (context.Request.ContentLength > limit)
        {
            return TooLarge($"the body has {context.Request.ContentLength} bytes; at most {limit} are allowed");
        }

        var body = await KvApi.ReadBodyAsync(context.Request, limit, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            return TooLarge($"the body exceeds {limit} bytes");
        }

        TxnRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(body, ProtocolJsonContext.Wire.TxnRequest);
        }
        catch (JsonException e)
        {
            return Invalid($"the body is not a transaction ({e.Message}); its shape: {Shape}");
        }

        if (request is null)
        {
            return Invalid($"the body must be one JSON object: {Shape}");
        }

        if (ToTxn(request, options, out var problem) is not { } txn)
        {
            return problem!;
        }

        if (OutOfScope(context, txn) is { } outOfScope)
        {
            return outOfScope;
        }

        if (txn.Count > options.MaxTxnOps)
        {
            return TooLarge($"the transaction has {txn.Count} compares and operations; at most {options.MaxTxnOps} are allowed");
        }

        if (KvTxnCodec.EncodedBytes(txn) is var bytes && bytes > EncodedBytesMax(options))
        {
            return TooLarge($"the transaction takes {bytes} bytes as a log entry; at most {EncodedBytesMax(options)} are allowed");
        }

        if (ApiResults.ParseSession(context.Request, out var session) is { } badSession)
        {
            return badSession;
        }

        return await routing.ServeAsync(context, node, body, 0, () => TxnHereAsync(context, node, options, txn, session)).ConfigureAwait(false);
    }

    private static async Task<IResult> TxnHereAsync(HttpContext context, NodeLoop node, NodeOptions options, KvTxn txn, KvSession session)
    {
        var leased = txn.Success.Any(static op => op.Lease != 0) || txn.Failure.Any(static op => op.Lease != 0);
        if (ApiResults.NeedsClusterVersion(node, leased ? KvClusterVersion.Leases : KvClusterVersion.Transactions, leased ? "transactions that bind keys to leases" : "transactions") is { } tooLow)
        {
            return tooLow;
        }

        return await KvApi.WriteAsync(context, node, options, KvCommandCodec.EncodeTxn(txn, session), "the transaction", static (_, outcome) =>
        {
            var txn = outcome.Result.Txn!;
            var results = new TxnOpResult[txn.Results.Length];
            for (var i = 0; i < results.Length; i++)
            {
                results[i] = ToResponse(txn.Results[i]);
            }

            return Results.Json(new TxnResponse(txn.Succeeded, outcome.Result.Index, results), ProtocolJsonContext.Wire.TxnResponse);
        }).ConfigureAwait(false);
    }

    // Every key the transaction compares, reads or writes must be the caller's, and every prefix it deletes.
    private static IResult? OutOfScope(HttpContext context, KvTxn txn)
    {
        foreach (var compare in txn.Compare)
        {
            if (ApiAccess.CheckName(context, compare.Key) is { } refused)
            {
                return refused;
            }
        }

        foreach (var op in txn.Success.Concat(txn.Failure))
        {
            if ((op.Kind == KvTxnOpKind.DeletePrefix ? ApiAccess.CheckPrefix(context, op.Key) : ApiAccess.CheckName(context, op.Key)) is { } refused)
            {
                return refused;
            }
        }

        return null;
    }

    private static TxnOpResult ToResponse(in KvTxnOpResult result) => result.Kind switch
    {
        KvTxnOpKind.Put => new TxnOpResult("put", Version: result.Version, CreateIndex: result.CreateIndex),
        KvTxnOpKind.Delete => new TxnOpResult("delete", Deleted: result.Found ? 1UL : 0UL),
        KvTxnOpKind.DeletePrefix => new TxnOpResult("deletePrefix", Deleted: result.Deleted),
        _ => result.Found
            ? new TxnOpResult("get", Found: true, Version: result.Version, CreateIndex: result.CreateIndex, Value: result.Value)
            : new TxnOpResult("get", Found: false),
    };

    // The transaction the request describes, or null with the answer naming the first problem.
    private static KvTxn? ToTxn(TxnRequest request, NodeOptions options, out IResult? problem)
    {
        problem = null;
        var compares = new List<KvCompare>();
        foreach (var (compare, i) in (request.Compare ?? []).Select((c, i) => (c, i)))
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"compare[{i}]");
            if (compare is null)
            {
                problem = Invalid($"{where} is null");
                return null;
            }

            if (KeyProblem(compare.Key, options, prefix: false, where) is { } badKey)
            {
                problem = badKey;
                return null;
            }

            KvCompareOp? op = compare.Op switch
            {
                null or "=" or "==" => KvCompareOp.Equal,
                "!=" => KvCompareOp.NotEqual,
                "<" => KvCompareOp.Less,
                ">" => KvCompareOp.Greater,
                _ => null,
            };
            var operands = (compare.Version is null ? 0 : 1) + (compare.CreateIndex is null ? 0 : 1) + (compare.Value is null ? 0 : 1) + (compare.Exists is null ? 0 : 1);
            if (op is null)
            {
                problem = Invalid($"{where}: op must be =, !=, < or > (got '{compare.Op}')");
                return null;
            }

            if (operands != 1)
            {
                problem = Invalid($"{where} must have exactly one of version, createIndex, value or exists (it has {operands})");
                return null;
            }

            if (compare.Exists is { } exists && op is not (KvCompareOp.Equal or KvCompareOp.NotEqual))
            {
                problem = Invalid($"{where}: exists takes = or != only");
                return null;
            }

            compares.Add(compare switch
            {
                { Version: { } version } => new KvCompare(compare.Key, KvCompareTarget.Version, op.Value, version),
                { CreateIndex: { } created } => new KvCompare(compare.Key, KvCompareTarget.CreateIndex, op.Value, created),
                { Value: { } value } => new KvCompare(compare.Key, KvCompareTarget.Value, op.Value, Value: value),
                _ => new KvCompare(compare.Key, KvCompareTarget.Exists, op.Value, compare.Exists!.Value ? 1UL : 0UL),
            });
        }

        var success = ToOps(request.Success, "success", options, ref problem);
        var failure = success is null ? null : ToOps(request.Failure, "failure", options, ref problem);
        if (failure is null)
        {
            return null;
        }

        if (compares.Count + success!.Count + failure.Count == 0)
        {
            problem = Invalid($"the transaction is empty: {Shape}");
            return null;
        }

        return new KvTxn(compares, success, failure);
    }

    private static List<KvTxnOp>? ToOps(IReadOnlyList<TxnOperation>? operations, string name, NodeOptions options, ref IResult? problem)
    {
        var ops = new List<KvTxnOp>();
        foreach (var (operation, i) in (operations ?? []).Select((o, i) => (o, i)))
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"{name}[{i}]");
            if (operation is null)
            {
                problem = Invalid($"{where} is null");
                return null;
            }

            KvTxnOpKind? kind = operation.Op switch
            {
                "put" => KvTxnOpKind.Put,
                "delete" => KvTxnOpKind.Delete,
                "deletePrefix" => KvTxnOpKind.DeletePrefix,
                "get" => KvTxnOpKind.Get,
                _ => null,
            };
            if (kind is null)
            {
                problem = Invalid($"{where}: op must be put, delete, deletePrefix or get (got '{operation.Op}')");
                return null;
            }

            if (KeyProblem(operation.Key, options, prefix: kind == KvTxnOpKind.DeletePrefix, where) is { } badKey)
            {
                problem = badKey;
                return null;
            }

            if ((kind == KvTxnOpKind.Put) != (operation.Value is not null))
            {
                problem = Invalid(kind == KvTxnOpKind.Put ? $"{where}: a put needs a value (base64)" : $"{where}: only a put takes a value");
                return null;
            }

            if (operation.Value is { Length: var length } && length > options.MaxValueBytes)
            {
                problem = ApiResults.Error(StatusCodes.Status413PayloadTooLarge, ErrorCodes.ValueTooLarge, $"{where}: the value has {length} bytes; at most {options.MaxValueBytes} are allowed");
                return null;
            }

            if (operation.Lease is { } lease && (kind != KvTxnOpKind.Put || lease == 0))
            {
                problem = ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidLease,
                    kind != KvTxnOpKind.Put ? $"{where}: only a put takes a lease" : $"{where}: lease must be a lease id, a positive integer");
                return null;
            }

            ops.Add(new KvTxnOp(kind.Value, operation.Key, operation.Value, operation.Lease ?? 0));
        }

        return ops;
    }

    // A key as a path could name it (no . or .. segment, which clients resolve away); a prefix as a listing takes it,
    // but never empty: deleting every key takes naming a prefix.
    private static IResult? KeyProblem(string? key, NodeOptions options, bool prefix, string where)
    {
        if (ApiResults.KeyProblem(key, options.MaxKeyBytes) is var (tooLong, detail))
        {
            return ApiResults.Error(tooLong ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest,
                tooLong ? ErrorCodes.KeyTooLong : ErrorCodes.InvalidKey, $"{where}: {detail}");
        }

        if (!prefix && ResourceName.HasDotSegment(key!))
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidKey, $"{where}: a key may not have . or .. segments");
        }

        return null;
    }

    private static IResult Invalid(string detail) => ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidTxn, detail);

    private static IResult TooLarge(string detail) => ApiResults.Error(StatusCodes.Status413PayloadTooLarge, ErrorCodes.TxnTooLarge, detail);
}
