using System.Net;
using System.Text;

namespace Raft.Client.Tests;

public sealed class RaftKvClientTests
{
    private static readonly Uri Node1 = new("http://node1:5001/");
    private static readonly Uri Node2 = new("http://node2:5002/");
    private static readonly Uri Node3 = new("http://node3:5003/");
    private static readonly Dictionary<int, Uri> Nodes = new() { [1] = Node1, [2] = Node2, [3] = Node3 };

    private const string Members = """{"leaderId":2,"members":[{"id":1,"peerAddress":"node1:7001","httpEndpoint":"http://node1:5001","voter":true,"leader":false},{"id":2,"peerAddress":"node2:7002","httpEndpoint":"http://node2:5002","voter":true,"leader":true}]}""";

    private static (RaftKvClient Client, InstantTimeProvider Time) Create(HttpMessageHandler handler, Action<RaftKvClientOptions>? configure = null, bool byId = true, Uri[]? endpoints = null)
    {
        var time = new InstantTimeProvider();
        var options = new RaftKvClientOptions { Handler = handler, TimeProvider = time, ClientId = "c-1", RequestTimeout = TimeSpan.FromSeconds(10) };
        configure?.Invoke(options);
        return (byId ? new RaftKvClient(Nodes, options) : new RaftKvClient(endpoints ?? [Node1, Node2, Node3], options), time);
    }

    private static string Host(SeenRequest r) => r.Uri.Host;

    [Fact]
    public async Task Put_OnAFollowerThatNamesTheLeader_GoesToTheLeader_WithTheSameSequence_AndCachesIt()
    {
        var handler = new ScriptedHandler((request, _) => request.RequestUri!.Host == "node2" ? ScriptedHandler.Put(7, 2) : ScriptedHandler.NotLeader(2));
        var (client, _) = Create(handler);
        using (client)
        {
            var first = await client.PutAsync("a", "x");
            var second = await client.PutAsync("b", Encoding.UTF8.GetBytes("y"));

            Assert.Equal(new PutResult(7, 7), first);
            Assert.Equal(new PutResult(7, 7), second);
            Assert.Equal(Node2, client.Leader);
            var seen = handler.Seen;
            Assert.Equal(["node1", "node2", "node2"], seen.Select(Host));
            Assert.Equal(["1", "1", "2"], seen.Select(r => r.Sequence));
            Assert.All(seen, r => Assert.Equal("c-1", r.ClientId));
            Assert.Equal(["x", "x", "y"], seen.Select(r => r.Body));
        }
    }

    [Fact]
    public async Task Redirect307_IsFollowedToItsLocation_WithTheSameSequenceAndBody()
    {
        var handler = new ScriptedHandler((request, _) =>
        {
            if (request.RequestUri!.Host == "node3")
            {
                return ScriptedHandler.Put(9, 3);
            }

            var redirect = new HttpResponseMessage(HttpStatusCode.TemporaryRedirect);
            redirect.Headers.Location = new Uri(Node3, request.RequestUri.PathAndQuery);
            redirect.Headers.Add("X-Raft-Leader", "3");
            return redirect;
        });
        var (client, _) = Create(handler, byId: false);
        using (client)
        {
            var result = await client.PutAsync("dir/key one", "v");

            Assert.Equal(9ul, result.Index);
            var seen = handler.Seen;
            Assert.Equal(2, seen.Count);
            Assert.Equal("/v1/kv/dir%2Fkey%20one", seen[1].Uri.AbsolutePath);
            Assert.Equal("node3", Host(seen[1]));
            Assert.Equal(seen[0].Sequence, seen[1].Sequence);
            Assert.Equal("v", seen[1].Body);
            Assert.Equal(Node3, client.Leader);
        }
    }

    [Fact]
    public async Task ConnectionFailure_MovesToTheNextNode_AndRetriesTheSameSequence()
    {
        var handler = new ScriptedHandler((request, _) => request.RequestUri!.Host == "node1"
            ? throw new HttpRequestException("connection refused")
            : ScriptedHandler.Put(4, 2));
        var (client, _) = Create(handler);
        using (client)
        {
            await client.PutAsync("k", "v");
            await client.DeleteAsync("k");

            var seen = handler.Seen;
            Assert.Equal(["node1", "node2", "node2"], seen.Select(Host));
            Assert.Equal(["1", "1", "2"], seen.Select(r => r.Sequence));
        }
    }

    [Fact]
    public async Task TimedOutAttempt_IsRetriedElsewhere_WithTheSameSequence()
    {
        var handler = new ScriptedHandler(async (request, _, cancellationToken) =>
        {
            if (request.RequestUri!.Host == "node1")
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }

            return ScriptedHandler.Put(5, 2);
        });
        var (client, _) = Create(handler, o => o.RequestTimeout = TimeSpan.FromMilliseconds(50));
        using (client)
        {
            await client.PutAsync("k", "v");

            Assert.Equal(["node1", "node2"], handler.Seen.Select(Host));
            Assert.Equal(["1", "1"], handler.Seen.Select(r => r.Sequence));
        }
    }

    [Fact]
    public async Task GatewayErrors_AreRetried_WithTheSameSequence()
    {
        var handler = new ScriptedHandler((_, n) => n switch
        {
            0 => ScriptedHandler.Json(HttpStatusCode.BadGateway, """{"error":"leader_unreachable","detail":"forwarding failed"}""", -1),
            1 => ScriptedHandler.Json(HttpStatusCode.GatewayTimeout, """{"error":"timeout","detail":"outcome unknown"}""", -1),
            _ => ScriptedHandler.Put(12, 0),
        });
        var (client, _) = Create(handler);
        using (client)
        {
            var result = await client.PutAsync("k", "v");

            Assert.Equal(12ul, result.Index);
            Assert.Equal(["1", "1", "1"], handler.Seen.Select(r => r.Sequence));
        }
    }

    [Fact]
    public async Task RetryAfter_DelaysTheNextAttempt_UpToTheCap()
    {
        var handler = new ScriptedHandler((_, n) => n < 2 ? ScriptedHandler.NoLeader(retryAfterSeconds: 1) : ScriptedHandler.Put(3, 0));
        var (client, time) = Create(handler, o => o.MaxRetryAfter = TimeSpan.FromSeconds(5));
        using (client)
        {
            await client.PutAsync("k", "v");

            Assert.Equal(3, handler.Seen.Count);
            Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)], time.Waits);
        }

        var capped = new ScriptedHandler((_, n) => n < 2 ? ScriptedHandler.NoLeader(retryAfterSeconds: 30) : ScriptedHandler.Put(3, 0));
        var (cappedClient, cappedTime) = Create(capped, o => o.MaxRetryAfter = TimeSpan.FromMilliseconds(200));
        using (cappedClient)
        {
            await cappedClient.PutAsync("k", "v");

            Assert.Equal([TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200)], cappedTime.Waits);
        }
    }

    [Fact]
    public async Task NoLeaderUntilTheDeadline_ThrowsNoLeaderException()
    {
        var handler = new ScriptedHandler((_, _) => ScriptedHandler.NoLeader());
        var (client, time) = Create(handler, o => o.RetryDeadline = TimeSpan.FromSeconds(5));
        using (client)
        {
            var error = await Assert.ThrowsAsync<NoLeaderException>(() => client.PutAsync("k", "v"));

            Assert.Equal("no_leader", error.ErrorCode);
            Assert.Equal(handler.Seen.Count, error.Attempts);
            Assert.InRange(error.Attempts, 2, 10);
            Assert.All(handler.Seen, r => Assert.Equal("1", r.Sequence));
            Assert.Equal(TimeSpan.FromSeconds(5), time.Waits.Aggregate(TimeSpan.Zero, (a, b) => a + b));
        }
    }

    [Fact]
    public async Task Options_ChangedAfterTheClientIsCreated_DoNotChangeIt()
    {
        var handler = new ScriptedHandler((_, _) => ScriptedHandler.NoLeader());
        var time = new InstantTimeProvider();
        var options = new RaftKvClientOptions { Handler = handler, TimeProvider = time, MaxAttempts = 2 };
        using var client = new RaftKvClient(Nodes, options);
        options.MaxAttempts = 50;

        var error = await Assert.ThrowsAsync<NoLeaderException>(() => client.GetAsync("k"));

        Assert.Equal(2, error.Attempts);
        Assert.Equal(2, handler.Seen.Count);
    }

    [Fact]
    public async Task AttemptBudget_BoundsARedirectLoop()
    {
        var handler = new ScriptedHandler((request, _) =>
        {
            var redirect = new HttpResponseMessage(HttpStatusCode.TemporaryRedirect);
            redirect.Headers.Location = new Uri(request.RequestUri!.Host == "node1" ? Node2 : Node1, request.RequestUri.PathAndQuery);
            return redirect;
        });
        var (client, _) = Create(handler, o => o.MaxAttempts = 6);
        using (client)
        {
            await Assert.ThrowsAsync<NoLeaderException>(() => client.GetAsync("k"));

            Assert.Equal(6, handler.Seen.Count);
        }
    }

    [Fact]
    public async Task NodesNamingEachOther_AreNotBouncedBetweenWithoutWaiting()
    {
        var handler = new ScriptedHandler((request, n) => n >= 8
            ? ScriptedHandler.Put(30, 1)
            : ScriptedHandler.NotLeader(request.RequestUri!.Host == "node1" ? 2 : 1));
        var (client, time) = Create(handler);
        using (client)
        {
            await client.PutAsync("k", "v");

            Assert.Equal(9, handler.Seen.Count);
            Assert.InRange(time.Waits.Count, 2, 4);
            Assert.All(handler.Seen, r => Assert.Equal("1", r.Sequence));
        }
    }

    [Fact]
    public async Task BadGateway_DoesNotSendTheRequestToTheLeaderTheNodeCouldNotReach()
    {
        var handler = new ScriptedHandler((request, _) => request.RequestUri!.Host switch
        {
            "node1" => ScriptedHandler.Json(HttpStatusCode.BadGateway, """{"error":"leader_unreachable","detail":"forwarding failed"}""", 3),
            "node2" => ScriptedHandler.Put(40, 2),
            _ => throw new HttpRequestException("connection refused"),
        });
        var (client, _) = Create(handler);
        using (client)
        {
            await client.PutAsync("k", "v");

            Assert.Equal(["node1", "node2"], handler.Seen.Select(Host));
        }
    }

    [Fact]
    public async Task LeaderHintByAnUnknownId_IsResolvedThroughTheClusterMembers()
    {
        var handler = new ScriptedHandler((request, _) => (request.RequestUri!.Host, request.RequestUri.AbsolutePath) switch
        {
            ("node1", "/v1/cluster/members") => ScriptedHandler.Json(HttpStatusCode.OK, """{"leaderId":3,"members":[{"id":1,"peerAddress":"node1:7001","httpEndpoint":"http://node1:5001","voter":true,"leader":false},{"id":2,"peerAddress":"node2:7002","httpEndpoint":"http://node2:5002","voter":true,"leader":false},{"id":3,"peerAddress":"node3:7003","httpEndpoint":"http://node3:5003","voter":true,"leader":true}]}"""),
            ("node3", _) => ScriptedHandler.Put(21, 3),
            _ => ScriptedHandler.NotLeader(3),
        });
        var (client, time) = Create(handler, byId: false);
        using (client)
        {
            await client.PutAsync("k", "v");

            Assert.Equal(["/v1/kv/k", "/v1/cluster/members", "/v1/kv/k"], handler.Seen.Select(r => r.Uri.AbsolutePath));
            Assert.Equal("node3", Host(handler.Seen[2]));
            Assert.Empty(time.Waits);
        }
    }

    [Fact]
    public async Task AForwardedAnswer_TeachesTheLeader_SoTheNextRequestSkipsTheFollower()
    {
        var handler = new ScriptedHandler((request, _) => (request.RequestUri!.Host, request.RequestUri.AbsolutePath) switch
        {
            ("node1", "/v1/cluster/members") => ScriptedHandler.Json(HttpStatusCode.OK, Members),
            (_, "/v1/cluster/members") => throw new InvalidOperationException("the members are asked once"),
            _ => ScriptedHandler.Put(5, 2),
        });
        var (client, _) = Create(handler, byId: false, endpoints: [Node1]);
        using (client)
        {
            await client.PutAsync("a", "x");
            await client.PutAsync("b", "y");
            await client.PutAsync("c", "z");

            Assert.Equal(["node1/v1/kv/a", "node1/v1/cluster/members", "node2/v1/kv/b", "node2/v1/kv/c"], handler.Seen.Select(r => r.Uri.Host + r.Uri.AbsolutePath));
            Assert.Equal(Node2, client.Leader);
        }
    }

    [Fact]
    public async Task AMembersLookupThatGotNoAnswer_IsMadeAgainOnTheNextAnswerNamingTheLeader()
    {
        var lookups = 0;
        var handler = new ScriptedHandler((request, _) => (request.RequestUri!.Host, request.RequestUri.AbsolutePath) switch
        {
            ("node1", "/v1/cluster/members") when Interlocked.Increment(ref lookups) == 1 => throw new HttpRequestException("connection reset"),
            ("node1", "/v1/cluster/members") => ScriptedHandler.Json(HttpStatusCode.OK, Members),
            _ => ScriptedHandler.Put(5, 2),
        });
        var (client, _) = Create(handler, byId: false, endpoints: [Node1]);
        using (client)
        {
            await client.PutAsync("a", "x");
            await client.PutAsync("b", "y");
            await client.PutAsync("c", "z");

            Assert.Equal(
                ["node1/v1/kv/a", "node1/v1/cluster/members", "node1/v1/kv/b", "node1/v1/cluster/members", "node2/v1/kv/c"],
                handler.Seen.Select(r => r.Uri.Host + r.Uri.AbsolutePath));
        }
    }

    [Fact]
    public async Task ALearnedLeaderThatCannotBeReached_IsNotTakenUpAgainFromAForwardedAnswer_ForAWhile()
    {
        var handler = new ScriptedHandler((request, _) => (request.RequestUri!.Host, request.RequestUri.AbsolutePath) switch
        {
            ("node2", _) => throw new HttpRequestException("connection refused"),
            ("node1", "/v1/cluster/members") => ScriptedHandler.Json(HttpStatusCode.OK, Members),
            _ => ScriptedHandler.Put(5, 2),
        });
        var (client, time) = Create(handler, byId: false, endpoints: [Node1]);
        using (client)
        {
            await client.PutAsync("a", "x");
            await client.PutAsync("b", "y");
            await client.PutAsync("c", "z");

            // Held off for one request timeout (10 s here) from the failure.
            time.Advance(TimeSpan.FromSeconds(9));
            await client.PutAsync("d", "w");
            Assert.Null(client.Leader);
            time.Advance(TimeSpan.FromSeconds(1));
            await client.PutAsync("e", "v");

            Assert.Equal(
                ["node1/v1/kv/a", "node1/v1/cluster/members", "node2/v1/kv/b", "node1/v1/kv/b", "node1/v1/kv/c", "node1/v1/kv/d", "node1/v1/kv/e"],
                handler.Seen.Select(r => r.Uri.Host + r.Uri.AbsolutePath));
            Assert.Equal(Node2, client.Leader);
        }
    }

    [Fact]
    public async Task CompareAndSet_Mismatch_ThrowsPreconditionFailed_WithTheCurrentVersion()
    {
        var handler = new ScriptedHandler((_, _) => ScriptedHandler.Json(HttpStatusCode.PreconditionFailed, """{"error":"precondition_failed","detail":"version is 8","currentVersion":8}""", 1));
        var (client, _) = Create(handler);
        using (client)
        {
            var error = await Assert.ThrowsAsync<PreconditionFailedException>(() => client.CompareAndSetAsync("k", "v", 5));
            var deleteError = await Assert.ThrowsAsync<PreconditionFailedException>(() => client.CompareAndDeleteAsync("k", 0));

            Assert.Equal(8ul, error.CurrentVersion);
            Assert.Equal("precondition_failed", error.ErrorCode);
            Assert.Equal(HttpStatusCode.PreconditionFailed, deleteError.StatusCode);
            Assert.Equal(["5", "0"], handler.Seen.Select(r => r.IfMatch));
            Assert.Equal([HttpMethod.Put, HttpMethod.Delete], handler.Seen.Select(r => r.Method));
        }
    }

    [Fact]
    public async Task AcquireLock_ReturnsTheFencingToken_AndAConflictThrowsLockHeld()
    {
        var handler = new ScriptedHandler((_, n) => n == 0
            ? ScriptedHandler.Json(HttpStatusCode.OK, """{"name":"job","owner":"a","fencingToken":42,"expiresAtMs":1700000005000}""", 1)
            : ScriptedHandler.Json(HttpStatusCode.Conflict, """{"error":"lock_held","detail":"held by a","holder":"a","expiresAtMs":1700000005000}""", 1));
        var (client, _) = Create(handler);
        using (client)
        {
            var lease = await client.AcquireLockAsync("job", "a", TimeSpan.FromSeconds(5));
            var error = await Assert.ThrowsAsync<LockHeldException>(() => client.AcquireLockAsync("job", "b", TimeSpan.FromSeconds(5), wait: TimeSpan.FromMilliseconds(250)));

            Assert.Equal(42ul, lease.FencingToken);
            Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1700000005000), lease.ExpiresAt);
            Assert.Equal("a", error.Holder);
            Assert.Equal(1700000005000, error.ExpiresAtMs);
            Assert.Equal("/v1/locks/job", handler.Seen[0].Uri.AbsolutePath);
            Assert.Equal("?waitMs=250", handler.Seen[1].Uri.Query);
            Assert.Equal("""{"owner":"b","ttlMs":5000}""", handler.Seen[1].Body);
            Assert.Equal(["1", "2"], handler.Seen.Select(r => r.Sequence));
        }
    }

    [Fact]
    public async Task RenewAndRelease_AreWritesOfTheSameOwner()
    {
        var handler = new ScriptedHandler((request, _) => request.Method == HttpMethod.Delete
            ? ScriptedHandler.Json(HttpStatusCode.OK, """{"name":"job","released":true}""", 1)
            : ScriptedHandler.Json(HttpStatusCode.OK, """{"name":"job","owner":"a","fencingToken":42,"expiresAtMs":1700000009000}""", 1));
        var (client, _) = Create(handler);
        using (client)
        {
            var renewed = await client.RenewLockAsync("job", "a", TimeSpan.FromSeconds(9));
            await client.ReleaseLockAsync("job", "a");

            Assert.Equal(42ul, renewed.FencingToken);
            Assert.Equal([HttpMethod.Put, HttpMethod.Delete], handler.Seen.Select(r => r.Method));
            Assert.Equal("""{"owner":"a"}""", handler.Seen[1].Body);
            Assert.Equal(["1", "2"], handler.Seen.Select(r => r.Sequence));
        }
    }

    [Fact]
    public async Task Get_ReturnsTheValueAndVersion_OrNullWhenAbsent_AndCarriesNoSession()
    {
        var handler = new ScriptedHandler((request, _) =>
        {
            if (request.RequestUri!.AbsolutePath.EndsWith("/missing", StringComparison.Ordinal))
            {
                return ScriptedHandler.Json(HttpStatusCode.NotFound, """{"error":"not_found","detail":"no such key"}""", 1);
            }

            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([1, 2, 3]) };
            response.Headers.Add("X-Raft-Version", "17");
            response.Headers.Add("X-Raft-Create-Index", "4");
            return response;
        });
        var (client, _) = Create(handler);
        using (client)
        {
            var entry = await client.GetAsync("present", Consistency.Stale);
            var missing = await client.GetAsync("missing");

            Assert.NotNull(entry);
            Assert.Equal([1, 2, 3], entry.Value);
            Assert.Equal(17ul, entry.Version);
            Assert.Equal(4ul, entry.CreateIndex);
            Assert.Null(missing);
            Assert.Equal(["?consistency=stale", "?consistency=linearizable"], handler.Seen.Select(r => r.Uri.Query));
            Assert.All(handler.Seen, r => Assert.Null(r.Sequence));
        }
    }

    [Fact]
    public async Task List_DecodesItems()
    {
        var handler = new ScriptedHandler((_, _) => ScriptedHandler.Json(HttpStatusCode.OK, """{"items":[{"key":"p/a","value":"aGk=","version":3,"createIndex":2}],"more":true,"index":9}""", 1));
        var (client, _) = Create(handler);
        using (client)
        {
            var list = await client.ListAsync("p/", 1);

            Assert.True(list.More);
            Assert.Equal(9ul, list.Index);
            Assert.Equal("hi", Assert.Single(list.Items).ValueAsString());
            Assert.Equal("?prefix=p%2F&limit=1", handler.Seen[0].Uri.Query);
        }
    }

    [Fact]
    public async Task List_SendsAfterAndKeysOnly_AndReadsNext()
    {
        var handler = new ScriptedHandler((_, _) => ScriptedHandler.Json(HttpStatusCode.OK, """{"items":[{"key":"p/b","version":3,"createIndex":2}],"more":true,"index":9,"next":"p/b"}""", 1));
        var (client, _) = Create(handler);
        using (client)
        {
            var list = await client.ListAsync("p/", 1, "p/a b+&", keysOnly: true);

            Assert.Equal("?prefix=p%2F&limit=1&after=p%2Fa%20b%2B%26&keys=true", handler.Seen[0].Uri.Query);
            var item = Assert.Single(list.Items);
            Assert.Equal(("p/b", 3ul, 2ul), (item.Key, item.Version, item.CreateIndex));
            Assert.Empty(item.Value);
            Assert.True(list.More);
            Assert.Equal("p/b", list.Next);
            await Assert.ThrowsAsync<ArgumentException>(() => client.ListAsync("p/", 1, string.Empty, keysOnly: false));
        }
    }

    [Fact]
    public async Task ListAll_AsksForEachPageAfterTheLastKeyOfTheOneBefore_UntilNoMoreMatch()
    {
        string[] pages =
        [
            """{"items":[{"key":"p/a","value":"YQ==","version":1,"createIndex":1},{"key":"p/b","value":"Yg==","version":2,"createIndex":2}],"more":true,"index":5,"next":"p/b"}""",
            """{"items":[{"key":"p/c","value":"Yw==","version":3,"createIndex":3},{"key":"p/d","value":"ZA==","version":4,"createIndex":4}],"more":true,"index":5,"next":"p/d"}""",
            """{"items":[{"key":"p/e","value":"ZQ==","version":5,"createIndex":5}],"more":false,"index":5}""",
        ];
        var handler = new ScriptedHandler((_, n) => ScriptedHandler.Json(HttpStatusCode.OK, pages[n], 1));
        var (client, _) = Create(handler);
        using (client)
        {
            var entries = new List<KvEntry>();
            await foreach (var entry in client.ListAllAsync("p/", pageSize: 2))
            {
                entries.Add(entry);
            }

            Assert.Equal(["p/a", "p/b", "p/c", "p/d", "p/e"], entries.Select(e => e.Key));
            Assert.Equal(["a", "b", "c", "d", "e"], entries.Select(e => e.ValueAsString()));
            Assert.Equal(
                ["?prefix=p%2F&limit=2", "?prefix=p%2F&limit=2&after=p%2Fb", "?prefix=p%2F&limit=2&after=p%2Fd"],
                handler.Seen.Select(r => r.Uri.Query));
        }
    }

    [Fact]
    public async Task ListAll_RefusesAServerThatIgnoresAfter_RatherThanListTheSamePageForever()
    {
        // A node older than paging: no next, and after ignored, so every page is the first.
        var handler = new ScriptedHandler((_, _) => ScriptedHandler.Json(HttpStatusCode.OK, """{"items":[{"key":"p/a","value":"","version":1,"createIndex":1},{"key":"p/b","value":"","version":2,"createIndex":2}],"more":true,"index":5}""", 1));
        var (client, _) = Create(handler);
        using (client)
        {
            var listed = new List<string>();
            var error = await Assert.ThrowsAsync<RaftKvException>(async () =>
            {
                await foreach (var entry in client.ListAllAsync("p/", pageSize: 2, keysOnly: true))
                {
                    listed.Add(entry.Key);
                }
            });

            Assert.Equal("malformed_response", error.ErrorCode);
            Assert.Equal(["p/a", "p/b"], listed);
            Assert.Equal(["?prefix=p%2F&limit=2&keys=true", "?prefix=p%2F&limit=2&after=p%2Fb&keys=true"], handler.Seen.Select(r => r.Uri.Query));
        }
    }

    [Fact]
    public async Task ServerError_ThrowsRaftKvException_WithItsCode()
    {
        var handler = new ScriptedHandler((_, _) => ScriptedHandler.Json(HttpStatusCode.RequestEntityTooLarge, """{"error":"value_too_large","detail":"too big"}""", 1));
        var (client, _) = Create(handler);
        using (client)
        {
            var error = await Assert.ThrowsAsync<RaftKvException>(() => client.PutAsync("k", "v"));

            Assert.Equal("value_too_large", error.ErrorCode);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, error.StatusCode);
            Assert.Single(handler.Seen);
        }
    }

    [Fact]
    public async Task OtherConflicts_AreNotMistakenForAHeldLock()
    {
        var handler = new ScriptedHandler((request, _) => request.RequestUri!.AbsolutePath.StartsWith("/v1/locks/", StringComparison.Ordinal)
            ? ScriptedHandler.Json(HttpStatusCode.NotFound, """{"error":"lock_not_held","detail":"nobody holds 'job'"}""", 1)
            : ScriptedHandler.Json(HttpStatusCode.Conflict, """{"error":"stale_sequence","detail":"sequence 1 is below 9"}""", 1));
        var (client, _) = Create(handler);
        using (client)
        {
            var stale = await Assert.ThrowsAsync<RaftKvException>(() => client.PutAsync("k", "v"));
            var notHeld = await Assert.ThrowsAsync<RaftKvException>(() => client.RenewLockAsync("job", "a", TimeSpan.FromSeconds(1)));

            Assert.IsNotType<LockHeldException>(stale);
            Assert.Equal("stale_sequence", stale.ErrorCode);
            Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
            Assert.Equal("lock_not_held", notHeld.ErrorCode);
        }
    }

    [Fact]
    public async Task A404ThatIsNotAboutTheKeyOrLock_IsAnError_NotAnAbsence()
    {
        var handler = new ScriptedHandler((request, _) => request.RequestUri!.AbsolutePath switch
        {
            "/v1/kv/gone" => ScriptedHandler.Json(HttpStatusCode.NotFound, """{"error":"not_found","detail":"no key 'gone'"}""", 1),
            "/v1/locks/free" => ScriptedHandler.Json(HttpStatusCode.NotFound, """{"error":"lock_not_held","detail":"nobody holds 'free'"}""", 1),
            _ => ScriptedHandler.Json(HttpStatusCode.NotFound, """{"error":"no_route","detail":"no route matches"}""", 1),
        });
        var (client, _) = Create(handler);
        using (client)
        {
            Assert.Null(await client.GetAsync("gone"));
            Assert.Null(await client.GetLockAsync("free"));
            Assert.Equal("no_route", (await Assert.ThrowsAsync<RaftKvException>(() => client.GetAsync("elsewhere"))).ErrorCode);
            Assert.Equal("no_route", (await Assert.ThrowsAsync<RaftKvException>(() => client.GetLockAsync("elsewhere"))).ErrorCode);
        }
    }

    [Fact]
    public async Task Names_GoOutAsOneEscapedSegment_SoNothingOnTheWayRewritesThem()
    {
        var handler = new ScriptedHandler((request, _) => request.Method == HttpMethod.Put && request.RequestUri!.AbsolutePath.StartsWith("/v1/kv/", StringComparison.Ordinal)
            ? ScriptedHandler.Put(4, 1)
            : ScriptedHandler.Json(HttpStatusCode.OK, """{"name":"jobs/nightly","owner":"a","fencingToken":5,"expiresAtMs":9}""", 1));
        var (client, _) = Create(handler);
        using (client)
        {
            await client.PutAsync("reports/../2024/q1", "v");
            await client.PutAsync("100%/done", "v");
            await client.AcquireLockAsync("jobs/nightly", "a", TimeSpan.FromSeconds(1));

            Assert.Equal(
                ["/v1/kv/reports%2F..%2F2024%2Fq1", "/v1/kv/100%25%2Fdone", "/v1/locks/jobs%2Fnightly"],
                handler.Seen.Select(r => r.Uri.AbsolutePath));
        }
    }

    [Fact]
    public async Task Cancellation_DuringARequest_StopsAtOnce()
    {
        using var cancel = new CancellationTokenSource();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new ScriptedHandler(async (_, _, cancellationToken) =>
        {
            entered.SetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            return ScriptedHandler.Put(1, 1);
        });
        var (client, _) = Create(handler);
        using (client)
        {
            var put = client.PutAsync("k", "v", cancel.Token);
            await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await cancel.CancelAsync();

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => put.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Single(handler.Seen);
        }
    }

    [Fact]
    public async Task Cancellation_BetweenRetries_SendsNothingMore()
    {
        using var cancel = new CancellationTokenSource();
        var handler = new ScriptedHandler((_, _) =>
        {
            cancel.Cancel();
            return ScriptedHandler.NoLeader();
        });
        var (client, _) = Create(handler);
        using (client)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.PutAsync("k", "v", cancel.Token));

            Assert.Single(handler.Seen);
        }
    }

    [Fact]
    public async Task ConcurrentWrites_GoOneAtATime_EachWithItsOwnSequence()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new ScriptedHandler(async (_, n, _) =>
        {
            if (n == 0)
            {
                entered.SetResult();
                await release.Task;
            }

            return ScriptedHandler.Put((ulong)n + 1, 1);
        });
        var (client, _) = Create(handler);
        using (client)
        {
            var first = client.PutAsync("a", "1");
            await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
            var second = client.PutAsync("b", "2");
            var read = client.GetAsync("c");
            await read.WaitAsync(TimeSpan.FromSeconds(10));

            // The read went by while the first write was in flight; the second write waited for it.
            Assert.Null(Assert.Single(handler.Seen, r => r.Method == HttpMethod.Get).Sequence);
            Assert.DoesNotContain(handler.Seen, r => r.Body == "2");
            release.SetResult();
            await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Equal(["1", "2"], handler.Seen.Where(r => r.Method == HttpMethod.Put).Select(r => r.Sequence));
        }
    }

    [Fact]
    public async Task FirstSequence_AndClientId_AreTakenFromTheOptions()
    {
        var handler = new ScriptedHandler((_, _) => ScriptedHandler.Put(1, 1));
        var (client, _) = Create(handler, o => (o.ClientId, o.FirstSequence) = ("resumed", 1000));
        using (client)
        {
            await client.PutAsync("k", "v");
            await client.PutAsync("k", "w");

            Assert.Equal("resumed", client.ClientId);
            Assert.Equal(["1000", "1001"], handler.Seen.Select(r => r.Sequence));
            Assert.All(handler.Seen, r => Assert.Equal("resumed", r.ClientId));
        }
    }

    [Fact]
    public async Task ClientsSharingOptions_HaveSessionsOfTheirOwn()
    {
        var handler = new ScriptedHandler((_, _) => ScriptedHandler.Put(1, 1));
        var options = new RaftKvClientOptions { Handler = handler, DisposeHandler = false };
        using var first = new RaftKvClient(Nodes, options);
        using var second = new RaftKvClient(Nodes, options);

        await first.PutAsync("k", "v");
        await second.PutAsync("k", "w");

        Assert.NotEqual(first.ClientId, second.ClientId);
        Assert.Equal([first.ClientId, second.ClientId], handler.Seen.Select(r => r.ClientId));
        Assert.Equal(["1", "1"], handler.Seen.Select(r => r.Sequence));
    }

    [Fact]
    public void Constructor_RefusesNoEndpoints_AndRelativeOnes()
    {
        Assert.Throws<ArgumentException>(() => new RaftKvClient(Array.Empty<Uri>()));
        Assert.Throws<ArgumentException>(() => new RaftKvClient([new Uri("/relative", UriKind.Relative)]));
        Assert.Throws<ArgumentException>(() => new RaftKvClient([Node1], new RaftKvClientOptions { ClientId = new string('x', RaftKvClientOptions.ClientIdBytesMax + 1) }));
    }
}
