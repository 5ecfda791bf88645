using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Raft.Client.DependencyInjection.Tests;

public sealed class AddRaftKvClientTests
{
    [Fact]
    public async Task The_client_resolves_as_one_shared_instance_and_sends_through_the_named_http_client()
    {
        var seen = new Recorder();
        var services = new ServiceCollection();
        services.AddRaftKvClient(o =>
        {
            o.Endpoints.Add(new Uri("http://node1:5001"));
            o.ClientId = "di-client";
        })
            .AddHttpMessageHandler(() => seen)
            .ConfigurePrimaryHttpMessageHandler(() => new Answering());
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<IRaftKvClient>();
        Assert.Same(provider.GetRequiredService<RaftKvClient>(), client);
        Assert.Same(client, provider.GetRequiredService<IRaftKvClient>());

        var put = await client.PutAsync("a", "x");

        Assert.Equal(new PutResult(9, 9), put);
        var request = Assert.Single(seen.Requests);
        Assert.Equal("http://node1:5001/v1/kv/a", request.Uri);
        Assert.Equal("di-client", request.ClientId);
    }

    [Fact]
    public async Task Options_are_bound_from_configuration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Raft:Endpoints:0"] = "http://node2:5002",
            ["Raft:Endpoints:1"] = "http://node3:5003",
            ["Raft:RequestTimeout"] = "00:00:02",
            ["Raft:RetryDeadline"] = "00:00:30",
            ["Raft:MaxAttempts"] = "7",
            ["Raft:ClientId"] = "from-config",
            ["Raft:BearerToken"] = "s3cret",
        }).Build();
        var seen = new Recorder();
        var services = new ServiceCollection();
        services.Configure<RaftKvClientOptions>(configuration.GetSection("Raft"));
        services.AddRaftKvClient().AddHttpMessageHandler(() => seen).ConfigurePrimaryHttpMessageHandler(() => new Answering());
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<RaftKvClientOptions>>().Value;
        Assert.Equal([new Uri("http://node2:5002"), new Uri("http://node3:5003")], options.Endpoints);
        Assert.Equal(TimeSpan.FromSeconds(2), options.RequestTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), options.RetryDeadline);
        Assert.Equal(7, options.MaxAttempts);

        var client = provider.GetRequiredService<IRaftKvClient>();
        await client.DeleteAsync("k");

        Assert.Equal("from-config", client.ClientId);
        var request = Assert.Single(seen.Requests);
        Assert.Equal("http://node2:5002/v1/kv/k", request.Uri);
        Assert.Equal("Bearer s3cret", request.Authorization);
    }

    [Theory]
    [InlineData("MaxAttempts", "0", "RaftKvClientOptions.MaxAttempts")]
    [InlineData("RequestTimeout", "-00:00:01", "RaftKvClientOptions.RequestTimeout")]
    [InlineData("ClientId", " ", "RaftKvClientOptions.ClientId")]
    [InlineData("Endpoints:0", "ftp://node1", "RaftKvClientOptions.Endpoints")]
    public async Task An_invalid_option_is_refused_when_the_client_is_resolved_naming_the_option(string key, string value, string named)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Raft:Endpoints:0"] = "http://node1:5001",
            [$"Raft:{key}"] = value,
        }).Build();
        var services = new ServiceCollection();
        services.Configure<RaftKvClientOptions>(configuration.GetSection("Raft"));
        services.AddRaftKvClient();
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IRaftKvClient>());

        Assert.StartsWith(named + ":", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_endpoint_is_refused_with_a_message_that_says_what_is_missing()
    {
        var services = new ServiceCollection();
        services.AddRaftKvClient();
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<RaftKvClient>());

        Assert.Equal("RaftKvClientOptions.Endpoints: at least one endpoint is needed (a node's http:// or https:// address)", error.Message);
    }

    private sealed record SeenRequest(string Uri, string? ClientId, string? Authorization);

    /// <summary>A handler added through the HTTP client builder: it sees what the client sends.</summary>
    private sealed class Recorder : DelegatingHandler
    {
        private readonly ConcurrentQueue<SeenRequest> _requests = new();

        public IReadOnlyList<SeenRequest> Requests => [.. _requests];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            _requests.Enqueue(new SeenRequest(
                request.RequestUri!.ToString(),
                request.Headers.TryGetValues("X-Client-Id", out var id) ? id.Single() : null,
                request.Headers.Authorization?.ToString()));
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>The node: answers every write as the leader that applied it at index 9.</summary>
    private sealed class Answering : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Method == HttpMethod.Delete ? """{"index":9,"deleted":true}""" : """{"index":9,"version":9}""";
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/json") });
        }
    }
}
