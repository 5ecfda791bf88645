using Raft.KeyValue;
using Raft.Simulation.Checking;

namespace Raft.Simulation.CheckingTests;

/// <summary>
/// The watch checker on hand-made traces against a small log: what a watch got must be the log's changes to its keys,
/// in order, each once, with no gap but one a re-read covers, up to where the cluster converged.
/// </summary>
public sealed class WatchCheckerTests
{
    private static readonly WatchFilter Prefix = new("a/", IsPrefix: true);

    // The log: puts and a delete under a/, and changes to other keys a watch of a/ must not get.
    private static readonly List<WatchChange> Log =
    [
        Put(2, "a/x", 1, created: 2),
        Put(3, "b", 2, created: 3),
        Put(4, "a/y", 3, created: 4),
        Put(5, "a/x", 4, created: 2),
        Delete(6, "a/y"),
        Put(7, "b", 5, created: 3),
        Put(8, "a/z", 6, created: 8),
    ];

    private static WatchChange Put(ulong index, string key, byte value, ulong created) => new(index, key, [value], index, created);

    private static WatchChange Delete(ulong index, string key) => new(index, key, null, 0, 0);

    private static KvListItem Item(string key, byte value, ulong version, ulong created) => new(key, new KvValue([value], version, created));

    private static WatchTrace From(ulong after)
    {
        var trace = new WatchTrace(0, Prefix);
        trace.Started(after);
        return trace;
    }

    // Each change under the prefix after `after` through `through`, delivered as the simulator does: then its index.
    private static void Deliver(WatchTrace trace, ulong after, ulong through)
    {
        foreach (var change in Log.Where(c => c.Index > after && c.Index <= through && Prefix.Matches(c.Key)))
        {
            // A copy: the checker compares contents, as a watch's changes are the node's arrays, not the log's.
            trace.Delivered(change with { Value = change.Value?.ToArray() });
            trace.SeenThrough(change.Index);
        }
    }

    private static CheckResult Check(WatchTrace trace, ulong mustReach = 8) => WatchChecker.Check(Log, 8, [trace], mustReach);

    private static void AssertViolation(CheckResult result, string expected)
    {
        Assert.Equal(CheckVerdict.Violation, result.Verdict);
        Assert.Contains(expected, result.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_change_under_the_prefix_once_in_order_passes_whether_it_started_at_the_beginning_or_later()
    {
        var whole = From(0);
        Deliver(whole, 0, 8);
        var later = From(4);
        Deliver(later, 4, 7);
        later.SeenThrough(7);
        Deliver(later, 7, 8);

        Assert.True(Check(whole).IsPass, Check(whole).ToString());
        Assert.True(Check(later).IsPass, Check(later).ToString());
    }

    [Fact]
    public void A_re_read_holding_the_log_s_state_covers_the_changes_it_replaced()
    {
        var trace = From(0);
        Deliver(trace, 0, 2);

        // Compacted after 2: the keys as of 6 (a/y put at 4 and deleted at 6), then the changes after 6.
        trace.Reread(6, [Item("a/x", 4, version: 5, created: 2)]);
        Deliver(trace, 6, 8);

        Assert.True(Check(trace).IsPass, Check(trace).ToString());
    }

    [Fact]
    public void A_lost_change_is_a_gap_when_a_later_one_comes()
    {
        var trace = From(0);
        Deliver(trace, 0, 2);
        Deliver(trace, 4, 8);

        AssertViolation(Check(trace), "watcher 0 (prefix \"a/\"): step 3: delivered 5: put \"a/x\" = 04 version 5 created 2 but skipped 1 change(s) before it, the first 4: put \"a/y\" = 03 version 4 created 4");
    }

    [Fact]
    public void A_lost_change_is_a_gap_once_the_watch_says_it_has_seen_past_it()
    {
        var trace = From(0);
        Deliver(trace, 0, 5);
        trace.SeenThrough(7);

        AssertViolation(Check(trace), "says it has seen everything up to 7, but was never delivered the log's change 6: delete \"a/y\"");
    }

    [Fact]
    public void A_change_delivered_twice_is_caught()
    {
        var trace = From(0);
        Deliver(trace, 0, 4);
        trace.Delivered(Log[2]);

        AssertViolation(Check(trace), "delivered 4: put \"a/y\" = 03 version 4 created 4 again or out of order: it already had the log's changes through 4: put \"a/y\"");
    }

    [Fact]
    public void A_change_resent_after_a_resume_from_a_later_index_is_caught()
    {
        // Resumed after 5 on a node that was behind it, which sends the change at 5 again.
        var trace = From(0);
        Deliver(trace, 0, 5);
        trace.Delivered(Log[3]);

        AssertViolation(Check(trace), "delivered 5: put \"a/x\" = 04 version 5 created 2 again or out of order");
    }

    [Fact]
    public void Changes_out_of_order_are_caught()
    {
        var trace = From(0);
        Deliver(trace, 0, 2);
        trace.Delivered(Log[3]);
        trace.Delivered(Log[2]);

        AssertViolation(Check(trace), "step 3: delivered 5: put \"a/x\" = 04 version 5 created 2 but skipped 1 change(s) before it");
    }

    [Fact]
    public void A_change_the_log_did_not_make_is_caught_by_its_value_version_or_key()
    {
        var value = From(0);
        value.Delivered(Log[0] with { Value = [9] });
        var version = From(0);
        version.Delivered(Log[0] with { Version = 3 });
        var outside = From(2);
        outside.Delivered(Log[1]);

        AssertViolation(Check(value), "delivered 2: put \"a/x\" = 09 version 2 created 2, which is not a change the committed log made to a watched key (it owes 2: put \"a/x\" = 01");
        AssertViolation(Check(version), "delivered 2: put \"a/x\" = 01 version 3 created 2, which is not a change the committed log made to a watched key");
        AssertViolation(Check(outside), "delivered 3: put \"b\" = 02 version 3 created 3, which is not a change the committed log made to a watched key");
    }

    [Fact]
    public void A_re_read_that_is_not_the_log_s_state_at_its_index_is_caught()
    {
        var stale = From(0);
        stale.Reread(6, [Item("a/x", 4, version: 5, created: 2), Item("a/y", 3, version: 4, created: 4)]);
        var old = From(0);
        old.Reread(6, [Item("a/x", 1, version: 2, created: 2)]);

        AssertViolation(Check(stale), "step 1: re-read at 6 after 0, it holds \"a/y\", which the log does not hold there");
        AssertViolation(Check(old), "it holds \"a/x\" at version 2 (created 2) = 01, where the log holds 5: put \"a/x\" = 04 version 5 created 2");
    }

    [Fact]
    public void A_watch_must_reach_the_converged_index_and_not_see_past_the_log()
    {
        var behind = From(0);
        Deliver(behind, 0, 5);
        var past = From(0);
        Deliver(past, 0, 8);
        past.SeenThrough(9);

        AssertViolation(Check(behind), "has seen everything only up to 5, short of 8; the next change it is owed is 6: delete \"a/y\"");
        AssertViolation(Check(past), "step 11 (SeenThrough 9) is past the committed log's last index 8");
    }
}
