namespace Raft.Protocol.Tests;

public sealed class MemberRequestReaderTests
{
    private static MemberRequest? Read(string json, out string? problem) =>
        MemberRequestReader.TryRead(System.Text.Encoding.UTF8.GetBytes(json), out problem);

    [Theory]
    [InlineData("{\"id\":4,\"peerAddress\":\"127.0.0.1:7004\",\"httpEndpoint\":\"http://127.0.0.1:5004\"}", true)]
    [InlineData("{\"ID\":4,\"PeerAddress\":\"127.0.0.1:7004\",\"httpendpoint\":\"http://127.0.0.1:5004/\",\"learner\":false,\"note\":[1]}", false)]
    public void A_well_formed_body_gives_the_member(string json, bool learner)
    {
        var request = Read(json, out var problem);

        Assert.Null(problem);
        Assert.NotNull(request);
        Assert.Equal(4, request.Id);
        Assert.Equal("127.0.0.1:7004", request.PeerAddress);
        Assert.StartsWith("http://127.0.0.1:5004", request.HttpEndpoint, StringComparison.Ordinal);
        Assert.Equal(learner, request.Learner);
    }

    [Fact]
    public void A_body_that_is_not_utf8_is_refused_with_a_problem_rather_than_an_exception()
    {
        // The same fault fuzzing found in the lock body reader: a byte that is not UTF-8, or an escaped lone surrogate.
        foreach (var json in (string[])["7B226964223A342C2270656572416464726573739C223A22683A31227D", "7B226964223A342C227065657241646472657373223A225C7564383030227D"])
        {
            var request = MemberRequestReader.TryRead(Convert.FromHexString(json), out var problem);
            Assert.Null(request);
            Assert.Contains("not valid JSON", problem, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("", "one JSON object")]
    [InlineData("[1]", "one JSON object")]
    [InlineData("{\"id\":4", "not valid JSON")]
    [InlineData("{\"id\":4} {}", "not valid JSON")]
    [InlineData("{\"id\":\"4\",\"peerAddress\":\"h:1\",\"httpEndpoint\":\"http://h:2\"}", "id must be a positive integer")]
    [InlineData("{\"id\":0,\"peerAddress\":\"h:1\",\"httpEndpoint\":\"http://h:2\"}", "id must be a positive integer")]
    [InlineData("{\"id\":1.5,\"peerAddress\":\"h:1\",\"httpEndpoint\":\"http://h:2\"}", "id must be a positive integer")]
    [InlineData("{\"id\":4,\"id\":5,\"peerAddress\":\"h:1\",\"httpEndpoint\":\"http://h:2\"}", "appears more than once")]
    [InlineData("{\"peerAddress\":\"h:1\",\"httpEndpoint\":\"http://h:2\"}", "id is required")]
    [InlineData("{\"id\":4,\"httpEndpoint\":\"http://h:2\"}", "peerAddress is required")]
    [InlineData("{\"id\":4,\"peerAddress\":\"h:1\"}", "httpEndpoint is required")]
    [InlineData("{\"id\":4,\"peerAddress\":7004,\"httpEndpoint\":\"http://h:2\"}", "peerAddress must be a string")]
    [InlineData("{\"id\":4,\"peerAddress\":\"h\",\"httpEndpoint\":\"http://h:2\"}", "peerAddress must be host:port")]
    [InlineData("{\"id\":4,\"peerAddress\":\"h:70000\",\"httpEndpoint\":\"http://h:2\"}", "peerAddress must be host:port")]
    [InlineData("{\"id\":4,\"peerAddress\":\"h:1\",\"httpEndpoint\":\"ftp://h:2\"}", "httpEndpoint must be an absolute http(s) URL")]
    [InlineData("{\"id\":4,\"peerAddress\":\"h:1\",\"httpEndpoint\":\"http://h:2/v1\"}", "with no path")]
    [InlineData("{\"id\":4,\"peerAddress\":\"h:1\",\"httpEndpoint\":\"http://h:2\",\"learner\":\"yes\"}", "learner must be true or false")]
    public void A_bad_body_is_named(string json, string expected)
    {
        Assert.Null(Read(json, out var problem));
        Assert.Contains(expected, problem, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", problem, StringComparison.Ordinal);
    }
}
