using System.Text;
using Raft.Core;
using Raft.KeyValue;

namespace Raft.Node.Tests;

/// <summary>
/// What the node driver relies on from every <see cref="IReplicatedStateMachine{TResult}"/>: committed entries
/// applied in log order, images frozen while it goes on applying and installed on nodes that did not take them,
/// leader time stamped into commands, and the same state on every replica. A state machine's tests derive from this suite and say how to build one
/// and what its commands are.
/// </summary>
public abstract class ReplicatedStateMachineContractTests<TStateMachine, TResult>
    where TStateMachine : IReplicatedStateMachine<TResult>
{
    protected abstract TStateMachine Create();

    /// <summary>The n-th command (n ≥ 1) of a workload in which commands build on the ones before.</summary>
    protected abstract byte[] Command(int n);

    /// <summary>A new command that carries a leader time, not yet stamped.</summary>
    protected abstract byte[] TimedCommand();

    /// <summary>A new command that carries no time.</summary>
    protected abstract byte[] UntimedCommand();

    /// <summary>Everything a client could read from the state, other than the applied index and the clock.</summary>
    protected abstract string Observe(TStateMachine stateMachine);

    [Fact]
    public void A_new_state_machine_is_at_index_zero_with_its_clock_at_zero()
    {
        var stateMachine = Create();

        Assert.Equal(0UL, stateMachine.AppliedIndex);
        Assert.Equal(0L, stateMachine.ClockMs);
    }

    [Fact]
    public void Entries_apply_in_log_order_each_advancing_the_applied_index_by_one()
    {
        var stateMachine = Create();

        for (var n = 1; n <= 10; n++)
        {
            stateMachine.Apply((ulong)n, Command(n));
            Assert.Equal((ulong)n, stateMachine.AppliedIndex);
        }
    }

    [Fact]
    public void An_entry_out_of_order_fails_loudly_and_changes_nothing()
    {
        var stateMachine = Create();
        Feed(stateMachine, 3);
        var before = Image(stateMachine);

        Assert.ThrowsAny<InvalidOperationException>(() => stateMachine.Apply(5, Command(5)));
        Assert.ThrowsAny<InvalidOperationException>(() => stateMachine.Apply(3, Command(3)));
        Assert.ThrowsAny<InvalidOperationException>(() => stateMachine.Skip(5));

        Assert.Equal(before, Image(stateMachine));
    }

    [Fact]
    public void A_skipped_entry_consumes_its_index_and_changes_nothing_else()
    {
        var skipping = Create();
        var plain = Create();
        Feed(skipping, 3);
        Feed(plain, 3);

        skipping.Skip(4);

        Assert.Equal(4UL, skipping.AppliedIndex);
        Assert.Equal(Observe(plain), Observe(skipping));
        Assert.Equal(plain.ClockMs, skipping.ClockMs);
        skipping.Apply(5, Command(5));
        Assert.Equal(5UL, skipping.AppliedIndex);
    }

    [Fact]
    public void An_image_installed_elsewhere_has_the_same_state_applied_index_and_clock_and_goes_on_alike()
    {
        var source = Create();
        Feed(source, 12);
        var image = Image(source);

        var copy = Create();
        Install(copy, image);

        Assert.Equal(source.AppliedIndex, copy.AppliedIndex);
        Assert.Equal(source.ClockMs, copy.ClockMs);
        Assert.Equal(Observe(source), Observe(copy));
        Assert.Equal(image, Image(copy));
        for (var n = 13; n <= 20; n++)
        {
            Assert.Equal(source.Apply((ulong)n, Command(n)), copy.Apply((ulong)n, Command(n)));
        }

        Assert.Equal(Image(source), Image(copy));
    }

    [Fact]
    public void An_image_replaces_whatever_state_was_there()
    {
        var source = Create();
        Feed(source, 6);
        var image = Image(source);
        var target = Create();
        Feed(target, 12);

        Install(target, image);

        Assert.Equal(6UL, target.AppliedIndex);
        Assert.Equal(Observe(source), Observe(target));
        Assert.Equal(image, Image(target));
        target.Apply(7, Command(7));
    }

    [Fact]
    public void A_captured_image_stays_as_it_was_while_the_state_machine_goes_on_applying()
    {
        var stateMachine = Create();
        Feed(stateMachine, 12);
        var expected = Image(stateMachine);
        using var image = stateMachine.CaptureImage();

        for (var n = 13; n <= 40; n++)
        {
            stateMachine.Apply((ulong)n, Command(n));
        }

        Assert.Equal(12UL, image.Index);
        Assert.Equal(expected, Bytes(image));
        Assert.Equal(expected, Bytes(image));
    }

    [Fact]
    public void LoadImage_reads_exactly_the_image_and_changes_nothing_of_the_state_machine_that_loads_it()
    {
        var source = Create();
        Feed(source, 12);
        var image = Image(source);
        var loader = Create();
        Feed(loader, 5);
        var before = Image(loader);
        using var input = new MemoryStream([.. image, 0xEE, 0xFF]);

        using var loaded = loader.LoadImage(input);

        Assert.Equal(image.Length, input.Position);
        Assert.Equal(12UL, loaded.Index);
        Assert.Equal(before, Image(loader));
        Assert.Equal(image, Bytes(loaded));
    }

    [Fact]
    public void A_damaged_image_throws_InvalidDataException_and_leaves_the_state_as_it_was()
    {
        var source = Create();
        Feed(source, 12);
        var image = Image(source);
        var target = Create();
        Feed(target, 5);
        var before = Image(target);
        var observed = Observe(target);

        var damaged = new List<byte[]>();
        for (var length = 0; length < image.Length; length++)
        {
            damaged.Add(image[..length]);
        }

        var badHeader = image.ToArray();
        badHeader[0] ^= 0xFF;
        damaged.Add(badHeader);

        foreach (var bytes in damaged)
        {
            Assert.Throws<InvalidDataException>(() => target.LoadImage(new MemoryStream(bytes)));
            Assert.Equal(5UL, target.AppliedIndex);
            Assert.Equal(observed, Observe(target));
            Assert.Equal(before, Image(target));
        }
    }

    [Fact]
    public void TryStampTime_writes_the_time_into_a_timed_command_which_sets_the_clock_when_applied()
    {
        var stateMachine = Create();
        var command = TimedCommand();

        Assert.True(stateMachine.TryStampTime(command, 1_000));
        stateMachine.Apply(1, command);

        Assert.Equal(1_000L, stateMachine.ClockMs);
    }

    [Fact]
    public void TryStampTime_leaves_an_untimed_command_as_it_was_and_its_entry_leaves_the_clock()
    {
        var stateMachine = Create();
        var stamped = TimedCommand();
        stateMachine.TryStampTime(stamped, 1_000);
        stateMachine.Apply(1, stamped);
        var command = UntimedCommand();
        var original = command.ToArray();

        Assert.False(stateMachine.TryStampTime(command, 5_000));
        stateMachine.Apply(2, command);

        Assert.Equal(original, command);
        Assert.Equal(1_000L, stateMachine.ClockMs);
    }

    [Fact]
    public void The_clock_never_goes_back_when_a_later_entry_carries_an_earlier_time()
    {
        var stateMachine = Create();
        var later = TimedCommand();
        var earlier = TimedCommand();
        stateMachine.TryStampTime(later, 5_000);
        stateMachine.TryStampTime(earlier, 2_000);

        stateMachine.Apply(1, later);
        stateMachine.Apply(2, earlier);

        Assert.Equal(5_000L, stateMachine.ClockMs);
    }

    [Fact]
    public void Replicas_fed_the_same_entries_give_the_same_results_and_the_same_image()
    {
        var first = Create();
        var second = Create();

        var results = Feed(first, 40);

        Assert.Equal(results, Feed(second, 40));
        Assert.Equal(Image(first), Image(second));
    }

    private static byte[] Image(TStateMachine stateMachine)
    {
        using var image = stateMachine.CaptureImage();
        return Bytes(image);
    }

    private static byte[] Bytes(IStateMachineImage image)
    {
        using var stream = image.OpenRead();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static void Install(TStateMachine stateMachine, byte[] image) =>
        stateMachine.InstallImage(stateMachine.LoadImage(new MemoryStream(image)));

    // Entries 1..count of a workload that mixes commands, skipped entries (every 7th) and timed commands (every 4th,
    // stamped with rising times); returns what each command answered.
    private List<TResult> Feed(TStateMachine stateMachine, int count)
    {
        var results = new List<TResult>();
        for (var n = 1; n <= count; n++)
        {
            var index = (ulong)n;
            if (n % 7 == 0)
            {
                stateMachine.Skip(index);
                continue;
            }

            var command = n % 4 == 0 ? TimedCommand() : Command(n);
            stateMachine.TryStampTime(command, n * 1_000L);
            results.Add(stateMachine.Apply(index, command));
        }

        return results;
    }
}

/// <summary>The state machine contract, run against the key-value store.</summary>
public sealed class KvStoreContractTests : ReplicatedStateMachineContractTests<KvStore, KvApplyResult>
{
    protected override KvStore Create() => new();

    // Puts and deletes over four keys, so later commands overwrite and remove what earlier ones wrote.
    protected override byte[] Command(int n) => n % 3 == 0
        ? KvCommandCodec.EncodeDelete($"k{n % 4}")
        : KvCommandCodec.EncodePut($"k{n % 4}", Encoding.UTF8.GetBytes($"v{n}"));

    protected override byte[] TimedCommand() => KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "lock", "owner", 60_000, default);

    protected override byte[] UntimedCommand() => KvCommandCodec.EncodePut("k", "v"u8);

    protected override string Observe(KvStore stateMachine)
    {
        var items = new List<KvListItem>();
        stateMachine.List(string.Empty, int.MaxValue, items);
        var values = items.Select(i => $"{i.Key}={Encoding.UTF8.GetString(i.Value.Value)}@{i.Value.Version}/{i.Value.CreateIndex}");
        var held = stateMachine.TryGetLock("lock", 0, out var lockState) ? lockState.ToString() : "free";
        return $"{string.Join(' ', values)} lock: {held}";
    }
}
