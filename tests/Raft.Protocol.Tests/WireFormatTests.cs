using System.Text;
using System.Text.Json;

namespace Raft.Protocol.Tests;

/// <summary>The JSON of every shape, pinned byte for byte against what README.md shows.</summary>
public sealed class WireFormatTests
{
    private static string Write<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(value, type));

    [Fact]
    public void An_error_body_carries_only_the_fields_its_error_has()
    {
        var context = ProtocolJsonContext.Wire;
        Assert.Equal("{\"error\":\"not_found\",\"detail\":\"no key 'greeting'\"}", Write(new ErrorBody(ErrorCodes.NotFound, "no key 'greeting'"), context.ErrorBody));
        Assert.Equal(
            "{\"error\":\"precondition_failed\",\"detail\":\"'counter' is at version 0; nothing was written\",\"currentVersion\":0}",
            Write(new ErrorBody(ErrorCodes.PreconditionFailed, "'counter' is at version 0; nothing was written") { CurrentVersion = 0 }, context.ErrorBody));
        Assert.Equal(
            "{\"error\":\"lock_held\",\"detail\":\"'jobs/report' is held by 'worker-1'\",\"holder\":\"worker-1\",\"expiresAtMs\":1763784010123}",
            Write(new ErrorBody(ErrorCodes.LockHeld, "'jobs/report' is held by 'worker-1'") { Holder = "worker-1", ExpiresAtMs = 1763784010123 }, context.ErrorBody));
    }

    [Fact]
    public void Cluster_events_keep_their_nulls_and_a_snapshot_request_names_its_status()
    {
        var context = ProtocolJsonContext.Wire;
        var at = new DateTimeOffset(2025, 12, 7, 8, 2, 45, 489, TimeSpan.Zero);
        var events = new ClusterEventsResponse(3, at,
            [new LeaderChangeEvent(at, 2, 1, 2, LeaderChangeCauses.LeaderUnreachable)],
            [new ElectionEvent(3, 2, at, null, ElectionOutcomes.Running, LeaderChangeCauses.ElectionTimeout)],
            [new PeerContactResponse(1, 23), new PeerContactResponse(2, null)]);
        Assert.Equal(
            "{\"nodeId\":3,\"now\":\"2025-12-07T08:02:45.489+00:00\",\"leaderChanges\":[{\"at\":\"2025-12-07T08:02:45.489+00:00\",\"term\":2,\"leaderId\":1,\"previousLeaderId\":2,\"cause\":\"leader-unreachable\"}],"
            + "\"elections\":[{\"candidate\":3,\"term\":2,\"started\":\"2025-12-07T08:02:45.489+00:00\",\"durationMs\":null,\"outcome\":\"running\",\"cause\":\"election-timeout\"}],"
            + "\"contacts\":[{\"id\":1,\"silentMs\":23},{\"id\":2,\"silentMs\":null}]}",
            Write(events, context.ClusterEventsResponse));
        RoundTrip("{\"nodeId\":2,\"status\":\"started\",\"index\":436}", context.SnapshotTakenResponse);
    }

    [Fact]
    public void Every_answer_in_the_readme_reads_and_writes_back_the_same()
    {
        var context = ProtocolJsonContext.Wire;
        RoundTrip("{\"index\":2,\"version\":2}", context.PutResponse);
        RoundTrip("{\"index\":3,\"deleted\":true}", context.DeleteResponse);
        RoundTrip("{\"items\":[{\"key\":\"greeting\",\"value\":\"aGVsbG8=\",\"version\":2,\"createIndex\":2}],\"more\":false,\"index\":2}", context.ListResponse);
        RoundTrip("{\"name\":\"jobs/report\",\"owner\":\"worker-1\",\"fencingToken\":7,\"expiresAtMs\":1763784010123}", context.LockResponse);
        RoundTrip("{\"name\":\"jobs/report\",\"fencingToken\":9,\"index\":11}", context.LockReleasedResponse);
        RoundTrip("{\"error\":\"lock_held\",\"detail\":\"'jobs/report' is held by 'worker-1'\",\"holder\":\"worker-1\",\"expiresAtMs\":1763784010123}", context.ErrorBody);
        RoundTrip("{\"status\":\"live\",\"leaderId\":2,\"commitIndex\":5,\"appliedIndex\":5}", context.HealthResponse);
        RoundTrip("{\"from\":1,\"to\":2,\"leaderId\":2,\"detail\":\"node 2 leads\"}", context.TransferResponse);
        RoundTrip("{\"leaderId\":1,\"members\":[{\"id\":1,\"peerAddress\":\"127.0.0.1:7001\",\"httpEndpoint\":\"http://127.0.0.1:5001\",\"voter\":true,\"leader\":true},{\"id\":4,\"peerAddress\":\"127.0.0.1:7004\",\"httpEndpoint\":\"http://127.0.0.1:5004\",\"voter\":false,\"leader\":false}],\"index\":18,\"detail\":\"adding node 4 as a learner committed at index 18\"}", context.MembersResponse);
        RoundTrip("{\"leaderId\":1,\"members\":[]}", context.MembersResponse);
        RoundTrip("{\"succeeded\":true,\"index\":12,\"results\":[{\"op\":\"put\",\"version\":12,\"createIndex\":4},{\"op\":\"deletePrefix\",\"deleted\":2},{\"op\":\"get\",\"found\":true,\"version\":12,\"createIndex\":4,\"value\":\"Nw==\"},{\"op\":\"get\",\"found\":false}]}", context.TxnResponse);
        RoundTrip("{\"index\":3,\"changes\":[{\"key\":\"app/mode\",\"type\":\"put\",\"value\":\"Ymx1ZQ==\",\"version\":3,\"createIndex\":3}]}", context.WatchEventResponse);
        RoundTrip("{\"index\":4,\"changes\":[{\"key\":\"app/mode\",\"type\":\"delete\"}]}", context.WatchEventResponse);
        RoundTrip("{\"index\":5}", context.WatchEventResponse);
        RoundTrip("{\"index\":5,\"error\":\"watch_dropped\",\"detail\":\"watch again from index 5\"}", context.WatchEventResponse);
        RoundTrip("{\"error\":\"compacted\",\"detail\":\"gone\",\"oldestIndex\":7}", context.ErrorBody);
        RoundTrip("{\"compare\":[{\"key\":\"a\",\"op\":\">\",\"version\":3},{\"key\":\"b\",\"exists\":false}],\"success\":[{\"op\":\"put\",\"key\":\"a\",\"value\":\"Nw==\"}],\"failure\":[{\"op\":\"get\",\"key\":\"a\"}]}", context.TxnRequest);
        Assert.Equal("hello", Encoding.UTF8.GetString(JsonSerializer.Deserialize("{\"items\":[{\"key\":\"greeting\",\"value\":\"aGVsbG8=\",\"version\":2,\"createIndex\":2}],\"more\":false,\"index\":2}", context.ListResponse)!.Items[0].Value!));
    }

    [Fact]
    public void A_listing_page_names_the_key_to_go_on_after_and_a_keys_only_item_has_no_value()
    {
        var context = ProtocolJsonContext.Wire;
        RoundTrip("{\"items\":[{\"key\":\"jobs/a\",\"value\":\"aGVsbG8=\",\"version\":4,\"createIndex\":3}],\"more\":true,\"index\":9,\"next\":\"jobs/a\"}", context.ListResponse);
        RoundTrip("{\"items\":[{\"key\":\"jobs/a\",\"version\":4,\"createIndex\":3}],\"more\":false,\"index\":9}", context.ListResponse);
        Assert.Equal(
            "{\"items\":[{\"key\":\"jobs/é\",\"version\":4,\"createIndex\":3}],\"more\":true,\"index\":9,\"next\":\"jobs/é\"}",
            Write(new ListResponse([new ListItem("jobs/é", null, 4, 3)], true, 9) { Next = "jobs/é" }, context.ListResponse));
        Assert.Equal("{\"items\":[],\"more\":false,\"index\":9}", Write(new ListResponse([], false, 9), context.ListResponse));
    }

    [Fact]
    public void The_cluster_status_writes_its_unknowns_as_null()
    {
        var status = new ClusterStatusResponse(2, "follower", 3, 0, null, 5, 5, 5,
            [new MemberStatusResponse(1, "127.0.0.1:7001", "http://127.0.0.1:5001", true, "voter", null, null)], ClusterVersion: 2, SupportsVersion: 2);
        Assert.Equal(
            "{\"nodeId\":2,\"role\":\"follower\",\"term\":3,\"leaderId\":0,\"leaderSince\":null,\"commitIndex\":5,\"appliedIndex\":5,\"lastIndex\":5,"
            + "\"members\":[{\"id\":1,\"peer\":\"127.0.0.1:7001\",\"http\":\"http://127.0.0.1:5001\",\"voter\":true,\"role\":\"voter\",\"matchIndex\":null,\"lag\":null}],\"configIndex\":0,\"clusterVersion\":2,\"supportsVersion\":2}",
            Write(status, ProtocolJsonContext.Wire.ClusterStatusResponse));
    }

    [Fact]
    public void A_lock_request_leaves_out_the_ttl_of_a_release()
    {
        Assert.Equal("{\"owner\":\"worker-1\",\"ttlMs\":10000}", Write(new LockRequest("worker-1", 10_000), ProtocolJsonContext.Wire.LockRequest));
        Assert.Equal("{\"owner\":\"worker-1\"}", Write(new LockRequest("worker-1", null), ProtocolJsonContext.Wire.LockRequest));
    }

    [Theory]
    [InlineData("{\"index\":\"2\",\"version\":2}")]
    [InlineData("{\"index\":2,\"version\":null}")]
    public void A_put_answer_with_a_number_as_a_string_or_null_is_not_read(string json) =>
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize(json, ProtocolJsonContext.Wire.PutResponse));

    [Fact]
    public void An_error_with_a_null_detail_is_not_read_and_names_match_in_any_case()
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize("{\"error\":\"timeout\",\"detail\":null}", ProtocolJsonContext.Wire.ErrorBody));
        var read = JsonSerializer.Deserialize("{\"Error\":\"timeout\",\"DETAIL\":\"late\"}", ProtocolJsonContext.Wire.ErrorBody);
        Assert.Equal(new ErrorBody(ErrorCodes.Timeout, "late"), read);
    }

    [Fact]
    public void Every_error_code_is_snake_case_and_distinct()
    {
        var codes = typeof(ErrorCodes).GetFields().Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).ToList();
        Assert.Equal(codes.Count, codes.Distinct(StringComparer.Ordinal).Count());
        Assert.All(codes, code => Assert.Matches("^[a-z]+(_[a-z]+)*$", code));
        Assert.Equal(codes.Where(c => c is not (ErrorCodes.MalformedResponse or ErrorCodes.NodeUnreachable)).Order(StringComparer.Ordinal), ErrorCodes.All.Order(StringComparer.Ordinal));
    }

    private static void RoundTrip<T>(string json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var value = JsonSerializer.Deserialize(json, type);
        Assert.NotNull(value);
        Assert.Equal(json, Write(value, type));
    }
}
