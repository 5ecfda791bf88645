using BenchmarkDotNet.Running;
using Raft.Benchmarks.KeyValue;

// dotnet run -c Release --project bench/Raft.Benchmarks -- --filter '*LogAppend*' [--job short]
// dotnet run -c Release --project bench/Raft.Benchmarks -- --filter '*CodecBenchmarks*' --job short
// dotnet run -c Release --project bench/Raft.Benchmarks -- --filter '*LockAcquire*' --job short
// dotnet run -c Release --project bench/Raft.Benchmarks -- --filter '*HeartbeatCodec*' '*AppendCodec*' '*KvCommandCodec*' --job short   (beside MessagePack)
// dotnet run -c Release --project bench/Raft.Benchmarks -- --filter '*Kv*' --job short   (puts, gets, images)
// dotnet run -c Release --project bench/Raft.Benchmarks -- --memory      (the key-value store's bytes per key)
if (args is ["--memory"])
{
    KvMemoryFootprint.Run(Console.Out);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Raft.Benchmarks.Storage.LogAppendBenchmarks).Assembly).Run(args);
