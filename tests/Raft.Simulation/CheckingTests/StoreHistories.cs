using System.Buffers.Binary;
using Raft.Core;
using Raft.KeyValue;
using Raft.Simulation.Checking;

namespace Raft.Simulation.CheckingTests;

/// <summary>How a generated history is shaped.</summary>
/// <param name="Widen">How far, in time units, an invocation may precede and an answer follow the moment the store applied the operation.</param>
/// <param name="LostRate">The chance an operation's answer is lost (it becomes <see cref="RegisterOutcome.Unknown"/>).</param>
internal sealed record HistoryShape(int Keys, int Clients, int Operations, int Widen, double LostRate);

/// <summary>
/// Histories that are linearizable by construction: the real <see cref="KvStore"/> applies operations one at a
/// time, in log order (with skipped entries between, so versions have gaps), and each operation's interval is then
/// widened around the moment it was applied, so that operations overlap. Some answers are lost (the operation was
/// applied, perhaps after its client gave up), some writes fail (never applied), some lost writes are never applied.
/// Clients expect only versions some answer had shown before they invoked.
/// </summary>
internal static class StoreHistories
{
    public static List<RegisterOp> Generate(ulong seed, HistoryShape shape)
    {
        var random = new SeededRandom(seed);
        var store = new KvStore();
        ulong index = 0;
        ulong nextValue = 0;
        long now = 0;
        var freeAt = new long[shape.Clients];
        Array.Fill(freeAt, -1);
        var seen = new Dictionary<string, List<(ulong Version, long At)>>(StringComparer.Ordinal);
        var timed = new List<(RegisterOp Op, long Invoke, long Answer)>();
        for (var i = 0; i < shape.Operations; i++)
        {
            now += 1 + random.Next(4);
            var free = Enumerable.Range(0, shape.Clients).Where(c => freeAt[c] < now).ToArray();
            if (free.Length == 0)
            {
                now = freeAt.Min() + 1;
                free = [.. Enumerable.Range(0, shape.Clients).Where(c => freeAt[c] < now)];
            }

            var client = free[random.Next(free.Length)];
            var invoke = Math.Max(freeAt[client] + 1, now - random.Next(shape.Widen + 1));
            var key = "k" + random.Next(shape.Keys);
            var kind = PickKind(random);
            var expected = kind is RegisterOpKind.PutIfVersion or RegisterOpKind.DeleteIfVersion ? PickExpected(random, store, seen, key, invoke) : 0;
            var value = kind is RegisterOpKind.Put or RegisterOpKind.PutIfVersion ? ++nextValue : 0;
            var op = new RegisterOp { Client = client, Key = key, Kind = kind, Value = value, ExpectedVersion = expected, InvokedAt = 0 };
            var lost = random.Chance(shape.LostRate);

            if (op.IsWrite && random.Chance(0.04))
            {
                // Never applied: a failure the client heard about, or a loss.
                var end = invoke + 1 + random.Next(shape.Widen + 1);
                freeAt[client] = end;
                timed.Add((op with { Outcome = lost ? RegisterOutcome.Unknown : RegisterOutcome.Failed }, invoke, lost ? -1 : end));
                continue;
            }

            if (random.Chance(0.2))
            {
                store.Skip(++index);
            }

            var answered = Apply(store, ++index, op);
            var answerAt = now + 1 + random.Next(shape.Widen + 1);
            if (lost)
            {
                // The client gives up, maybe before the store applied it: the operation takes effect late.
                freeAt[client] = invoke + 1 + random.Next(shape.Widen + 1);
                timed.Add((op, invoke, -1));
                continue;
            }

            freeAt[client] = answerAt;
            timed.Add((answered, invoke, answerAt));
            if (answered.Outcome == RegisterOutcome.Ok && (answered.IsWrite || answered.Kind == RegisterOpKind.Get))
            {
                Seen(seen, key).Add((answered.Version, answerAt));
            }
        }

        return Positions(timed);
    }

    // The store's answer to one operation, applied at `index`.
    private static RegisterOp Apply(KvStore store, ulong index, RegisterOp op)
    {
        if (op.Kind == RegisterOpKind.Get)
        {
            store.Skip(index);
            return store.TryGet(op.Key, out var current)
                ? op with { Outcome = RegisterOutcome.Ok, Value = BinaryPrimitives.ReadUInt64LittleEndian(current.Value), Version = current.Version }
                : op with { Outcome = RegisterOutcome.NotFound };
        }

        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, op.Value);
        var command = op.Kind switch
        {
            RegisterOpKind.Put => KvCommandCodec.EncodePut(op.Key, bytes, null, default),
            RegisterOpKind.PutIfVersion => KvCommandCodec.EncodePut(op.Key, bytes, op.ExpectedVersion, default),
            RegisterOpKind.Delete => KvCommandCodec.EncodeDelete(op.Key, null, default),
            _ => KvCommandCodec.EncodeDelete(op.Key, op.ExpectedVersion, default),
        };
        var result = store.Apply(index, command);
        var outcome = result.Status switch
        {
            KvApplyStatus.Ok => RegisterOutcome.Ok,
            KvApplyStatus.NotFound => RegisterOutcome.NotFound,
            KvApplyStatus.PreconditionFailed => RegisterOutcome.PreconditionFailed,
            _ => throw new InvalidOperationException($"unexpected {result.Status} for {op.Describe()}"),
        };
        return op with { Outcome = outcome, Version = outcome == RegisterOutcome.NotFound ? 0 : result.Version };
    }

    private static RegisterOpKind PickKind(SeededRandom random) => random.Next(20) switch
    {
        < 8 => RegisterOpKind.Get,
        < 13 => RegisterOpKind.Put,
        < 16 => RegisterOpKind.PutIfVersion,
        < 18 => RegisterOpKind.Delete,
        _ => RegisterOpKind.DeleteIfVersion,
    };

    // The current version when an answer had shown it before `invoke`, else an older shown one, else 0.
    private static ulong PickExpected(SeededRandom random, KvStore store, Dictionary<string, List<(ulong Version, long At)>> seen, string key, long invoke)
    {
        var known = Seen(seen, key).Where(s => s.At < invoke).Select(s => s.Version).ToArray();
        var current = store.TryGet(key, out var value) ? value.Version : 0;
        if (random.Chance(0.6) && (current == 0 || known.Contains(current)))
        {
            return current;
        }

        return known.Length == 0 || random.Chance(0.2) ? 0 : known[random.Next(known.Length)];
    }

    private static List<(ulong Version, long At)> Seen(Dictionary<string, List<(ulong Version, long At)>> seen, string key)
    {
        if (!seen.TryGetValue(key, out var list))
        {
            list = [];
            seen.Add(key, list);
        }

        return list;
    }

    // Times may tie; the global order breaks ties with invocations first, which only makes operations concurrent.
    private static List<RegisterOp> Positions(List<(RegisterOp Op, long Invoke, long Answer)> timed)
    {
        var events = new List<(long Time, int Answer, int Op)>();
        for (var i = 0; i < timed.Count; i++)
        {
            events.Add((timed[i].Invoke, 0, i));
            if (timed[i].Answer >= 0)
            {
                events.Add((timed[i].Answer, 1, i));
            }
        }

        events.Sort();
        var invokedAt = new long[timed.Count];
        var answeredAt = new long[timed.Count];
        for (var position = 0; position < events.Count; position++)
        {
            var (_, answer, op) = events[position];
            (answer == 0 ? invokedAt : answeredAt)[op] = position;
        }

        return [.. timed.Select((t, i) => t.Op with { InvokedAt = invokedAt[i], CompletedAt = t.Answer >= 0 ? answeredAt[i] : 0 })];
    }
}
