using System.Net.Sockets;
using Raft.FailoverBench.Targets;

namespace Raft.FailoverBench.Tests;

public sealed class BenchHttpTests
{
    // Seen in a crash trial: the handler let a SocketException (ENOTCONN, from reading the remote address of a
    // connection the killed node had just reset) out unwrapped, and it ended the whole run.
    [Theory]
    [InlineData(SocketError.NotConnected, ErrorKinds.Reset)]
    [InlineData(SocketError.ConnectionRefused, ErrorKinds.Refused)]
    [InlineData(SocketError.ConnectionReset, ErrorKinds.Reset)]
    [InlineData(SocketError.HostUnreachable, ErrorKinds.Connection)]
    public async Task A_bare_socket_error_is_a_failed_request_of_its_kind(SocketError error, string kind)
    {
        using var http = new HttpClient(new ThrowingHandler(new SocketException((int)error)));

        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:1/v1/kv/a");
        var answer = await BenchHttp.SendAsync(http, request, TimeSpan.FromSeconds(5), CancellationToken.None);
        using var stream = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:1/v1/watch");
        var (streamError, response) = await BenchHttp.OpenStreamAsync(http, stream, TimeSpan.FromSeconds(5), CancellationToken.None);

        Assert.Equal(kind, answer.Error);
        Assert.Equal(kind, streamError);
        Assert.Null(response);
    }

    private sealed class ThrowingHandler(Exception exception) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromException<HttpResponseMessage>(exception);
    }
}
