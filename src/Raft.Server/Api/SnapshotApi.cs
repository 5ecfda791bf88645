using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Node;
using Raft.Protocol;
using Raft.Storage;

namespace Raft.Server.Api;

/// <summary>
/// Backups: <c>GET /v1/snapshot</c> streams a consistent image of this node's state in the snapshot format (header,
/// image, trailer with length and CRC32C), the same bytes a node keeps on disk and <c>Raft.Server restore</c> reads.
/// </summary>
internal static class SnapshotApi
{
    private const int CopyBufferBytes = 1 << 20;

    public static void Map(IEndpointRouteBuilder routes) => routes.MapGet(ApiPaths.Snapshot, BackupAsync).Needs(ApiRole.Admin);

    // Any node serves one: by default its applied state (a follower's may lag), or with ?consistency=linearizable the
    // state once it has applied the leader's commit index as of the request. The image is frozen on the node's thread
    // and written here, while the node goes on applying writes.
    private static async Task<IResult> BackupAsync(HttpContext context, string? consistency, NodeLoop node, NodeOptions options)
    {
        if (ApiAccess.CheckUnscoped(context, "a backup (it holds every key)") is { } outOfScope)
        {
            return outOfScope;
        }

        ReadConsistency level;
        if (consistency is null || consistency.Equals("stale", StringComparison.OrdinalIgnoreCase))
        {
            level = ReadConsistency.Stale;
        }
        else if (consistency.Equals("linearizable", StringComparison.OrdinalIgnoreCase))
        {
            level = ReadConsistency.Linearizable;
            await node.LeaderViewAsync(options, context).ConfigureAwait(false);
        }
        else
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ErrorCodes.InvalidConsistency, $"consistency must be linearizable or stale for a backup (got '{consistency}')");
        }

        ReadOutcome<CapturedImage> read;
        try
        {
            read = await node.CaptureImageAsync(level, context.RequestAborted).WaitAsync(KvApi.StallLimit(options), context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ApiResults.Timeout("the backup");
        }

        if (!read.Served)
        {
            return ApiResults.FromReadFailure(context, read.Failure, read.LeaderId);
        }

        var (metadata, image) = read.Value;
        var headers = context.Response.Headers;
        var index = metadata.Index.ToString(CultureInfo.InvariantCulture);
        headers[ApiHeaders.SnapshotIndex] = index;
        headers[ApiHeaders.SnapshotTerm] = metadata.Term.ToString(CultureInfo.InvariantCulture);
        headers[ApiHeaders.Index] = index;
        return Results.Stream(
            async body =>
            {
                using (image)
                {
                    await using var stream = SnapshotStream.Open(metadata, image.OpenRead());
                    await stream.CopyToAsync(body, CopyBufferBytes, context.RequestAborted).ConfigureAwait(false);
                }
            },
            "application/octet-stream",
            string.Create(CultureInfo.InvariantCulture, $"raft-snapshot-{metadata.Index}-{metadata.Term}.snap"));
    }
}
