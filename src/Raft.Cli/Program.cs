using System.Text;
using Raft.Cli;

// Standard output is one stream: text goes through a writer over it, a value read by `get` goes out as its raw bytes.
var stdout = Console.OpenStandardOutput();
var output = new StreamWriter(stdout, new UTF8Encoding(false)) { AutoFlush = true };
var error = new StreamWriter(Console.OpenStandardError(), new UTF8Encoding(false)) { AutoFlush = true };
var console = new CliConsole(output, error, stdout, Console.OpenStandardInput, Environment.GetEnvironmentVariable);
return await RaftCtl.RunAsync(args, console).ConfigureAwait(false);
