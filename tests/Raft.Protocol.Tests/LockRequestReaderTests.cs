namespace Raft.Protocol.Tests;

public sealed class LockRequestReaderTests
{
    [Theory]
    [InlineData("{\"owner\":\"worker-1\",\"ttlMs\":10000}", "worker-1", 10000L)]
    [InlineData("{\"Owner\":\"w\",\"TTLMS\":1}", "w", 1L)]
    [InlineData("{\"owner\":\"w\"}", "w", null)]
    [InlineData("{\"owner\":\"w\",\"ttlMs\":null,\"other\":{\"nested\":[1,2]}}", "w", null)]
    [InlineData("  {\"ttlMs\":5}  ", null, 5L)]
    [InlineData("null", null, null)]
    [InlineData("{}", null, null)]
    public void A_well_formed_body_gives_its_fields(string json, string? owner, long? ttlMs)
    {
        Assert.Equal(LockRequestProblem.None, LockRequestReader.TryRead(System.Text.Encoding.UTF8.GetBytes(json), out var readOwner, out var readTtl));
        Assert.Equal(owner, readOwner);
        Assert.Equal(ttlMs, readTtl);
    }

    [Theory]
    [InlineData("7B2274746C4D73223A35343435352C226F776E65726989223A226F776E65722D3022")]
    [InlineData("7B226F776E6572223A2277C3227D")]
    [InlineData("7B226F776E6572223A225C7564383030222C2274226F776E6572223A225C756438303022746C4D73223A35363038337D")]
    public void A_body_with_text_that_is_not_utf8_or_a_lone_surrogate_is_not_json_rather_than_an_exception(string bodyHex)
    {
        // Found by fuzzing the lock API (seed 14301, cases 3 and 661): a field name with a byte that is not UTF-8, or a
        // string escaping a lone surrogate, made the JSON reader throw InvalidOperationException, answered with a 500.
        Assert.Equal(LockRequestProblem.NotJson, LockRequestReader.TryRead(Convert.FromHexString(bodyHex), out var owner, out var ttl, out var lease));
        Assert.Null(owner);
        Assert.Null(ttl);
        Assert.Null(lease);
    }

    [Theory]
    [InlineData("", LockRequestProblem.NotJson)]
    [InlineData("{", LockRequestProblem.NotJson)]
    [InlineData("{\"owner\":\"w\"}}", LockRequestProblem.NotJson)]
    [InlineData("{\"owner\":\"w\"} {}", LockRequestProblem.NotJson)]
    [InlineData("{owner:\"w\"}", LockRequestProblem.NotJson)]
    [InlineData("{\"owner\":\"w\",}", LockRequestProblem.NotJson)]
    [InlineData("{\"owner\":\"w\" /* note */}", LockRequestProblem.NotJson)]
    [InlineData("[1,2]", LockRequestProblem.NotAnObject)]
    [InlineData("\"w\"", LockRequestProblem.NotAnObject)]
    [InlineData("10000", LockRequestProblem.NotAnObject)]
    [InlineData("{\"owner\":\"a\",\"OWNER\":\"b\"}", LockRequestProblem.DuplicateField)]
    [InlineData("{\"owner\":7,\"ttlMs\":1}", LockRequestProblem.OwnerNotAString)]
    [InlineData("{\"owner\":[\"w\"]}", LockRequestProblem.OwnerNotAString)]
    [InlineData("{\"owner\":\"w\",\"ttlMs\":\"10000\"}", LockRequestProblem.TtlNotAnInteger)]
    [InlineData("{\"owner\":\"w\",\"ttlMs\":1.5}", LockRequestProblem.TtlNotAnInteger)]
    [InlineData("{\"owner\":\"w\",\"ttlMs\":1e3}", LockRequestProblem.TtlNotAnInteger)]
    [InlineData("{\"owner\":\"w\",\"ttlMs\":99999999999999999999}", LockRequestProblem.TtlNotAnInteger)]
    [InlineData("{\"owner\":\"w\",\"ttlMs\":true}", LockRequestProblem.TtlNotAnInteger)]
    [InlineData("{\"ttlMs\":\"1\",\"ttlMs\":2}", LockRequestProblem.DuplicateField)]
    public void A_malformed_body_is_named_by_what_is_wrong_with_it(string json, LockRequestProblem expected)
    {
        Assert.Equal(expected, LockRequestReader.TryRead(System.Text.Encoding.UTF8.GetBytes(json), out var owner, out var ttlMs));
        Assert.Null(owner);
        Assert.Null(ttlMs);
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var random = new Random(7);
        var buffer = new byte[64];
        for (var i = 0; i < 20_000; i++)
        {
            var length = random.Next(buffer.Length);
            random.NextBytes(buffer.AsSpan(0, length));
            _ = LockRequestReader.TryRead(buffer.AsSpan(0, length), out _, out _);
        }
    }
}
