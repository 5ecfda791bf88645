using System.Globalization;
using Raft.Client;

// Usage: Raft.Cluster.LeaseHolder <endpoints, comma-separated> <ttl ms> <key> <lock> <owner>
//
// Grants a lease, puts <key> bound to it, takes <lock> bound to it, prints "held <lease> <fencing token>", then keeps
// the lease alive and prints "kept <count>" after each keep-alive, until it is killed. Prints "lost" and exits 1 if
// the lease may have ended while it ran.
if (args.Length != 5)
{
    await Console.Error.WriteLineAsync("usage: <endpoints, comma-separated> <ttl ms> <key> <lock> <owner>");
    return 2;
}

var endpoints = args[0].Split(',').Select(endpoint => new Uri(endpoint)).ToList();
var ttl = TimeSpan.FromMilliseconds(long.Parse(args[1], CultureInfo.InvariantCulture));
using var client = new RaftKvClient(endpoints, new RaftKvClientOptions { ClientId = args[4] });
var lease = await client.GrantLeaseAsync(ttl);
await client.PutAsync(args[2], args[4], lease.Id);
var held = await client.AcquireLockAsync(args[3], args[4], lease.Id);
Console.WriteLine($"held {lease.Id} {held.FencingToken}");

await using var keeper = client.KeepLeaseAlive(lease);
var reported = 0L;
while (!keeper.Lost.IsCancellationRequested)
{
    try
    {
        await Task.Delay(TimeSpan.FromMilliseconds(20), keeper.Lost);
    }
    catch (OperationCanceledException)
    {
        break;
    }

    if (keeper.KeepAlives != reported)
    {
        reported = keeper.KeepAlives;
        Console.WriteLine($"kept {reported}");
    }
}

Console.WriteLine("lost");
return 1;
