using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Raft.Benchmarks -- --filter '*LogAppend*' [--job short]
// dotnet run -c Release --project bench/Raft.Benchmarks -- --filter '*CodecBenchmarks*' --job short
// dotnet run -c Release --project bench/Raft.Benchmarks -- --filter '*LockAcquire*' --job short
BenchmarkSwitcher.FromAssembly(typeof(Raft.Benchmarks.Storage.LogAppendBenchmarks).Assembly).Run(args);
