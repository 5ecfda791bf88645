using System.Globalization;
using Raft.Core;
using Raft.Storage;
using Raft.Storage.CrashChild;

// Usage: Raft.Storage.CrashChild <log directory> <segment bytes> <seed> <entries max>
//
// Opens (recovering) the log, then appends batches of deterministic entries (CrashPayload), fsyncs after some of
// them and prints "durable N" after each fsync. The parent kills this process at random moments
// and checks that every index printed here survives. Prints "ready L" after recovery (L = last index) and
// "done" when it has appended <entries max> entries, so that it always ends on its own.
if (args.Length != 4)
{
    await Console.Error.WriteLineAsync("usage: <log directory> <segment bytes> <seed> <entries max>");
    return 2;
}

var directory = args[0];
var segmentBytes = long.Parse(args[1], CultureInfo.InvariantCulture);
var random = new Random(int.Parse(args[2], CultureInfo.InvariantCulture));
var entriesMax = ulong.Parse(args[3], CultureInfo.InvariantCulture);
var output = Console.Out;

using var log = FileLogStore.Open(directory, new FileLogOptions { SegmentBytes = segmentBytes, EntryBytesMax = CrashPayload.BytesMax });
output.WriteLine($"ready {log.LastIndex}");
output.Flush();

var batch = new Entry[32];
var appended = 0UL;
var term = log.TryGetTerm(log.LastIndex, out var lastTerm) ? lastTerm : 1;
while (appended < entriesMax)
{
    var count = random.Next(1, batch.Length + 1);
    var first = log.LastIndex + 1;
    for (var i = 0; i < count; i++)
    {
        var index = first + (ulong)i;
        batch[i] = new Entry(term, index, EntryType.Command, CrashPayload.For(index));
    }

    log.Append(batch.AsSpan(0, count));
    appended += (ulong)count;

    // Several batches per fsync now and then, as a node's group commit does, so a kill often finds appended
    // entries that were never synced.
    if (random.Next(3) == 0)
    {
        output.WriteLine($"durable {log.Sync()}");
        output.Flush();
    }
}

output.WriteLine($"durable {log.Sync()}");
output.WriteLine("done");
output.Flush();

return 0;
