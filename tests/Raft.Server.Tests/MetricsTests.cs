using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Raft.Server.Tests;

/// <summary>
/// The node's metrics: the instruments of the <c>Raft.Server</c> meter, the Prometheus text of <c>/metrics</c> fed from
/// the same state, the per-peer, transport, snapshot, store and runtime families, and the Grafana dashboard's queries.
/// </summary>
public sealed partial class MetricsTests
{
    [Fact]
    public async Task A_listener_sees_every_family_as_an_instrument_of_the_Raft_Server_meter()
    {
        await using var cluster = await TestCluster.StartAsync(size: 1);
        var leader = await cluster.WaitForLeaderAsync();
        var metrics = cluster.Service<NodeMetrics>(leader);
        var longs = new Dictionary<string, long>();
        var recorded = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Other tests' nodes in this process have meters of the same name (and maybe the same node id): this node's is
            // the one its host made.
            if (instrument.Meter.Name == NodeMetrics.MeterName && ReferenceEquals(instrument.Meter, metrics.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (longs)
            {
                longs[instrument.Name] = value;
            }
        });
        listener.SetMeasurementEventCallback<double>((instrument, _, _, _) =>
        {
            lock (recorded)
            {
                recorded.Add(instrument.Name);
            }
        });
        listener.Start();

        await PutAsync(cluster.Client(leader), "k", "v");
        listener.RecordObservableInstruments();
        lock (longs)
        {
            Assert.Equal(metrics.Term, longs["raft.term"]);
            Assert.Equal(1, longs["raft.is_leader"]);
            Assert.True(longs["raft.commit_index"] >= 1, "raft.commit_index");
        }

        lock (recorded)
        {
            Assert.Contains("raft.proposal_duration", recorded);
            Assert.Contains("raft.fsync_duration", recorded);
        }

        // Every raft_ and http_ family of the text is an instrument, named by the one rule; dotnet_ and process_ are not
        // (a listener reads those from the runtime's System.Runtime meter).
        var published = new HashSet<string>();
        using var names = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter, metrics.Meter))
                {
                    published.Add(instrument.Name);
                }
            },
        };
        names.Start();
        var families = Families(await cluster.Client(leader).GetStringAsync("/metrics"));
        Assert.Contains("raft_peer_lag_entries", families.Keys);
        foreach (var family in families.Keys)
        {
            var (instrument, _) = NodeMetrics.InstrumentName(family);
            Assert.Equal(!family.StartsWith("dotnet_", StringComparison.Ordinal) && !family.StartsWith("process_", StringComparison.Ordinal), published.Contains(instrument));
        }
    }

    [Fact]
    public void Counting_on_the_write_path_allocates_nothing_with_or_without_a_listener()
    {
        using var meters = new TestMeterFactory();
        var metrics = new NodeMetrics(meters, new NodeOptions { Id = 1 });
        Assert.Equal(0, AllocatedBy(metrics));

        using var listener = new MeterListener();
        double sum = 0;
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, value, _, _) => sum += value);
        listener.Start();
        Assert.Equal(0, AllocatedBy(metrics));
        Assert.True(sum > 0, "the listener saw no histogram record");
    }

    [Fact]
    public async Task The_leader_shows_a_stopped_followers_lag_and_last_contact_growing()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync();
        var stopped = leader % 3 + 1;
        var live = 6 - leader - stopped;
        await PutAsync(cluster.Client(leader), "before", "v");
        await WaitForSampleAsync(cluster, leader, $"raft_peer_lag_entries{{peer=\"{stopped}\"}}", lag => lag == 0);

        await cluster.StopNodeAsync(stopped);
        for (var i = 0; i < 20; i++)
        {
            await PutAsync(cluster.Client(leader), $"k{i}", "v");
        }

        await WaitForSampleAsync(cluster, leader, $"raft_peer_lag_entries{{peer=\"{stopped}\"}}", lag => lag >= 20);
        await WaitForSampleAsync(cluster, leader, $"raft_peer_last_contact_seconds{{peer=\"{stopped}\"}}", seconds => seconds >= 1);
        var samples = await SamplesAsync(cluster, leader);
        Assert.Equal(0, samples[$"raft_peer_lag_entries{{peer=\"{live}\"}}"]);
        Assert.True(samples[$"raft_peer_last_contact_seconds{{peer=\"{live}\"}}"] < 1, "the live follower's last contact");

        // A follower shows last contact (with the leader) but no lag: only the leader knows its peers' progress.
        var follower = await SamplesAsync(cluster, live);
        Assert.DoesNotContain(follower.Keys, key => key.StartsWith("raft_peer_lag_entries{", StringComparison.Ordinal));
        Assert.True(follower[$"raft_peer_last_contact_seconds{{peer=\"{leader}\"}}"] < 1, "the follower's last contact with the leader");
    }

    [Fact]
    public async Task Transport_counts_drops_and_reconnects_per_peer()
    {
        await using var cluster = await TestCluster.StartAsync(tcp: true);
        var leader = await cluster.WaitForLeaderAsync();
        var restarted = leader % 3 + 1;
        var reconnects = $"raft_transport_reconnects_total{{peer=\"{restarted}\"}}";
        var before = await SamplesAsync(cluster, leader);
        Assert.Contains($"raft_transport_dropped_messages_total{{peer=\"{restarted}\"}}", before.Keys);

        await cluster.StopNodeAsync(restarted);
        await cluster.StartNodeAsync(restarted);
        await WaitForSampleAsync(cluster, leader, reconnects, count => count > before[reconnects]);
    }

    [Fact]
    public async Task Sessions_locks_and_runtime_figures_are_shown()
    {
        await using var cluster = await TestCluster.StartAsync(size: 1);
        var leader = await cluster.WaitForLeaderAsync();
        var client = cluster.Client(leader);
        var before = await SamplesAsync(cluster, leader);
        Assert.Equal(0, before["raft_sessions"]);
        Assert.Equal(0, before["raft_locks"]);

        using (var put = new HttpRequestMessage(HttpMethod.Put, "/v1/kv/s") { Content = new StringContent("v") })
        {
            put.Headers.Add("X-Client-Id", "metrics-test");
            put.Headers.Add("X-Client-Seq", "1");
            using var response = await client.SendAsync(put);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using (var acquired = await client.PostAsync("/v1/locks/job", new StringContent("{\"owner\":\"a\",\"ttlMs\":60000}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, acquired.StatusCode);
        }

        await WaitForSampleAsync(cluster, leader, "raft_sessions", count => count == 1);
        await WaitForSampleAsync(cluster, leader, "raft_locks", count => count == 1);

        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        var after = await SamplesAsync(cluster, leader);
        const string FullCollections = "dotnet_collection_count_total{generation=\"2\"}";
        Assert.True(after[FullCollections] > before[FullCollections], FullCollections);
        Assert.True(after["dotnet_threadpool_completed_items_total"] > before["dotnet_threadpool_completed_items_total"], "thread-pool work items");
        Assert.True(after["dotnet_threadpool_threads"] >= 1, "thread-pool threads");
        Assert.True(after["dotnet_total_memory_bytes"] > 0, "dotnet_total_memory_bytes");
        Assert.True(after["process_cpu_seconds_total"] > 0, "process_cpu_seconds_total");
    }

    [Fact]
    public async Task Every_metric_the_Grafana_dashboard_queries_is_served()
    {
        var path = Path.Combine(Repository.Root(), "docs", "grafana-dashboard.json");
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(path));
        var queries = new List<string>();
        CollectExpressions(dashboard.RootElement, queries);
        Assert.True(queries.Count >= 10, $"the dashboard has {queries.Count} queries");

        // A three-node TCP cluster after a write: every family, per-peer and transport ones included, has samples.
        await using var cluster = await TestCluster.StartAsync(tcp: true);
        var leader = await cluster.WaitForLeaderAsync();
        await PutAsync(cluster.Client(leader), "k", "v");
        await WaitForSampleAsync(cluster, leader, $"raft_peer_lag_entries{{peer=\"{leader % 3 + 1}\"}}", lag => lag == 0);
        var text = await cluster.Client(leader).GetStringAsync("/metrics");
        var families = Families(text);
        var missing = new List<string>();
        foreach (var query in queries)
        {
            foreach (Match name in MetricName().Matches(query))
            {
                var family = Regex.Replace(name.Value, "_(bucket|sum|count)$", "");
                if (!(families.TryGetValue(name.Value, out _) || (families.TryGetValue(family, out var type) && type == "histogram"))
                    || !text.Contains('\n' + name.Value, StringComparison.Ordinal))
                {
                    missing.Add($"{name.Value} in {query}");
                }
            }
        }

        Assert.Empty(missing);
    }

    [Fact]
    public async Task The_README_table_names_every_family_served()
    {
        var readme = await File.ReadAllLinesAsync(Path.Combine(Repository.Root(), "README.md"));
        var start = Array.IndexOf(readme, "### Metrics");
        Assert.True(start >= 0, "README.md has no ### Metrics section");
        var documented = readme.Skip(start).TakeWhile(line => !line.StartsWith("## ", StringComparison.Ordinal))
            .Where(line => line.StartsWith("| `", StringComparison.Ordinal))
            .SelectMany(line => Regex.Matches(line.Split('|')[1], "`([a-z_]+)`").Select(match => match.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);

        await using var cluster = await TestCluster.StartAsync(size: 1);
        var leader = await cluster.WaitForLeaderAsync();
        var served = Families(await cluster.Client(leader).GetStringAsync("/metrics")).Keys;
        Assert.Empty(served.Except(documented));
        Assert.Empty(documented.Except(served));
    }

    internal static Dictionary<string, string> Families(string text) =>
        text.Split('\n').Where(line => line.StartsWith("# TYPE ", StringComparison.Ordinal))
            .Select(line => line.Split(' '))
            .ToDictionary(parts => parts[2], parts => parts[3], StringComparer.Ordinal);

    private static long AllocatedBy(NodeMetrics metrics)
    {
        WritePath(metrics);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            WritePath(metrics);
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    // What a write does to the metrics: a request counted, an fsync and a proposal timed, now and then a snapshot sent.
    private static void WritePath(NodeMetrics metrics)
    {
        metrics.CountRequest("/v1/kv/{**key}", "PUT", 200);
        metrics.ObserveFsync(TimeSpan.FromMilliseconds(1));
        metrics.ObserveProposal(TimeSpan.FromMilliseconds(2));
        metrics.SnapshotSendStarted(4096);
        metrics.ElectionStarted();
    }

    private static void CollectExpressions(JsonElement element, List<string> into)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name is "expr" or "query" && property.Value.ValueKind == JsonValueKind.String)
                    {
                        into.Add(property.Value.GetString()!);
                    }
                    else
                    {
                        CollectExpressions(property.Value, into);
                    }
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    CollectExpressions(item, into);
                }

                break;
        }
    }

    private static async Task PutAsync(HttpClient client, string key, string value)
    {
        using var response = await client.PutAsync($"/v1/kv/{key}", new StringContent(value));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Each sample of the node's <c>/metrics</c>, by its series (name and labels as written).</summary>
    private static async Task<Dictionary<string, double>> SamplesAsync(TestCluster cluster, int node)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in (await cluster.Client(node).GetStringAsync("/metrics")).Split('\n'))
        {
            if (line.Length > 0 && line[0] != '#')
            {
                var space = line.LastIndexOf(' ');
                samples[line[..space]] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return samples;
    }

    private static Task<bool> WaitForSampleAsync(TestCluster cluster, int node, string series, Func<double, bool> done) =>
        TestCluster.WaitUntilAsync(async () => (await SamplesAsync(cluster, node)).TryGetValue(series, out var value) && done(value), $"{series} on node {node}");

    // Metric names in a PromQL expression: our families' prefixes, not functions, labels or the datasource variable.
    [GeneratedRegex(@"\b(?:raft|dotnet|process|http)_[a-z_]+\b")]
    private static partial Regex MetricName();
}
