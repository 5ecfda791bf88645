using Raft.Core;

namespace Raft.Core.Tests;

public sealed class QuorumTests
{
    // The naive definition: the largest value v such that a strict majority of the values are at least v.
    private static ulong NaiveMajorityValue(ulong[] values)
    {
        ulong best = 0;
        foreach (var candidate in values)
        {
            var atLeast = values.Count(v => v >= candidate);
            if (atLeast > values.Length / 2 && candidate > best)
            {
                best = candidate;
            }
        }

        return best;
    }

    [Fact]
    public void MajorityValue_MatchesTheNaiveDefinition_OnRandomMatchIndexes()
    {
        var random = new SeededRandom(20261122);
        for (var trial = 0; trial < 20_000; trial++)
        {
            var values = new ulong[random.Next(1, 10)];
            var range = random.Next(1, 50);
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = (ulong)random.Next(range);
            }

            Assert.Equal(NaiveMajorityValue(values), Quorum.MajorityValue(values));
        }
    }

    [Theory]
    [InlineData(new ulong[] { 5 }, 5UL)]
    [InlineData(new ulong[] { 5, 3 }, 3UL)]
    [InlineData(new ulong[] { 5, 3, 1 }, 3UL)]
    [InlineData(new ulong[] { 1, 9, 9, 2 }, 2UL)]
    [InlineData(new ulong[] { 7, 7, 7, 1, 1 }, 7UL)]
    public void MajorityValue_SmallClusters(ulong[] matches, ulong expected) =>
        Assert.Equal(expected, Quorum.MajorityValue(matches));

    [Fact]
    public void MajorityValue_OfNoVoters_IsZero() => Assert.Equal(0UL, Quorum.MajorityValue([]));
}

public sealed class MembershipTests
{
    [Fact]
    public void Encode_Decode_RoundTrips_AndPinsTheWireSize()
    {
        var membership = Membership.Create([3, 1, 2], [7]);

        var bytes = membership.ToBytes();

        Assert.Equal(4 + (4 * 4), bytes.Length);
        Assert.True(Membership.TryDecode(bytes, out var decoded, out var consumed));
        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(membership, decoded);
        Assert.Equal([1, 2, 3], decoded.Voters.ToArray());
        Assert.Equal([7], decoded.Learners.ToArray());
    }

    [Fact]
    public void Addresses_RoundTrip_FollowChanges_AndCountInEquality()
    {
        var addresses = new Dictionary<int, MemberAddresses>
        {
            [1] = new("127.0.0.1:7001", "http://127.0.0.1:5001"),
            [2] = new("node-2.example:7002", "https://node-2.example:5002"),
        };
        var membership = Membership.Create([1, 2], addresses: addresses);

        var bytes = membership.ToBytes();
        Assert.Equal(membership.EncodedBytes, bytes.Length);
        Assert.True(Membership.TryDecode(bytes, out var decoded, out var consumed));
        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(membership, decoded);
        Assert.True(decoded.TryGetAddresses(2, out var two));
        Assert.Equal(addresses[2], two);
        Assert.NotEqual(Membership.Create([1, 2]), membership);

        var added = new MemberAddresses("127.0.0.1:7004", "http://127.0.0.1:5004");
        Assert.True(membership.TryApply(new MembershipChange(MembershipChangeKind.AddLearner, 4, added), out var withLearner, out _));
        Assert.True(withLearner.TryGetAddresses(4, out var four));
        Assert.Equal(added, four);
        Assert.True(withLearner.TryApply(new MembershipChange(MembershipChangeKind.PromoteLearner, 4), out var promoted, out _));
        Assert.True(promoted.IsVoter(4) && promoted.TryGetAddresses(4, out var kept) && kept == added);
        Assert.True(promoted.TryApply(new MembershipChange(MembershipChangeKind.Remove, 1), out var removed, out _));
        Assert.False(removed.TryGetAddresses(1, out _));
        Assert.True(Membership.TryDecode(removed.ToBytes(), out var again, out _));
        Assert.Equal(removed, again);
    }

    [Fact]
    public void Addresses_TooLongOrDamaged_AreRefused()
    {
        var longName = new string('a', MemberAddresses.BytesMax) + ":1";
        Assert.False(Membership.Create([1]).TryApply(
            new MembershipChange(MembershipChangeKind.AddLearner, 2, new MemberAddresses(longName, string.Empty)), out _, out var error));
        Assert.Contains("longer than", error, StringComparison.Ordinal);

        var bytes = Membership.Create([1], addresses: new Dictionary<int, MemberAddresses> { [1] = new("h:1", "http://h:2") }).ToBytes();
        Assert.False(Membership.TryDecode(bytes.AsSpan(0, bytes.Length - 1), out _, out _));
        bytes[^1] = 0xFF; // not UTF-8
        Assert.False(Membership.TryDecode(bytes, out _, out _));
    }

    [Fact]
    public void TryDecode_RandomBytes_NeverThrows()
    {
        var random = new SeededRandom(99);
        for (var i = 0; i < 50_000; i++)
        {
            var bytes = new byte[random.Next(0, 40)];
            for (var j = 0; j < bytes.Length; j++)
            {
                bytes[j] = (byte)random.Next(256);
            }

            if (Membership.TryDecode(bytes, out var decoded, out _))
            {
                Assert.True(Membership.TryDecode(decoded.ToBytes(), out var again, out _));
                Assert.Equal(decoded, again);
            }
        }
    }

    [Theory]
    [InlineData(MembershipChangeKind.AddVoter, 1, "already a voter")]
    [InlineData(MembershipChangeKind.AddLearner, 2, "already a member")]
    [InlineData(MembershipChangeKind.PromoteLearner, 1, "not a learner")]
    [InlineData(MembershipChangeKind.Remove, 9, "not a member")]
    [InlineData(MembershipChangeKind.AddVoter, 0, "positive")]
    public void TryApply_InvalidChanges_SayWhy(MembershipChangeKind kind, int node, string reason)
    {
        var membership = Membership.Create([1, 2]);

        Assert.False(membership.TryApply(new MembershipChange(kind, node), out var result, out var error));
        Assert.Same(membership, result);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryApply_RemovingTheLastVoter_IsRefused()
    {
        Assert.False(Membership.Create([1]).TryApply(new MembershipChange(MembershipChangeKind.Remove, 1), out _, out var error));
        Assert.Contains("last voter", error, StringComparison.Ordinal);
    }
}

public sealed class ProtocolTests
{
    [Fact]
    public void Step_AppendWhoseEntriesDoNotFollowThePreviousIndex_ThrowsAndChangesNothing()
    {
        var node = RaftNode.Bootstrap(new RaftOptions { Id = 1 }, new SeededRandom(1), Membership.Create([1, 2, 3]));
        var bad = new Message
        {
            Type = MessageType.Append,
            From = 2,
            To = 1,
            Term = 1,
            Index = 0,
            Entries = new[] { new Entry(1, 5, EntryType.Command, new byte[1]) },
        };

        Assert.Throws<RaftProtocolException>(() => node.Step(bad));

        Assert.Equal(0UL, node.Term);
        Assert.Equal(0UL, node.LastIndex);
        Assert.False(node.HasReady);
    }

    [Fact]
    public void Step_MessageForAnotherNode_IsIgnored()
    {
        var node = RaftNode.Bootstrap(new RaftOptions { Id = 1 }, new SeededRandom(1), Membership.Create([1, 2, 3]));

        node.Step(new Message { Type = MessageType.Vote, From = 2, To = 3, Term = 5 });

        Assert.Equal(0UL, node.Term);
    }

    [Theory]
    [InlineData(MessageType.Vote)]
    [InlineData(MessageType.PreVote)]
    public void A_campaign_from_outside_the_configuration_neither_raises_the_term_nor_gets_an_answer(MessageType type)
    {
        // Node 4 was removed (or never added): its campaign is ignored like a lost message.
        var node = RaftNode.Bootstrap(new RaftOptions { Id = 1, PreVote = false, CheckQuorum = false, FastFailover = false }, new SeededRandom(1), Membership.Create([1, 2, 3]));

        node.Step(new Message { Type = type, From = 4, To = 1, Term = 9, Index = 100, LogTerm = 9 });

        Assert.Equal(0UL, node.Term);
        Assert.False(node.HasReady);
    }

    [Fact]
    public void A_learner_votes_for_a_member_since_its_promotion_may_have_committed_without_reaching_it()
    {
        // Node 3 still thinks itself a learner; voters 2 and 3 of the committed configuration need each other's vote.
        var node = RaftNode.Bootstrap(new RaftOptions { Id = 3, PreVote = false, CheckQuorum = false, FastFailover = false }, new SeededRandom(1), Membership.Create([1, 2], [3]));

        node.Step(new Message { Type = MessageType.Vote, From = 2, To = 3, Term = 9, Index = 100, LogTerm = 9 });

        Assert.Equal(9UL, node.Term);
        var ready = node.GetReady();
        var answer = Assert.Single(ready.MessagesAfterPersist.ToArray(), m => m.To == 2);
        Assert.Equal(MessageType.VoteResponse, answer.Type);
        Assert.False(answer.Reject);
        node.Advance();
    }

    [Fact]
    public void A_learner_ignores_a_campaign_from_outside_its_configuration()
    {
        var node = RaftNode.Bootstrap(new RaftOptions { Id = 3, PreVote = false, CheckQuorum = false, FastFailover = false }, new SeededRandom(1), Membership.Create([1, 2], [3]));

        node.Step(new Message { Type = MessageType.Vote, From = 4, To = 3, Term = 9, Index = 100, LogTerm = 9 });

        Assert.Equal(0UL, node.Term);
        Assert.False(node.HasReady);
    }

    [Fact]
    public void GetReady_WithoutAdvance_RefusesFurtherCalls()
    {
        var node = RaftNode.Bootstrap(new RaftOptions { Id = 1 }, new SeededRandom(1), Membership.Create([1]));
        node.Campaign();
        node.GetReady();

        Assert.Throws<InvalidOperationException>(() => node.Tick());
        Assert.Throws<InvalidOperationException>(() => node.GetReady());
    }

    [Fact]
    public void Options_OutOfRange_AreRejectedAtStartUp()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RaftOptions { Id = 0 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new RaftOptions { Id = 1, ElectionTimeoutTicks = 2, HeartbeatIntervalTicks = 1 }.Validate());
        Assert.Throws<ArgumentException>(() => new RaftOptions { Id = 1, PreVote = false, FastFailover = true }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new RaftOptions { Id = 1, MaxInflightAppends = 0 }.Validate());
    }
}
