using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Raft.Examples.Tests;

/// <summary>
/// The C# blocks of the README's "Using the node driver" and "Using the .NET client" compile as printed, against the
/// built Raft assemblies and the framework's reference assemblies. Each block is compiled on its own as a program
/// of a project made by <c>dotnet new console</c> (with its implicit global usings); the names its prose leaves to
/// the reader (the host's outbox, the guarded work) come from a context file per section, which declares them and
/// nothing else.
/// </summary>
public sealed class ReadmeCodeTests
{
    public static TheoryData<string, int> Blocks()
    {
        var data = new TheoryData<string, int>();
        foreach (var section in Contexts.Keys)
        {
            for (var i = 0; i < CodeBlocks(section).Count; i++)
            {
                data.Add(section, i);
            }
        }

        return data;
    }

    [Fact]
    public void Each_section_has_its_code_blocks()
    {
        Assert.Single(CodeBlocks("Using the node driver"));
        Assert.Equal(2, CodeBlocks("Using the .NET client").Count);
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void The_block_compiles(string section, int index)
    {
        var block = CodeBlocks(section)[index];
        var compilation = CSharpCompilation.Create(
            "ReadmeBlock",
            [
                CSharpSyntaxTree.ParseText(block, Parse, path: "README.md"),
                CSharpSyntaxTree.ParseText(ImplicitUsings, Parse, path: "implicit-usings.cs"),
                CSharpSyntaxTree.ParseText(Contexts[section], Parse, path: "context.cs"),
            ],
            References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));

        using var image = new MemoryStream();
        var result = compilation.Emit(image);

        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
        Assert.True(result.Success, $"the README's block {index + 1} under '## {section}' does not compile:\n\n{block}\n{string.Join('\n', errors)}");
    }

    private static readonly CSharpParseOptions Parse = new(LanguageVersion.Latest);

    /// <summary>The global usings the SDK writes for a console project with <c>ImplicitUsings</c> on.</summary>
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    /// <summary>What each section's prose leaves to the reader, declared for its blocks.</summary>
    private static readonly Dictionary<string, string> Contexts = new()
    {
        ["Using the node driver"] = """
            global using static NodeHost;
            using Raft.Core;
            using Raft.KeyValue;
            using Raft.Node;
            using Raft.Storage;

            static class NodeHost
            {
                public static ulong seed;
                public static IOutbox outbox = null!;
                public static IBackgroundWorker worker = null!;
                public static Message message;
                public static ulong elapsedTicks;
                public static long wallClockMs;
                public static WriteRequest<KvApplyResult> write = null!;
                public static BackgroundJob job = null!;
                public static ILogStore log = null!;
            }
            """,
        ["Using the .NET client"] = """
            global using static ClientHost;
            using Microsoft.Extensions.Configuration;

            static class ClientHost
            {
                public static IConfiguration configuration = null!;

                public static Task RunGuardedAsync(ulong fencingToken) => Task.CompletedTask;
            }

            sealed class LoggingHandler : DelegatingHandler;
            """,
    };

    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        // The framework's reference assemblies (the targeting pack beside the running runtime), and the Raft and
        // Microsoft.Extensions assemblies this test was built with.
        var runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var dotnetRoot = Path.GetFullPath(Path.Combine(runtime, "..", "..", ".."));
        var packs = new DirectoryInfo(Path.Combine(dotnetRoot, "packs", "Microsoft.NETCore.App.Ref"));
        var referencePack = packs.Exists
            ? packs.GetDirectories().Select(d => Path.Combine(d.FullName, "ref", "net10.0")).Where(Directory.Exists).OrderDescending(StringComparer.Ordinal).FirstOrDefault()
            : null;
        var framework = referencePack is null ? Directory.GetFiles(runtime, "*.dll") : Directory.GetFiles(referencePack, "*.dll");
        var built = Directory.GetFiles(AppContext.BaseDirectory, "*.dll")
            .Where(f => Path.GetFileName(f) is var name && (name.StartsWith("Raft.", StringComparison.Ordinal) || name.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal)))
            .Where(f => !Path.GetFileName(f).StartsWith("Raft.Examples.Tests", StringComparison.Ordinal));
        return [.. framework.Concat(built).Where(IsAssembly).Select(f => MetadataReference.CreateFromFile(f))];
    });

    private static bool IsAssembly(string path)
    {
        try
        {
            System.Reflection.AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    /// <summary>The <c>```csharp</c> blocks between <c>## section</c> and the next heading of that level.</summary>
    private static List<string> CodeBlocks(string section)
    {
        var lines = File.ReadAllLines(ReadmePath());
        var start = Array.IndexOf(lines, "## " + section);
        Assert.True(start >= 0, $"the README has no '## {section}'");
        var blocks = new List<string>();
        StringBuilder? block = null;
        for (var i = start + 1; i < lines.Length && !lines[i].StartsWith("## ", StringComparison.Ordinal); i++)
        {
            if (block is null && lines[i] == "```csharp")
            {
                block = new StringBuilder();
            }
            else if (block is not null && lines[i] == "```")
            {
                blocks.Add(block.ToString());
                block = null;
            }
            else
            {
                block?.AppendLine(lines[i]);
            }
        }

        return blocks;
    }

    private static string ReadmePath()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var readme = Path.Combine(directory.FullName, "README.md");
            if (File.Exists(readme) && File.Exists(Path.Combine(directory.FullName, "Raft.sln")))
            {
                return readme;
            }
        }

        throw new InvalidOperationException($"no README.md beside a Raft.sln above {AppContext.BaseDirectory}");
    }
}
