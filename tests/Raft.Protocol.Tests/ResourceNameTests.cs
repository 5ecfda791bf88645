namespace Raft.Protocol.Tests;

public sealed class ResourceNameTests
{
    private static string Unescape(string escaped, bool plusIsSpace = false)
    {
        Assert.Equal(NameProblem.None, ResourceName.TryUnescape(escaped, plusIsSpace, checkSegments: true, out var name));
        return name;
    }

    [Fact]
    public void An_escaped_slash_and_a_plain_one_are_the_same_name()
    {
        Assert.Equal("jobs%2Fnightly", ResourceName.Escape("jobs/nightly"));
        Assert.Equal("jobs/nightly", Unescape("jobs%2Fnightly"));
        Assert.Equal("jobs/nightly", Unescape("jobs%2fnightly"));
        Assert.Equal("jobs/nightly", Unescape("jobs/nightly"));
    }

    [Fact]
    public void A_percent_is_its_own_character_once_escaped()
    {
        Assert.Equal("100%2Fsure", Unescape("100%252Fsure"));
        Assert.Equal("100%252Fsure", ResourceName.Escape("100%2Fsure"));
        Assert.Equal("a+b", Unescape("a+b"));
        Assert.Equal("a b", Unescape("a+b", plusIsSpace: true));
        Assert.Equal("ключ é", Unescape("%D0%BA%D0%BB%D1%8E%D1%87%20%C3%A9"));
    }

    [Theory]
    [InlineData("bad%FF", NameProblem.NotUtf8)]
    [InlineData("half%E2%82", NameProblem.NotUtf8)]
    [InlineData("%C0%AF", NameProblem.NotUtf8)]
    [InlineData("%ED%A0%80", NameProblem.NotUtf8)]
    [InlineData("raw\u00e9", NameProblem.NotUtf8)]
    [InlineData("100%", NameProblem.BadEscape)]
    [InlineData("a%4", NameProblem.BadEscape)]
    [InlineData("a%zz", NameProblem.BadEscape)]
    [InlineData("..", NameProblem.DotSegment)]
    [InlineData("a/./b", NameProblem.DotSegment)]
    [InlineData("a%2F..%2Fb", NameProblem.DotSegment)]
    [InlineData("a/%2E%2E", NameProblem.DotSegment)]
    public void A_name_that_does_not_decode_or_would_be_rewritten_on_the_way_is_refused(string escaped, NameProblem expected) =>
        Assert.Equal(expected, ResourceName.TryUnescape(escaped, plusIsSpace: false, checkSegments: true, out _));

    [Theory]
    [InlineData("a/.../b")]
    [InlineData(".hidden/x.")]
    [InlineData("a//b")]
    [InlineData("")]
    public void Dots_that_are_not_a_whole_segment_are_ordinary_characters(string name) =>
        Assert.Equal(name, Unescape(ResourceName.Escape(name)));

    [Fact]
    public void Escaping_then_unescaping_gives_back_any_name_without_dot_segments()
    {
        var random = new Random(11);
        var alphabet = "ab/%+. ?#&=é\u043a\U0001F600".EnumerateRunes().ToArray();
        for (var i = 0; i < 5_000; i++)
        {
            var name = string.Concat(Enumerable.Range(0, random.Next(1, 12)).Select(_ => alphabet[random.Next(alphabet.Length)].ToString()));
            var segments = name.Split('/');
            if (segments.Any(s => s is "." or ".."))
            {
                continue;
            }

            Assert.Equal(name, Unescape(ResourceName.Escape(name)));
        }
    }
}
