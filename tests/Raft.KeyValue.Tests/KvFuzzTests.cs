using System.Buffers.Binary;
using System.Text;
using Raft.Fuzzing;
using Xunit.Abstractions;

namespace Raft.KeyValue.Tests;

/// <summary>
/// Fuzzing what the key-value store decodes: snapshot images (from a span and from a stream) and commands read from
/// the log. An image either loads to a state that writes the very same bytes, or is refused with
/// <see cref="InvalidDataException"/>; a command either decodes or not, and applying it never throws (but for one a
/// newer version proposed) and leaves a state whose image loads back to itself. Replay and longer campaigns: see
/// Raft.Fuzzing's Fuzz.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class KvFuzzTests(ITestOutputHelper output)
{
    private static readonly string[] Keys = ["a", "a/b", "a/c", "b", "é", "日本", "z/" + new string('x', 40)];

    [Fact]
    public void Images_load_to_a_state_that_writes_them_again_or_are_refused_as_invalid_data()
    {
        var report = Fuzz.Run(new FuzzTarget
        {
            Name = "KV image decoder",
            Generate = ImageSample,
            Check = CheckImage,
        }, seed: 14_201, ciCases: 10_000);
        output.WriteLine(report.ToString());
    }

    [Fact]
    public void Commands_from_the_log_apply_without_throwing_and_leave_a_state_that_loads_back()
    {
        var prelude = Prelude();
        var report = Fuzz.Run(new FuzzTarget
        {
            Name = "KV command decoder and apply",
            Generate = random => new FuzzSample(RandomCommand(random, leases: [4, 9])),
            Check = input => CheckCommand(prelude, input),
        }, seed: 14_202, ciCases: 8_000);
        output.WriteLine(report.ToString());
    }

    // The image of a store that applied a few random commands of every kind, at the newest cluster version.
    private static FuzzSample ImageSample(Random random)
    {
        var kv = new KvStore();
        ulong index = 0;
        var time = 1_000L;
        var leases = new List<ulong>();
        var version = random.Next(1, KvClusterVersion.Supported + 1);
        for (var v = 2; v <= version; v++)
        {
            kv.Apply(++index, KvCommandCodec.EncodeSetClusterVersion(v));
        }

        for (var count = random.Next(0, 12); count > 0; count--)
        {
            var command = RandomCommand(random, version >= KvClusterVersion.Leases ? [.. leases] : []);
            if (KvCommandCodec.TypeOf(command) is var type && KvClusterVersion.Required(type) > version)
            {
                continue;
            }

            time += random.Next(0, 500);
            KvCommandCodec.TryStampTime(command, time);
            var result = kv.Apply(++index, command);
            if (type == KvCommandType.LeaseGrant && result.Status == KvApplyStatus.Ok)
            {
                leases.Add(result.Lease);
            }
        }

        var bytes = kv.CreateSnapshot();
        var sample = new FuzzSample(bytes).Field(4, 4).Field(16, 8).Field(24, 8);
        return bytes.Length >= 40 && version >= KvClusterVersion.Leases ? sample.Field(36, 4).Field(32, 4) : sample;
    }

    private static Verdict CheckImage(byte[] input)
    {
        var kv = new KvStore();
        try
        {
            kv.RestoreSnapshot(input);
        }
        catch (InvalidDataException)
        {
            return Verdict.Refused;
        }

        // No bytes at all are the initial state, which has no image to read from a stream.
        var again = kv.CreateSnapshot();
        if (input.Length == 0)
        {
            return Verdict.Accepted;
        }

        // Format 1 (keys only) is read but written as format 2; every later format is written as it was read.
        if (BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(4)) != 1 && !again.AsSpan().SequenceEqual(input))
        {
            throw new InvalidOperationException($"the loaded image writes {again.Length} other bytes:{Environment.NewLine}{Fuzz.Hex(again)}");
        }

        // Read from a stream (a snapshot body arriving), the image loads to the same state.
        var streamed = new KvStore();
        using (var image = streamed.LoadImage(new MemoryStream(input)))
        {
            streamed.InstallImage(image);
        }

        if (!streamed.CreateSnapshot().AsSpan().SequenceEqual(again))
        {
            throw new InvalidOperationException("the image loaded from a stream differs from the one loaded from a span");
        }

        return Verdict.Accepted;
    }

    // A store with keys, a live lease (4), a lock and a session, as an image each case restores from.
    private static byte[] Prelude()
    {
        var kv = new KvStore();
        ulong index = 0;
        kv.Apply(++index, KvCommandCodec.EncodeSetClusterVersion(2));
        kv.Apply(++index, KvCommandCodec.EncodeSetClusterVersion(3));
        kv.Apply(++index, KvCommandCodec.EncodePut("a", "1"u8));
        kv.Apply(++index, Stamped(KvCommandCodec.EncodeLeaseGrant(10_000, default), 1_000));
        kv.Apply(++index, KvCommandCodec.EncodePut("a/b", "2"u8, null, new KvSession("c1", 1), lease: 4));
        kv.Apply(++index, Stamped(KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, "b", "o1", 5_000, new KvSession("c2", 1)), 2_000));
        Assert.Equal(6UL, kv.AppliedIndex);
        return kv.CreateSnapshot();
    }

    private static Verdict CheckCommand(byte[] prelude, byte[] input)
    {
        var kv = new KvStore();
        kv.RestoreSnapshot(prelude);
        var decodes = KvCommandCodec.TryDecode(input, out _);
        try
        {
            kv.Apply(kv.AppliedIndex + 1, input);
        }
        catch (UnknownCommandException) when (!decodes && KvCommandCodec.UnknownToThisVersion(input) is not null)
        {
            return Verdict.Refused;
        }

        // Whatever applied, the state is one the store's own loader accepts and writes back the same.
        var image = kv.CreateSnapshot();
        var loaded = new KvStore();
        loaded.RestoreSnapshot(image);
        if (!loaded.CreateSnapshot().AsSpan().SequenceEqual(image))
        {
            throw new InvalidOperationException("the state after the command does not load back to itself");
        }

        return decodes ? Verdict.Accepted : Verdict.Refused;
    }

    /// <summary>A valid command of any kind, on small sets of keys, owners and clients so that they meet.</summary>
    private static byte[] RandomCommand(Random random, ulong[] leases)
    {
        var key = Keys[random.Next(Keys.Length)];
        var session = random.Next(3) == 0 ? default : new KvSession("client-" + random.Next(3), (ulong)random.Next(1, 5));
        var lease = leases.Length > 0 && random.Next(3) == 0 ? leases[random.Next(leases.Length)] : 0;
        var value = new byte[random.Next(4) == 0 ? random.Next(0, 300) : random.Next(0, 8)];
        random.NextBytes(value);
        var ttl = random.Next(4) == 0 ? long.MaxValue - random.Next(0, 3) : random.Next(1, 10_000);
        var owner = "owner-" + random.Next(2);
        var command = random.Next(12) switch
        {
            0 => KvCommandCodec.EncodePut(key, value, null, session, lease),
            1 => KvCommandCodec.EncodePut(key, value, (ulong)random.Next(0, 10), session, lease),
            2 => KvCommandCodec.EncodeDelete(key, random.Next(2) == 0 ? null : (ulong)random.Next(0, 10), session),
            3 => KvCommandCodec.EncodeLock(KvCommandType.LockAcquire, key, owner, ttl, session, lease),
            4 => KvCommandCodec.EncodeLock(KvCommandType.LockRenew, key, owner, ttl, session),
            5 => KvCommandCodec.EncodeLock(KvCommandType.LockRelease, key, owner, 0, session),
            6 => KvCommandCodec.EncodeLeaseGrant(ttl, session),
            7 => KvCommandCodec.EncodeLease(random.Next(2) == 0 ? KvCommandType.LeaseKeepAlive : KvCommandType.LeaseRevoke, lease == 0 ? (ulong)random.Next(1, 10) : lease, session),
            8 => KvCommandCodec.EncodeLeaseExpire(leases.Length > 0 ? leases : [(ulong)random.Next(1, 10)]),
            9 => KvCommandCodec.EncodeLeaseExtend(random.Next(1, 100_000)),
            _ => KvCommandCodec.EncodeTxn(RandomTxn(random, lease), session),
        };
        KvCommandCodec.TryStampTime(command, random.Next(4) == 0 ? long.MaxValue - random.Next(0, 3) : random.Next(0, 100_000));
        return command;
    }

    private static KvTxn RandomTxn(Random random, ulong lease)
    {
        var compares = new List<KvCompare>();
        for (var count = random.Next(0, 3); count > 0; count--)
        {
            var key = Keys[random.Next(Keys.Length)];
            compares.Add(random.Next(4) switch
            {
                0 => new KvCompare(key, KvCompareTarget.Version, (KvCompareOp)random.Next(1, 5), (ulong)random.Next(0, 10)),
                1 => new KvCompare(key, KvCompareTarget.CreateIndex, (KvCompareOp)random.Next(1, 5), (ulong)random.Next(0, 10)),
                2 => new KvCompare(key, KvCompareTarget.Value, (KvCompareOp)random.Next(1, 5), Value: Encoding.UTF8.GetBytes("v" + random.Next(3))),
                _ => new KvCompare(key, KvCompareTarget.Exists, (KvCompareOp)random.Next(1, 3), (ulong)random.Next(0, 2)),
            });
        }

        return new KvTxn(compares, RandomOps(random, lease), RandomOps(random, lease));
    }

    private static List<KvTxnOp> RandomOps(Random random, ulong lease)
    {
        var ops = new List<KvTxnOp>();
        for (var count = random.Next(0, 4); count > 0; count--)
        {
            var key = Keys[random.Next(Keys.Length)];
            ops.Add((KvTxnOpKind)random.Next(1, 5) switch
            {
                KvTxnOpKind.Put => new KvTxnOp(KvTxnOpKind.Put, key, Encoding.UTF8.GetBytes("v" + random.Next(3)), random.Next(3) == 0 ? lease : 0),
                var kind => new KvTxnOp(kind, key),
            });
        }

        return ops;
    }

    private static byte[] Stamped(byte[] command, long timeMs)
    {
        KvCommandCodec.TryStampTime(command, timeMs);
        return command;
    }
}
