using Raft.Core;

namespace Raft.Core.Tests;

/// <summary>Scenarios from the Raft paper (§5) and thesis (§3, §6, §9), each told as init, act, check.</summary>
public sealed class PaperTests
{
    // The paper's algorithm without the thesis' extensions, one entry per Append, so scenarios can be scripted
    // message by message. (A node that just started also refuses votes for an election timeout under PreVote
    // and CheckQuorum, which these scenarios, starting from given logs, would have to wait out.)
    private static RaftOptions Options(int id) => new()
    {
        Id = id,
        ElectionTimeoutTicks = 10,
        HeartbeatIntervalTicks = 1,
        MaxAppendBytes = 1,
        PreVote = false,
        CheckQuorum = false,
        FastFailover = false,
    };

    [Fact]
    public void Election_5_2_ThreeNodes_ElectExactlyOneLeaderWhoCommitsItsNoOp()
    {
        var cluster = new TestCluster(3);

        var leader = cluster.ElectLeader();
        cluster.Tick(2);

        var term = cluster[leader].Term;
        Assert.Single(cluster.Nodes.Values, n => n.Role == RaftRole.Leader);
        Assert.All(cluster.Nodes.Values, n => Assert.Equal(term, n.Term));
        Assert.All(cluster.Nodes.Values, n => Assert.Equal(1UL, n.CommitIndex));
        Assert.Equal(EntryType.NoOp, cluster.Applied[leader][0].Type);
    }

    [Fact]
    public void Replication_5_3_CommittedEntriesAreAppliedEverywhereInOrder()
    {
        var cluster = new TestCluster(5);
        var leader = cluster.ElectLeader();

        for (var i = 0; i < 20; i++)
        {
            cluster.Propose(leader, $"x{i}");
        }

        cluster.Tick(3);

        var expected = Enumerable.Range(0, 20).Select(i => $"x{i}").ToList();
        Assert.All(cluster.Nodes.Keys, id => Assert.Equal(expected, cluster.AppliedCommands(id)));
    }

    [Fact]
    public void VoteRestriction_5_4_1_CandidateWithStaleLog_IsRefused()
    {
        // Node 3 missed the entry of term 2 that 1 and 2 hold.
        var cluster = new TestCluster(
            Options,
            (1, 2, 0, 0, [1, 2]),
            (2, 2, 0, 0, [1, 2]),
            (3, 2, 0, 0, [1]));

        cluster[3].Campaign();
        cluster.Settle();

        Assert.NotEqual(RaftRole.Leader, cluster[3].Role);
        Assert.True(cluster[3].Term >= 3);

        // Either up-to-date node can win, and keeps the entry.
        var leader = cluster.ElectLeader();
        Assert.NotEqual(3, leader);
        Assert.Equal(2UL, cluster[3].TermAt(2));
    }

    /// <summary>
    /// Figure 8: S1 leads term 4 holding (2, t2), which S5 overwrote with (2, t3) as leader of term 3. Once S1 has
    /// copied (2, t2) to a majority it must still not count it committed: S5 can win again and overwrite it.
    /// Only when S1's own term-4 entry reaches a majority is index 2 committed, and then S5 can never lead.
    /// </summary>
    // Figure 8 (b): S1 led term 2 and copied (2, t2) to S2; S5 led term 3 and wrote (2, t3) alone. All are in term 3.
    private static TestCluster Figure8Cluster() => new(
        Options,
        (1, 3, 0, 1, [1, 2]),
        (2, 3, 0, 1, [1, 2]),
        (3, 3, 0, 1, [1]),
        (4, 3, 0, 1, [1]),
        (5, 3, 5, 1, [1, 3]));

    [Fact]
    public void Figure8_5_4_2_LeaderNeverCommitsAnEntryOfAnEarlierTermByCountingReplicas()
    {
        var cluster = Figure8Cluster();

        // (c) S5 is down; S1 wins term 4 with S2 and S3 and appends its no-op at index 3. S3 gets (2, t2)
        // but not (3, t4); S2 has everything. Three of five hold index 2.
        cluster.Crash(5);
        cluster.Cut(1, 4);
        cluster.Drop = m => m is { Type: MessageType.Append, To: 3, Index: 2 } && cluster[3].LastIndex == 2;
        cluster[1].Campaign();
        cluster.Settle();
        Assert.Equal(RaftRole.Leader, cluster[1].Role);
        Assert.Equal(4UL, cluster[1].Term);
        Assert.Equal(2UL, cluster[3].LastIndex);
        Assert.Equal(2UL, cluster[3].TermAt(2));
        Assert.Equal(1UL, cluster[1].CommitIndex);

        // (d) S1 crashes; S5 returns and wins term 5 with S3 and S4, whose logs end in term 2 or earlier.
        cluster.Crash(1);
        cluster.Drop = null;
        cluster.Heal();
        cluster.Restart(5);
        for (var attempt = 0; attempt < 3 && cluster[5].Role != RaftRole.Leader; attempt++)
        {
            // Term 4 is taken (S2 and S3 voted for S1); S5 wins the next one.
            cluster[5].Campaign();
            cluster.Settle();
        }

        Assert.Equal(RaftRole.Leader, cluster[5].Role);
        Assert.Equal(5UL, cluster[5].Term);
        cluster.Tick(2);

        // S5 replaced (2, t2) on S3: it was never committed, so nothing committed was lost.
        Assert.Equal(3UL, cluster[3].TermAt(2));
        Assert.DoesNotContain(cluster.Applied[2].Concat(cluster.Applied[3]), e => e.Index == 2 && e.Term == 2);
    }

    [Fact]
    public void Figure8_5_4_2_OnceTheCurrentTermEntryIsOnAMajority_TheEarlierEntryIsCommittedToo()
    {
        var cluster = Figure8Cluster();
        cluster.Crash(5);
        cluster[1].Campaign();
        cluster.Settle();
        cluster.Tick(2);

        Assert.Equal(3UL, cluster[1].CommitIndex);

        // (e) S5 can no longer win: a majority holds (3, t4), which is more up to date than its (2, t3).
        cluster.Crash(1);
        cluster.Restart(5);
        cluster[5].Campaign();
        cluster.Settle();
        Assert.NotEqual(RaftRole.Leader, cluster[5].Role);
    }

    [Fact]
    public void LogRepair_5_3_FollowerWithAConflictingTail_IsOverwrittenInFewRoundTrips()
    {
        // Figure 7 (f): a follower that led terms 2 and 3 and holds many entries nobody else has.
        ulong[] leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
        ulong[] strayLog = [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3];
        var cluster = new TestCluster(
            Options,
            (1, 6, 0, 3, leaderLog),
            (2, 6, 0, 3, leaderLog),
            (3, 6, 0, 3, strayLog));
        cluster.Isolate(3);
        cluster[1].Campaign();
        cluster.Settle();
        Assert.Equal(RaftRole.Leader, cluster[1].Role);

        cluster.Heal();
        var before = cluster.Delivered;
        cluster.Tick(2);

        Assert.Equal(cluster[1].LastIndex, cluster[3].LastIndex);
        for (var i = 1UL; i <= cluster[1].LastIndex; i++)
        {
            Assert.Equal(cluster[1].TermAt(i), cluster[3].TermAt(i));
        }

        // The conflict hint skips a whole term per round trip rather than one entry at a time.
        var appendsTo3 = cluster.Delivered - before;
        Assert.True(appendsTo3 < 40, $"{appendsTo3} messages delivered");
    }

    [Fact]
    public void PreVote_9_6_FollowerRejoiningAfterPartition_DoesNotDisruptTheLeader()
    {
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1, PreVote = true, CheckQuorum = false, FastFailover = false });
        var leader = cluster.ElectLeader();
        var term = cluster[leader].Term;
        var follower = cluster.Nodes.Keys.First(id => id != leader);

        cluster.Isolate(follower);
        cluster.Tick(50);
        cluster.Heal();
        cluster.Tick(5);

        Assert.Equal(leader, cluster.Leader());
        Assert.Equal(term, cluster[leader].Term);
        Assert.Equal(term, cluster[follower].Term);
    }

    [Fact]
    public void WithoutPreVote_FollowerRejoiningAfterPartition_RaisesTheTermAndDisruptsTheLeader()
    {
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1, PreVote = false, CheckQuorum = false, FastFailover = false });
        var leader = cluster.ElectLeader();
        var term = cluster[leader].Term;
        var follower = cluster.Nodes.Keys.First(id => id != leader);

        cluster.Isolate(follower);
        cluster.Tick(50);
        cluster.Heal();
        cluster.Tick(25);

        Assert.True(cluster[follower].Term > term);
        Assert.True(cluster[leader].Term > term);
    }

    [Fact]
    public void CheckQuorum_6_2_IsolatedLeader_StepsDownWithinTwoElectionTimeouts()
    {
        var cluster = new TestCluster(3);
        var leader = cluster.ElectLeader();

        cluster.Isolate(leader);
        cluster.Tick(20);

        Assert.NotEqual(RaftRole.Leader, cluster[leader].Role);
        Assert.Equal(ProposeResult.NotLeader, cluster[leader].Propose(new byte[1], out _));
    }

    [Fact]
    public void PeerUnreachable_OneFollowerTransientDrop_DoesNotDethroneAHealthyLeader()
    {
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1, FastFailoverStaggerTicks = 0 });
        var leader = cluster.ElectLeader();
        var term = cluster[leader].Term;
        var follower = cluster.Nodes.Keys.First(id => id != leader);

        // Its connection to the leader broke and the reconnect was refused, but the leader is alive.
        cluster[follower].PeerUnreachable(leader);
        cluster.Settle();
        Assert.Equal(RaftRole.PreCandidate, cluster[follower].Role);
        cluster.Tick(3);

        Assert.Equal(leader, cluster.Leader());
        Assert.Equal(term, cluster[leader].Term);
        Assert.Equal(leader, cluster[follower].LeaderId);
    }

    [Fact]
    public void PeerUnreachable_LeaderCrash_FollowersElectANewLeaderLongBeforeTheElectionTimeout()
    {
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 50, HeartbeatIntervalTicks = 5, FastFailoverStaggerTicks = 2 });
        var leader = cluster.ElectLeader(400);

        cluster.Crash(leader);
        foreach (var id in cluster.Nodes.Keys.Where(id => id != leader))
        {
            cluster[id].PeerUnreachable(leader);
        }

        cluster.Settle();
        var ticks = cluster.TickUntilLeader(50);

        Assert.NotNull(cluster.Leader());
        Assert.True(ticks <= 3, $"took {ticks} ticks, election timeout is 50");
    }

    [Fact]
    public void PeerUnreachable_LaterFollowerNoticesFirst_ConcurrentFastCampaignsDoNotSplitTheVote()
    {
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 50, HeartbeatIntervalTicks = 5, FastFailoverStaggerTicks = 2 });
        var leader = cluster.ElectLeader(400);
        var followers = cluster.Nodes.Keys.Where(id => id != leader).Order().ToArray();
        cluster.Crash(leader);

        // The follower that should go second notices first and campaigns once its stagger has passed...
        cluster[followers[1]].PeerUnreachable(leader);
        for (var i = 0; i < 2; i++)
        {
            cluster.ProcessReadies();
            cluster[followers[1]].Tick();
        }

        cluster.ProcessReadies();
        Assert.Equal(RaftRole.PreCandidate, cluster[followers[1]].Role);

        // ...and the other notices before either pre-vote arrives: two fast campaigns cross.
        cluster[followers[0]].PeerUnreachable(leader);
        cluster.Settle();

        Assert.Equal(followers[0], cluster.Leader());
        Assert.Equal(followers[0], cluster[followers[1]].LeaderId);
    }

    [Fact]
    public void PeerUnreachable_FastPreVoteArrivingBeforeTheVoterNotices_IsGrantedWhenItDoes()
    {
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 50, HeartbeatIntervalTicks = 5, FastFailoverStaggerTicks = 2 });
        var leader = cluster.ElectLeader(400);
        var followers = cluster.Nodes.Keys.Where(id => id != leader).Order().ToArray();
        cluster.Crash(leader);

        // The first follower's pre-vote reaches the second while that one still hears the leader: not granted.
        cluster[followers[0]].PeerUnreachable(leader);
        cluster.Settle();
        Assert.Equal(RaftRole.PreCandidate, cluster[followers[0]].Role);
        Assert.Equal(RaftRole.Follower, cluster[followers[1]].Role);

        // When the second notices the crash too, it answers that campaign rather than starting its own.
        cluster[followers[1]].PeerUnreachable(leader);
        cluster.Settle();

        Assert.Equal(followers[0], cluster.Leader());
        Assert.Equal(followers[0], cluster[followers[1]].LeaderId);
    }

    [Fact]
    public void Election_TimeoutsFiringTogether_DoNotSplitTheVote()
    {
        // No jitter at all: both followers of a crashed leader time out on the same tick, every time.
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1, ElectionJitterTicks = 1, FastFailover = false });
        var leader = cluster.ElectLeader();
        var followers = cluster.Nodes.Keys.Where(id => id != leader).Order().ToArray();
        cluster.Crash(leader);

        var ticks = cluster.TickUntilLeader(100);

        // The crossing pre-votes settle it: the lower id (the logs are equal) wins the first election.
        Assert.Equal(followers[0], cluster.Leader());
        Assert.True(ticks <= 12, $"took {ticks} ticks with an election timeout of 10");
    }

    [Fact]
    public void Election_APreVoteThatArrivedWhileTheVoterStillHeardTheLeader_IsGrantedWhenTheVoterTimesOut()
    {
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1, ElectionJitterTicks = 1, FastFailover = false });
        var leader = cluster.ElectLeader();
        var followers = cluster.Nodes.Keys.Where(id => id != leader).Order().ToArray();

        // The lower-id follower stops hearing the leader 4 ticks before the other; then the leader hangs.
        cluster.Cut(leader, followers[0]);
        cluster.Tick(4);
        cluster.Crash(leader);

        // followers[0] times out first; its pre-vote reaches followers[1] while that one still hears the leader.
        var ticks = cluster.TickUntilLeader(100);

        // When followers[1] times out in turn it grants that campaign instead of crossing it with its own.
        Assert.Equal(followers[0], cluster.Leader());
        Assert.True(ticks <= 12, $"took {ticks} ticks after the leader hung, with an election timeout of 10");
    }

    [Fact]
    public void ReadIndex_6_4_IsConfirmedByAHeartbeatRound_AndServedOnFollowersThroughTheLeader()
    {
        var cluster = new TestCluster(3);
        var leader = cluster.ElectLeader();
        var index = cluster.Propose(leader, "a");
        cluster.Tick();
        var follower = cluster.Nodes.Keys.First(id => id != leader);

        Assert.Equal(ReadIndexResult.Pending, cluster[leader].ReadIndex(7));
        Assert.Equal(ReadIndexResult.Pending, cluster[follower].ReadIndex(8));
        cluster.ProcessReadies();
        Assert.Empty(cluster.ReadStates);
        cluster.Settle();

        Assert.Contains(cluster.ReadStates, r => r.Node == leader && r.State.RequestId == 7 && r.State.Index >= index && r.State.Status == ReadStatus.Ready);
        Assert.Contains(cluster.ReadStates, r => r.Node == follower && r.State.RequestId == 8 && r.State.Index >= index && r.State.Status == ReadStatus.Ready);
    }

    [Fact]
    public void ReadIndex_IsolatedLeader_NeverConfirmsAndFailsWhenItStepsDown()
    {
        var cluster = new TestCluster(3);
        var leader = cluster.ElectLeader();
        cluster.Isolate(leader);

        cluster[leader].ReadIndex(9);
        cluster.Tick(25);

        Assert.Equal([(leader, new ReadState(9, 0, ReadStatus.Failed))], cluster.ReadStates);
    }

    [Fact]
    public void LeaseRead_6_4_1_HeldWhileAQuorumAnswers_LostWithinAnElectionTimeoutOfIsolation()
    {
        var cluster = new TestCluster(3);
        var leader = cluster.ElectLeader();
        cluster.Tick(2);
        Assert.True(cluster[leader].TryLeaseRead(out var index));
        Assert.Equal(cluster[leader].CommitIndex, index);

        cluster.Isolate(leader);
        cluster.Tick(9);

        Assert.False(cluster[leader].TryLeaseRead(out _));
    }

    [Fact]
    public void LeaseRead_WithoutCheckQuorum_IsRefused()
    {
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1, CheckQuorum = false });
        var leader = cluster.ElectLeader();
        cluster.Tick(2);

        Assert.False(cluster[leader].TryLeaseRead(out _));
    }

    /// <summary>
    /// Why leases need CheckQuorum: without it a voter may grant a vote a tick after acknowledging the
    /// leader, so a new leader can commit while the old one still counts that acknowledgement.
    /// </summary>
    [Fact]
    public void LeaseRead_WithoutCheckQuorum_WouldServeAStaleValue_SoTheOldLeaderRefuses()
    {
        var cluster = new TestCluster(3, id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1, PreVote = false, CheckQuorum = false, FastFailover = false });
        var oldLeader = cluster.ElectLeader();
        cluster.Tick(2);
        var candidate = cluster.Nodes.Keys.First(id => id != oldLeader);

        // The old leader and the candidate cannot reach each other; the voter reaches both.
        cluster.Cut(oldLeader, candidate);
        cluster.Cut(candidate, oldLeader);
        cluster.Tick();
        cluster[candidate].Campaign();
        cluster.Settle();
        Assert.Equal(RaftRole.Leader, cluster[candidate].Role);
        var write = cluster.Propose(candidate, "new value");
        cluster.Settle();
        Assert.True(cluster[candidate].CommitIndex >= write);

        // The old leader still believes it leads, and the voter acknowledged it an instant ago.
        Assert.Equal(RaftRole.Leader, cluster[oldLeader].Role);
        Assert.True(cluster[oldLeader].CommitIndex < write);
        Assert.False(cluster[oldLeader].TryLeaseRead(out _));
    }

    [Fact]
    public void LeaseRead_LeaderThatLostItsLinkToAFollower_StopsCountingThatFollower()
    {
        var cluster = new TestCluster(3);
        var leader = cluster.ElectLeader();
        cluster.Tick(2);
        var followers = cluster.Nodes.Keys.Where(id => id != leader).ToArray();

        cluster[leader].PeerUnreachable(followers[0]);
        Assert.True(cluster[leader].TryLeaseRead(out _));
        cluster[leader].PeerUnreachable(followers[1]);

        Assert.False(cluster[leader].TryLeaseRead(out _));
    }

    [Fact]
    public void LeadershipTransfer_3_10_CatchesTheTargetUpThenHandsOver_RefusingProposalsMeanwhile()
    {
        var cluster = new TestCluster(3);
        var leader = cluster.ElectLeader();
        var target = cluster.Nodes.Keys.First(id => id != leader);
        cluster.Cut(leader, target);
        for (var i = 0; i < 5; i++)
        {
            cluster.Propose(leader, $"p{i}");
        }

        cluster.Tick();
        Assert.True(cluster[target].LastIndex < cluster[leader].LastIndex);

        Assert.Equal(TransferResult.Started, cluster[leader].TransferLeadership(target));
        Assert.Equal(ProposeResult.TransferInProgress, cluster[leader].Propose(new byte[1], out _));
        cluster.Heal();
        cluster.Tick(2);

        Assert.Equal(target, cluster.Leader());
        Assert.Equal(5, cluster.AppliedCommands(target).Count);
    }

    [Fact]
    public void LeadershipTransfer_3_10_TellsTheTargetToCampaignOnlyOnceItIsCaughtUp_AndForgetsItWhenAbandoned()
    {
        var cluster = new TestCluster(3);
        var leader = cluster.ElectLeader();
        var target = cluster.Nodes.Keys.First(id => id != leader);
        cluster.Cut(leader, target);
        cluster.Propose(leader, "p");
        cluster.Tick();

        Assert.Equal(TransferResult.Started, cluster[leader].TransferLeadership(target));
        cluster.ProcessReadies();
        Assert.False(cluster[leader].TransfereeToldToCampaign);

        // Caught up, the target is told to campaign; the message is lost, so the hand-over runs until abandoned.
        cluster.Heal();
        cluster.Drop = m => m.Type == MessageType.TimeoutNow;
        cluster.Tick();
        Assert.True(cluster[leader].TransfereeToldToCampaign);
        Assert.Equal(ProposeResult.TransferInProgress, cluster[leader].Propose(new byte[1], out _));

        cluster.Tick(11);
        Assert.Equal(leader, cluster.Leader());
        Assert.False(cluster[leader].TransfereeToldToCampaign);
    }

    [Fact]
    public void LeadershipTransfer_ToAnUnreachableTarget_IsAbandonedAfterAnElectionTimeout()
    {
        var cluster = new TestCluster(3);
        var leader = cluster.ElectLeader();
        var target = cluster.Nodes.Keys.First(id => id != leader);
        cluster.Crash(target);

        Assert.Equal(TransferResult.Started, cluster[leader].TransferLeadership(target));
        cluster.Tick(11);

        Assert.Equal(0, cluster[leader].LeadTransferee);
        Assert.Equal(leader, cluster.Leader());
        Assert.Equal(ProposeResult.Accepted, cluster[leader].Propose(new byte[1], out _));
    }

    [Fact]
    public void Membership_4_1_LearnerIsAddedCaughtUpAndPromoted_OneChangeAtATime()
    {
        var cluster = new TestCluster(
            id => new RaftOptions { Id = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1 },
            (1, 0, 0, 0, []),
            (2, 0, 0, 0, []),
            (3, 0, 0, 0, []));
        cluster.AddNode(4);
        var leader = cluster.ElectLeader();
        cluster.Propose(leader, "before");
        cluster.Tick();

        Assert.Equal(ProposeResult.Accepted, cluster[leader].ProposeMembershipChange(new(MembershipChangeKind.AddLearner, 4), out _, out _));
        Assert.Equal(ProposeResult.MembershipChangePending, cluster[leader].ProposeMembershipChange(new(MembershipChangeKind.Remove, 3), out _, out _));
        cluster.Tick(2);

        Assert.True(cluster[leader].Membership.IsLearner(4));
        Assert.Equal(ProposeResult.Accepted, cluster[leader].ProposeMembershipChange(new(MembershipChangeKind.PromoteLearner, 4), out _, out _));
        cluster.Tick(2);
        Assert.True(cluster[leader].Membership.IsVoter(4));
        Assert.Equal(4, cluster[leader].Membership.Voters.Length);

        Assert.Equal(ProposeResult.InvalidMembershipChange, cluster[leader].ProposeMembershipChange(new(MembershipChangeKind.AddVoter, 4), out _, out var error));
        Assert.Contains("already a voter", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Membership_RemovedLeader_StepsDownOnceItsRemovalCommits()
    {
        var cluster = new TestCluster(3);
        var leader = cluster.ElectLeader();

        Assert.Equal(ProposeResult.Accepted, cluster[leader].ProposeMembershipChange(new(MembershipChangeKind.Remove, leader), out _, out _));
        cluster.Tick(2);

        Assert.NotEqual(RaftRole.Leader, cluster[leader].Role);
        cluster.Crash(leader);
        var next = cluster.ElectLeader();
        Assert.NotEqual(leader, next);
        Assert.Equal(2, cluster[next].Membership.Voters.Length);
    }

    [Fact]
    public void Snapshot_7_FollowerBehindTheCompactionPoint_IsSentTheSnapshot()
    {
        var cluster = new TestCluster(3, snapshotEveryEntries: 10);
        var leader = cluster.ElectLeader();
        var lagging = cluster.Nodes.Keys.First(id => id != leader);
        cluster.Crash(lagging);

        // An election timeout later the leader no longer counts it as catching up, so nothing holds its log back.
        cluster.Tick(10);
        for (var i = 0; i < 10; i++)
        {
            cluster.Propose(leader, $"s{i}");
        }

        // The leader's driver compacts once ten entries are applied past its last snapshot (none yet): here its
        // no-op and the ten commands, which commit together.
        cluster.Tick(2);
        var applied = cluster[leader].AppliedIndex;
        var snapshot = cluster[leader].LatestSnapshot;
        Assert.NotNull(snapshot);
        Assert.Equal(applied, snapshot.Index);
        Assert.Equal(applied + 1, cluster[leader].FirstIndex);

        cluster.Restart(lagging);
        cluster.Tick(3);

        Assert.Equal(snapshot.Index, cluster[lagging].LatestSnapshot?.Index);
        Assert.Equal(cluster[leader].CommitIndex, cluster[lagging].CommitIndex);
        Assert.Equal(cluster[leader].Membership, cluster[lagging].Membership);
    }
}
