namespace Raft.Server.Tests;

/// <summary>Files of the repository the tests read (the dashboard, the README, the server's sources).</summary>
internal static class Repository
{
    /// <summary>The directory holding Raft.sln, found above the test's output directory.</summary>
    public static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Raft.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Raft.sln not found above the test directory");
    }
}
