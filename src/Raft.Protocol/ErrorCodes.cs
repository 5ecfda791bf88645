namespace Raft.Protocol;

/// <summary>
/// The <c>error</c> field of every error answer. A code is stable and machine-readable; the <c>detail</c> beside
/// it is a sentence for people and may change.
/// </summary>
public static class ErrorCodes
{
    // Requests the API cannot take (400, 404, 405, 408, 413, 414, 431).

    /// <summary>404: no route has this path.</summary>
    public const string NoRoute = "no_route";

    /// <summary>405: the path exists but not for this method; <c>Allow</c> lists the methods it takes.</summary>
    public const string MethodNotAllowed = "method_not_allowed";

    /// <summary>400: the HTTP layer could not read the request (a malformed chunked body, for one).</summary>
    public const string BadRequest = "bad_request";

    /// <summary>408: the request's body came too slowly.</summary>
    public const string RequestTimeout = "request_timeout";

    /// <summary>431: the request's headers are larger than the server takes.</summary>
    public const string HeadersTooLarge = "headers_too_large";

    /// <summary>400: an empty name, a control character, invalid UTF-8 or escapes, or a <c>.</c> or <c>..</c> segment.</summary>
    public const string InvalidKey = "invalid_key";

    /// <summary>414: a name longer than <c>MaxKeyBytes</c> of UTF-8.</summary>
    public const string KeyTooLong = "key_too_long";

    /// <summary>413: a value longer than <c>MaxValueBytes</c>.</summary>
    public const string ValueTooLarge = "value_too_large";

    /// <summary>413: a lock request body over its limit.</summary>
    public const string BodyTooLarge = "body_too_large";

    /// <summary>400: <c>consistency</c> is not <c>linearizable</c>, <c>lease</c> or <c>stale</c>.</summary>
    public const string InvalidConsistency = "invalid_consistency";

    /// <summary>400: a listing's <c>limit</c> out of range.</summary>
    public const string InvalidLimit = "invalid_limit";

    /// <summary>400: a listing's <c>after</c> that is not a valid key (empty, given twice, bad escapes or UTF-8, a control character, over <c>MaxKeyBytes</c>).</summary>
    public const string InvalidAfter = "invalid_after";

    /// <summary>400: a listing's <c>keys</c> other than <c>true</c> or <c>false</c>.</summary>
    public const string InvalidKeys = "invalid_keys";

    /// <summary>400: a transfer's <c>to</c> names no member.</summary>
    public const string InvalidTarget = "invalid_target";

    /// <summary>400: a member body or id that is not usable (see the detail).</summary>
    public const string InvalidMember = "invalid_member";

    /// <summary>404: the id names no member of the configuration.</summary>
    public const string MemberNotFound = "member_not_found";

    /// <summary>409: the id, or one of the addresses, already belongs to another member.</summary>
    public const string MemberExists = "member_exists";

    /// <summary>409: an earlier membership change is not committed yet, or a leadership transfer is under way.</summary>
    public const string ChangeInProgress = "change_in_progress";

    /// <summary>409: the learner to promote is further behind the leader than a promotion allows.</summary>
    public const string NotCaughtUp = "not_caught_up";

    /// <summary>409: the change is not possible in the current configuration (removing the last voter, for one).</summary>
    public const string InvalidChange = "invalid_change";

    /// <summary>409: a joining node supports only cluster versions below the one the cluster runs.</summary>
    public const string VersionTooOld = "version_too_old";

    /// <summary>409: the request needs a cluster version the cluster has not reached (a voter runs an older server).</summary>
    public const string ClusterVersionTooLow = "cluster_version_too_low";

    /// <summary>400: a transaction body that is not valid JSON of the transaction's shape, or names a bad key or operation.</summary>
    public const string InvalidTxn = "invalid_txn";

    /// <summary>413: a transaction with more compares and operations, or more bytes, than the node allows.</summary>
    public const string TxnTooLarge = "txn_too_large";

    /// <summary>400: a lock body that is not one JSON object with each property once.</summary>
    public const string InvalidJson = "invalid_json";

    /// <summary>400: a lock body without a usable <c>owner</c>.</summary>
    public const string InvalidOwner = "invalid_owner";

    /// <summary>400: a lock body whose <c>ttlMs</c> is missing, not an integer, or out of range.</summary>
    public const string InvalidTtl = "invalid_ttl";

    /// <summary>400: a lease id (in the path, <c>?lease=</c> or a body) that is not a positive integer, or a lock acquire with both or neither of <c>ttlMs</c> and <c>lease</c>.</summary>
    public const string InvalidLease = "invalid_lease";

    /// <summary>400: <c>waitMs</c> out of range.</summary>
    public const string InvalidWait = "invalid_wait";

    /// <summary>400: <c>fromIndex</c> or <c>waitIndex</c> not an unsigned integer, or a watch without exactly one of <c>key</c> and <c>prefix</c>.</summary>
    public const string InvalidWatch = "invalid_watch";

    /// <summary>410: the changes after <c>fromIndex</c> are no longer all kept on this node; <c>oldestIndex</c> says where a watch may start.</summary>
    public const string Compacted = "compacted";

    /// <summary>429: the node serves <c>WatchersMax</c> watches already.</summary>
    public const string TooManyWatchers = "too_many_watchers";

    /// <summary>The last line of a watch the node ended because it fell further behind than the history holds.</summary>
    public const string WatchDropped = "watch_dropped";

    /// <summary>400: an <c>If-Match</c> that is not one version number.</summary>
    public const string InvalidIfMatch = "invalid_if_match";

    /// <summary>400: <c>X-Client-Id</c> and <c>X-Client-Seq</c> not both present and valid.</summary>
    public const string InvalidSession = "invalid_session";

    // Authorization and limits (401, 403, 429), when the node has API tokens or a rate limit configured.

    /// <summary>401: the request has no <c>Authorization: Bearer</c> token, or one the node does not know.</summary>
    public const string Unauthenticated = "unauthenticated";

    /// <summary>403: the token's role does not allow this request (a <c>read</c> token writing, a <c>write</c> token changing members).</summary>
    public const string Forbidden = "forbidden";

    /// <summary>403: a key, lock or prefix outside the token's key prefixes; nothing was read or written.</summary>
    public const string OutOfScope = "out_of_scope";

    /// <summary>429: this token (or, without one, this address) sent more requests than the node's rate limit; <c>Retry-After</c> says when to come back.</summary>
    public const string RateLimited = "rate_limited";

    // Answers of the state machine (404, 409, 412).

    /// <summary>404: no such key.</summary>
    public const string NotFound = "not_found";

    /// <summary>412: a conditional write found another version (<c>currentVersion</c>); nothing was written.</summary>
    public const string PreconditionFailed = "precondition_failed";

    /// <summary>409: another owner holds the lock (<c>holder</c>, <c>expiresAtMs</c>).</summary>
    public const string LockHeld = "lock_held";

    /// <summary>404: nobody holds the lock.</summary>
    public const string LockNotHeld = "lock_not_held";

    /// <summary>404: the lease does not exist or its time ran out; nothing was written.</summary>
    public const string LeaseNotFound = "lease_not_found";

    /// <summary>409: the cluster holds as many leases as it allows.</summary>
    public const string TooManyLeases = "too_many_leases";

    /// <summary>409: the session already applied a later sequence.</summary>
    public const string StaleSequence = "stale_sequence";

    /// <summary>409: a transfer asked of the node that already leads.</summary>
    public const string AlreadyLeader = "already_leader";

    /// <summary>409: a transfer that did not complete.</summary>
    public const string TransferFailed = "transfer_failed";

    // Availability (500, 502, 503, 504): retried by the client.

    /// <summary>503 (<c>Reject</c> mode, or a request passed on too often): another node leads; <c>X-Raft-Leader</c> names it.</summary>
    public const string NotLeader = "not_leader";

    /// <summary>503: no leader became known within <c>LeaderWaitMs</c>.</summary>
    public const string NoLeader = "no_leader";

    /// <summary>503: leadership moved while the write was pending; its outcome is unknown.</summary>
    public const string LeadershipLost = "leadership_lost";

    /// <summary>503: another leader's entry took the write's place; it was not applied (safe to retry).</summary>
    public const string NotApplied = "not_applied";

    /// <summary>503: too much work is queued.</summary>
    public const string Overloaded = "overloaded";

    /// <summary>503: a linearizable read could not be confirmed.</summary>
    public const string ReadFailed = "read_failed";

    /// <summary>
    /// 503: this node's disk is full, so it cannot append to its log; nothing was written. It goes on by itself once
    /// space is freed; meanwhile another node is elected if this one led.
    /// </summary>
    public const string DiskFull = "disk_full";

    /// <summary>503: the node is stopping.</summary>
    public const string ShuttingDown = "shutting_down";

    /// <summary>503 (health): no leader known, or not caught up.</summary>
    public const string NotReady = "not_ready";

    /// <summary>502: forwarding to the leader failed; a request that was sent may have been applied.</summary>
    public const string LeaderUnreachable = "leader_unreachable";

    /// <summary>504: not finished within <c>RequestTimeoutMs</c>; the outcome of a write is unknown.</summary>
    public const string Timeout = "timeout";

    /// <summary>500: the state machine refused a command the server encoded (a bug).</summary>
    public const string InvalidCommand = "invalid_command";

    /// <summary>500: the server failed while answering (a bug).</summary>
    public const string InternalError = "internal_error";

    /// <summary>Produced by the client, never sent: an answer that is not the JSON the API defines.</summary>
    public const string MalformedResponse = "malformed_response";

    /// <summary>Produced by the client, never sent: a request to one named node (its status, its health) got no answer.</summary>
    public const string NodeUnreachable = "node_unreachable";

    /// <summary>Every code a server sends.</summary>
    public static IReadOnlySet<string> All { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        NoRoute, MethodNotAllowed, BadRequest, RequestTimeout, HeadersTooLarge, InvalidKey, KeyTooLong, ValueTooLarge,
        BodyTooLarge, InvalidConsistency, InvalidLimit, InvalidTarget, InvalidJson, InvalidOwner, InvalidTtl, InvalidLease, InvalidWait,
        InvalidIfMatch, InvalidSession, NotFound, PreconditionFailed, LockHeld, LockNotHeld, LeaseNotFound, TooManyLeases, StaleSequence, AlreadyLeader,
        TransferFailed, NotLeader, NoLeader, LeadershipLost, NotApplied, Overloaded, ReadFailed,
        ShuttingDown, NotReady, LeaderUnreachable, Timeout, InvalidCommand, InternalError,
        InvalidMember, MemberNotFound, MemberExists, ChangeInProgress, NotCaughtUp, InvalidChange,
        VersionTooOld, ClusterVersionTooLow, InvalidTxn, TxnTooLarge,
        InvalidAfter, InvalidKeys, InvalidWatch, Compacted, TooManyWatchers, WatchDropped, DiskFull,
        Unauthenticated, Forbidden, OutOfScope, RateLimited,
    };
}
