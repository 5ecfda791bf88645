namespace Raft.Server.Tests;

/// <summary>
/// The server stays a shell around the node driver: no source file in <c>src/Raft.Server</c> grows past
/// <see cref="LinesMax"/> lines, so what decides what clients see stays in the driver, where the simulator runs it.
/// </summary>
public sealed class SourceLayoutTests
{
    private const int LinesMax = 500;

    [Fact]
    public void No_server_source_file_is_over_the_limit()
    {
        var server = Path.Combine(Repository.Root(), "src", "Raft.Server");
        var files = Directory.EnumerateFiles(server, "*.cs", SearchOption.AllDirectories)
            .Where(path => !IsBuildOutput(Path.GetRelativePath(server, path)))
            .ToList();
        Assert.NotEmpty(files);

        var over = files
            .Select(path => (Path: Path.GetRelativePath(server, path), Lines: File.ReadLines(path).Count()))
            .Where(file => file.Lines > LinesMax)
            .Select(file => $"{file.Path}: {file.Lines} lines")
            .ToList();
        Assert.True(over.Count == 0, $"over {LinesMax} lines in src/Raft.Server: {string.Join(", ", over)}");
    }

    private static bool IsBuildOutput(string relative) =>
        relative.StartsWith("bin" + Path.DirectorySeparatorChar, StringComparison.Ordinal)
        || relative.StartsWith("obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
