using System.Threading.Channels;

namespace Raft.Server.Tests;

public sealed class InputWaitTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_wait_ends_when_an_input_arrives_and_says_false_once_the_channel_is_completed()
    {
        var channel = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = true });
        using var wait = new InputWait<int>(channel.Reader);

        var waiting = Task.Factory.StartNew(wait.Wait, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(channel.Writer.TryWrite(1));
        Assert.True(await waiting.WaitAsync(Limit));
        Assert.True(channel.Reader.TryRead(out var input));
        Assert.Equal(1, input);

        waiting = Task.Factory.StartNew(wait.Wait, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        channel.Writer.Complete();
        Assert.False(await waiting.WaitAsync(Limit));
    }

    [Fact]
    public async Task Late_yields_in_consecutive_waits_stop_the_spinning_for_a_while()
    {
        var time = new ManualTime();
        var channel = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = true });
        var spins = 0;
        var late = true;

        // Each spin step is where the input arrives; a late one takes as long as another process's time slice.
        using var wait = new InputWait<int>(channel.Reader, time, () =>
        {
            spins++;
            time.Advance(late ? InputWait<int>.ContendedYield : TimeSpan.FromTicks(1));
            channel.Writer.TryWrite(spins);
        });

        // Two late waits, then a prompt one: a burst, not a busy machine.
        for (var i = 0; i < InputWait<int>.LateWaitsToBlock - 1; i++)
        {
            Assert.True(wait.Wait());
            Assert.True(channel.Reader.TryRead(out _));
        }

        late = false;
        Assert.True(wait.Wait());
        Assert.True(channel.Reader.TryRead(out _));
        Assert.Equal(0, wait.ContendedSpins);

        // Late in enough waits in a row: the spinning stops.
        late = true;
        for (var i = 0; i < InputWait<int>.LateWaitsToBlock; i++)
        {
            Assert.True(wait.Wait());
            Assert.True(channel.Reader.TryRead(out _));
        }

        Assert.Equal(1, wait.ContendedSpins);

        // Meanwhile a wait blocks without a single spin step, until an input is written.
        var spinsBefore = spins;
        var waiting = Task.Factory.StartNew(wait.Wait, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(channel.Writer.TryWrite(-1));
        Assert.True(await waiting.WaitAsync(Limit));
        Assert.True(channel.Reader.TryRead(out var input));
        Assert.Equal(-1, input);
        Assert.Equal(spinsBefore, spins);

        // Once the pause is over it spins again.
        time.Advance(InputWait<int>.BlockOnlyFor);
        late = false;
        Assert.True(wait.Wait());
        Assert.Equal(spinsBefore + 1, spins);
    }

    private sealed class ManualTime : TimeProvider
    {
        private long _now;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _now);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _now, by.Ticks);
    }
}
