using System.Buffers.Binary;
using System.Text;
using Raft.Core;

namespace Raft.KeyValue.Tests;

/// <summary>
/// Images of the store: captured in O(1), streamed from another thread while the store applies, loaded from a
/// stream that holds more than the image, installed; damaged images refused.
/// </summary>
public sealed class KvImageTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public void The_image_layout_is_pinned()
    {
        var kv = new KvStore();
        kv.Apply(1, KvCommandCodec.EncodePut("k", "v"u8));
        kv.Apply(2, Stamped(KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "l", "o", 100, new KvSession("c", 1)), 1_000));

        var expected = new MemoryStream();
        var w = new BinaryWriter(expected);
        w.Write("RKVS"u8);
        w.Write(2u);
        w.Write(2UL);
        w.Write(1UL);
        w.Write(1_000L);
        w.Write((ushort)1);
        w.Write("k"u8);
        w.Write(1u);
        w.Write("v"u8);
        w.Write(1UL);
        w.Write(1UL);
        w.Write(1u);
        w.Write((ushort)1);
        w.Write("l"u8);
        w.Write((byte)1);
        w.Write("o"u8);
        w.Write(2UL);
        w.Write(1_100L);
        w.Write(1u);
        w.Write((byte)1);
        w.Write("c"u8);
        w.Write(1UL);
        w.Write(1_000L);
        w.Write((byte)KvApplyStatus.Ok);
        w.Write(2UL);
        w.Write(0UL);
        w.Write(0UL);
        w.Write(2UL);
        w.Write(1_100L);
        w.Write((byte)0);

        using var image = kv.CaptureImage();
        Assert.Equal(145, expected.Length);
        Assert.Equal(expected.ToArray(), ReadAll(image));
        Assert.Equal(expected.ToArray(), kv.CreateSnapshot());
        Assert.Equal(2UL, image.Index);
    }

    [Fact]
    public void Every_stream_of_an_image_gives_the_same_bytes_whatever_sizes_it_is_read_in()
    {
        var kv = new KvStore();
        ApplyAll(kv, Workload(seed: 1, count: 3_000));
        ulong index = kv.AppliedIndex;

        // Items larger than the stream's buffer: a key of 60,000 bytes of UTF-8, values of 100 KB and 1 MB.
        kv.Apply(++index, KvCommandCodec.EncodePut(new string('€', 20_000), new byte[100_000]));
        kv.Apply(++index, KvCommandCodec.EncodePut("big", Enumerable.Range(0, 1 << 20).Select(i => (byte)i).ToArray()));
        kv.Apply(++index, KvCommandCodec.EncodePut(new string('z', 16_000), new byte[400]));
        using var image = kv.CaptureImage();
        var expected = kv.CreateSnapshot();

        foreach (var chunk in new[] { 1, 7, 4_096, 16_384, 70_000, 1 << 21 })
        {
            Assert.Equal(expected, ReadAll(image, chunk));
        }

        using var stream = image.OpenRead();
        var byBytes = new List<byte>();
        for (var b = stream.ReadByte(); b >= 0; b = stream.ReadByte())
        {
            byBytes.Add((byte)b);
        }

        Assert.Equal(expected, byBytes);
        Assert.Equal(expected.Length, stream.Position);
        Assert.Equal(0, stream.Read(new byte[10]));
        Assert.Equal((true, false, false), (stream.CanRead, stream.CanSeek, stream.CanWrite));
        Assert.Throws<NotSupportedException>(() => stream.Length);
        Assert.Throws<NotSupportedException>(() => stream.Seek(0, SeekOrigin.Begin));
        Assert.Throws<NotSupportedException>(() => stream.Write([1]));
    }

    [Fact]
    public async Task Streams_of_one_image_read_at_once_on_several_threads_agree()
    {
        var kv = new KvStore();
        ApplyAll(kv, Workload(seed: 2, count: 20_000));
        using var image = kv.CaptureImage();
        var expected = kv.CreateSnapshot();

        var readers = Enumerable.Range(0, 4).Select(i => Task.Run(() => ReadAll(image, 1_000 + (i * 3_001)))).ToArray();

        foreach (var bytes in await Task.WhenAll(readers).WaitAsync(Timeout))
        {
            Assert.Equal(expected, bytes);
        }
    }

    [Fact]
    public async Task An_image_streamed_on_another_thread_while_the_store_applies_has_the_bytes_of_the_state_at_its_index()
    {
        var commands = Workload(seed: 3, count: 30_000);
        var kv = new KvStore();
        ApplyAll(kv, commands.Take(10_000));
        using var first = kv.CaptureImage();
        var next = 10_000;

        // In turns first: the store applies 40 commands, then the other thread reads 2,000 bytes, and again, so
        // every chunk is read after writes that copied parts of the tree the stream is walking.
        using var yourTurn = new SemaphoreSlim(0);
        using var myTurn = new SemaphoreSlim(0);
        var firstEnded = false;
        var firstBytes = new MemoryStream();
        var turns = Task.Factory.StartNew(
            () =>
            {
                using var stream = first.OpenRead();
                var chunk = new byte[2_000];
                while (!firstEnded)
                {
                    Assert.True(yourTurn.Wait(Timeout));
                    var read = stream.Read(chunk);
                    firstBytes.Write(chunk, 0, read);
                    firstEnded = read == 0;
                    myTurn.Release();
                }
            },
            TaskCreationOptions.LongRunning);
        while (!firstEnded)
        {
            for (var end = Math.Min(next + 40, 15_000); next < end; next++)
            {
                kv.Apply((ulong)next + 1, commands[next]);
            }

            yourTurn.Release();
            Assert.True(myTurn.Wait(Timeout));
        }

        await turns.WaitAsync(Timeout);
        Assert.True(next > 11_000, $"the store applied only {next - 10_000} commands while the image was read");

        // Then at once: a second image read freely while the store applies the rest and captures a third.
        ApplyAll(kv, commands.Take(15_000).Skip(next), next);
        using var second = kv.CaptureImage();
        var secondBytes = Task.Factory.StartNew(() => ReadAll(second, 1_500), TaskCreationOptions.LongRunning);
        ApplyAll(kv, commands.Take(22_000).Skip(15_000), 15_000);
        using var third = kv.CaptureImage();
        var thirdBytes = Task.Factory.StartNew(() => ReadAll(third, 4_000), TaskCreationOptions.LongRunning);
        ApplyAll(kv, commands.Skip(22_000), 22_000);

        var read = await Task.WhenAll(secondBytes, thirdBytes).WaitAsync(Timeout);
        Assert.Equal(Reference(commands, 10_000), firstBytes.ToArray());
        Assert.Equal(Reference(commands, 15_000), read[0]);
        Assert.Equal(Reference(commands, 22_000), read[1]);
        Assert.Equal(Reference(commands, 30_000), kv.CreateSnapshot());
    }

    [Fact]
    public void An_image_loaded_and_installed_elsewhere_has_the_same_keys_locks_sessions_and_bytes_and_goes_on_alike()
    {
        var commands = Workload(seed: 4, count: 12_000);
        var source = new KvStore();
        ApplyAll(source, commands.Take(10_000));
        using var image = source.CaptureImage();
        var bytes = ReadAll(image);

        var copy = new KvStore();
        copy.Apply(1, KvCommandCodec.EncodePut("to-be-replaced", "x"u8));
        using var loaded = copy.LoadImage(new MemoryStream(bytes));
        Assert.True(copy.TryGet("to-be-replaced", out _), "loading touches nothing of the store");
        copy.InstallImage(loaded);

        Assert.Equal((source.AppliedIndex, source.ClockMs, source.Count, source.SessionCount), (copy.AppliedIndex, copy.ClockMs, copy.Count, copy.SessionCount));
        Assert.Equal(Observe(source), Observe(copy));
        Assert.Equal(bytes, copy.CreateSnapshot());
        Assert.Equal(bytes, ReadAll(loaded));
        for (var i = 10_000; i < commands.Count; i++)
        {
            Assert.Equal(source.Apply((ulong)i + 1, commands[i]), copy.Apply((ulong)i + 1, commands[i]));
        }

        Assert.Equal(source.CreateSnapshot(), copy.CreateSnapshot());
        Assert.Equal(bytes, ReadAll(image));
    }

    [Fact]
    public void A_store_that_installs_another_stores_capture_shares_its_keys_and_each_goes_on_apart()
    {
        var commands = Workload(seed: 5, count: 8_000);
        var a = new KvStore();
        ApplyAll(a, commands.Take(5_000));
        using var image = a.CaptureImage();
        var bytes = ReadAll(image);
        var b = new KvStore();
        b.InstallImage(image);

        ApplyAll(a, commands.Skip(5_000), 5_000);
        var other = Workload(seed: 6, count: 3_000);
        ApplyAll(b, other, 5_000);

        var reference = new KvStore();
        ApplyAll(reference, commands.Take(5_000));
        ApplyAll(reference, other, 5_000);
        Assert.Equal(reference.CreateSnapshot(), b.CreateSnapshot());
        Assert.Equal(Reference(commands, 8_000), a.CreateSnapshot());
        Assert.Equal(bytes, ReadAll(image));
    }

    [Fact]
    public void LoadImage_reads_exactly_the_image_and_leaves_what_follows_it()
    {
        var kv = new KvStore();
        ApplyAll(kv, Workload(seed: 7, count: 2_000));
        kv.Apply(2_001, KvCommandCodec.EncodePut("large", new byte[3_000_000]));
        var image = kv.CreateSnapshot();
        byte[] trailer = [.. "TRAILER!"u8];

        foreach (var seed in new[] { 1, 2, 3 })
        {
            // Reads of 1 to 13 bytes at a time, as a socket may give them.
            var source = new TrickleStream([.. image, .. trailer], new Random(seed));
            using var loaded = kv.LoadImage(source);

            Assert.Equal(image.Length, source.Position);
            var rest = new byte[16];
            Assert.Equal(trailer, rest.AsSpan(0, source.ReadAtLeast(rest, rest.Length, throwOnEndOfStream: false)).ToArray());
            Assert.Equal(image, ReadAll(loaded));
        }
    }

    [Fact]
    public void A_format_1_image_still_loads_with_no_clock_locks_or_sessions()
    {
        var bytes = new MemoryStream();
        var w = new BinaryWriter(bytes);
        w.Write("RKVS"u8);
        w.Write(1u);
        w.Write(9UL);
        w.Write(2UL);
        foreach (var (key, version) in new[] { ("a", 3UL), ("b", 9UL) })
        {
            w.Write((ushort)1);
            w.Write(Encoding.UTF8.GetBytes(key));
            w.Write(2u);
            w.Write("xy"u8);
            w.Write(version);
            w.Write(2UL);
        }

        var kv = new KvStore();
        kv.RestoreSnapshot(bytes.ToArray());

        Assert.Equal((9UL, 0L, 2, 0), (kv.AppliedIndex, kv.ClockMs, kv.Count, kv.SessionCount));
        Assert.True(kv.TryGet("b", out var value));
        Assert.Equal(new KvValue(value.Value, 9, 2), value);
        Assert.Equal("xy", Encoding.UTF8.GetString(value.Value));
    }

    [Fact]
    public void An_image_cut_at_any_byte_is_refused_and_leaves_the_store_as_it_was()
    {
        var image = SmallImage();
        var target = new KvStore();
        ApplyAll(target, Workload(seed: 8, count: 50));
        var before = target.CreateSnapshot();

        for (var cut = 0; cut < image.Length; cut++)
        {
            Assert.Throws<InvalidDataException>(() => target.LoadImage(new MemoryStream(image, 0, cut)));
            if (cut > 0)
            {
                Assert.Throws<InvalidDataException>(() => target.RestoreSnapshot(image.AsSpan(0, cut)));
            }
        }

        Assert.Throws<InvalidDataException>(() => target.RestoreSnapshot([.. image, 0]));
        Assert.Equal(before, target.CreateSnapshot());
    }

    [Fact]
    public void A_damaged_image_is_refused_with_InvalidDataException_or_loads_as_exactly_what_it_says()
    {
        var image = SmallImage();
        var target = new KvStore();
        ApplyAll(target, Workload(seed: 9, count: 50));
        var before = target.CreateSnapshot();
        var random = new Random(10);
        var refused = 0;

        for (var trial = 0; trial < 5_000; trial++)
        {
            var damaged = image.ToArray();
            damaged[random.Next(damaged.Length)] ^= (byte)(1 << random.Next(8));
            if (trial % 2 == 1)
            {
                damaged[random.Next(damaged.Length)] ^= (byte)random.Next(1, 256);
            }

            IStateMachineImage loaded;
            var source = new MemoryStream(damaged);
            try
            {
                loaded = target.LoadImage(source);
            }
            catch (InvalidDataException)
            {
                refused++;
                Assert.Throws<InvalidDataException>(() => target.RestoreSnapshot(damaged));
                continue;
            }

            // What loads is a state the store could have had: installed, it writes back the bytes the load read
            // (unless the damage turned format 2 into 1), which may be fewer than it was given when the damage
            // shortened a count.
            using (loaded)
            {
                var installed = new KvStore();
                installed.InstallImage(loaded);
                var rewritten = installed.CreateSnapshot();
                if (BinaryPrimitives.ReadUInt32LittleEndian(damaged.AsSpan(4)) == 2)
                {
                    Assert.Equal(damaged[..(int)source.Position], rewritten);
                }
            }
        }

        Assert.InRange(refused, 2_500, 5_000);
        Assert.Equal(before, target.CreateSnapshot());
    }

    [Fact]
    public void InstallImage_refuses_an_image_of_another_kind_and_a_disposed_image_is_of_no_further_use()
    {
        var kv = new KvStore();
        kv.Apply(1, KvCommandCodec.EncodePut("k", "v"u8));
        Assert.Throws<ArgumentException>(() => kv.InstallImage(new OtherImage()));

        var image = kv.CaptureImage();
        var stream = image.OpenRead();
        Assert.Equal(10, stream.Read(new byte[10]));
        image.Dispose();

        Assert.Throws<ObjectDisposedException>(() => image.OpenRead());
        Assert.Throws<ObjectDisposedException>(() => stream.Read(new byte[10]));
        Assert.Throws<ObjectDisposedException>(() => new KvStore().InstallImage(image));
        Assert.True(kv.TryGet("k", out _));
    }

    [Fact]
    public void Capturing_an_image_takes_the_same_time_whatever_the_number_of_keys_and_allocates_only_the_copies_of_locks_and_sessions()
    {
        var kv = new KvStore();
        for (var i = 0; i < 100_000; i++)
        {
            kv.Apply((ulong)i + 1, KvCommandCodec.EncodePut($"key/{i:D10}", new byte[10]));
        }

        kv.CaptureImage().Dispose();
        var before = GC.GetAllocatedBytesForCurrentThread();
        using var image = kv.CaptureImage();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // The image object and two empty arrays: nothing that grows with the keys.
        Assert.InRange(allocated, 1, 256);
    }

    // A small image with keys, a lock and sessions (one answer remembering a holder).
    private static byte[] SmallImage()
    {
        var kv = new KvStore();
        kv.Apply(1, KvCommandCodec.EncodePut("a", "1"u8));
        kv.Apply(2, KvCommandCodec.EncodePut("b/é", "22"u8));
        kv.Apply(3, Stamped(KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "lock", "owner", 1_000, new KvSession("one", 1)), 5_000));
        kv.Apply(4, Stamped(KvCommandCodec.EncodeLock(KvCommandType.LockRenew, "lock", "other", 1_000, new KvSession("two", 3)), 5_010));
        kv.Apply(5, KvCommandCodec.EncodePut("c", []));
        return kv.CreateSnapshot();
    }

    private static byte[] Reference(List<byte[]> commands, int count)
    {
        var reference = new KvStore();
        ApplyAll(reference, commands.Take(count));
        return reference.CreateSnapshot();
    }

    private static byte[] ReadAll(IStateMachineImage image, int chunk = 81_920)
    {
        using var stream = image.OpenRead();
        using var bytes = new MemoryStream();
        var buffer = new byte[chunk];
        for (var read = stream.Read(buffer); read > 0; read = stream.Read(buffer))
        {
            bytes.Write(buffer, 0, read);
        }

        return bytes.ToArray();
    }

    private static void ApplyAll(KvStore kv, IEnumerable<byte[]> commands, int appliedBefore = 0)
    {
        var index = (ulong)appliedBefore;
        foreach (var command in commands)
        {
            kv.Apply(++index, command);
        }
    }

    // Puts (values up to 300 bytes, some with sessions), deletes, compare-and-sets and lock commands over a few
    // thousand keys and a few dozen locks and clients, stamped with rising times.
    private static List<byte[]> Workload(int seed, int count)
    {
        var random = new Random(seed);
        var commands = new List<byte[]>(count);
        long time = 1_000;
        for (var i = 0; i < count; i++)
        {
            var key = $"key/{random.Next(4_000)}";
            var session = random.Next(4) == 0 ? new KvSession($"client-{random.Next(30)}", (ulong)(i + 1)) : default;
            var command = random.Next(10) switch
            {
                0 or 1 => KvCommandCodec.EncodeDelete(key),
                2 => KvCommandCodec.EncodePut(key, new byte[random.Next(300)], (ulong)random.Next(i + 1), session),
                3 => KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, $"lock/{random.Next(20)}", $"owner-{random.Next(3)}", 1 + random.Next(2_000), session),
                4 => KvCommandCodec.EncodeLock(KvCommandType.LockRelease, $"lock/{random.Next(20)}", $"owner-{random.Next(3)}", 0, session),
                _ => KvCommandCodec.EncodePut(key, Encoding.UTF8.GetBytes(new string('v', random.Next(300))), null, session),
            };
            time += random.Next(5);
            KvCommandCodec.TryStampTime(command, time);
            commands.Add(command);
        }

        return commands;
    }

    private static byte[] Stamped(byte[] command, long timeMs)
    {
        Assert.True(KvCommandCodec.TryStampTime(command, timeMs));
        return command;
    }

    private static string Observe(KvStore kv)
    {
        var items = new List<KvListItem>();
        kv.List(string.Empty, int.MaxValue, items);
        var text = new StringBuilder();
        foreach (var item in items)
        {
            text.Append($"{item.Key}={Convert.ToHexString(item.Value.Value)}@{item.Value.Version}/{item.Value.CreateIndex} ");
        }

        for (var i = 0; i < 20; i++)
        {
            text.Append(kv.TryGetLock($"lock/{i}", 0, out var held) ? $"lock/{i}:{held} " : string.Empty);
        }

        for (var i = 0; i < 30; i++)
        {
            text.Append($"client-{i}:{kv.SessionSequence($"client-{i}")} ");
        }

        return text.ToString();
    }

    /// <summary>A non-seekable stream that hands out at most a few bytes per read.</summary>
    private sealed class TrickleStream(byte[] data, Random random) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var count = Math.Min(Math.Min(buffer.Length, 1 + random.Next(13)), data.Length - _position);
            data.AsSpan(_position, count).CopyTo(buffer);
            _position += count;
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class OtherImage : IStateMachineImage
    {
        public ulong Index => 0;

        public Stream OpenRead() => new MemoryStream();

        public void Dispose()
        {
        }
    }
}
