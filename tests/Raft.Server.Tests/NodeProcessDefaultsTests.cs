using System.Text.Json;

namespace Raft.Server.Tests;

public sealed class NodeProcessDefaultsTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Socket_completions_run_inline_when_the_environment_does_not_say(string? given)
    {
        var environment = new Dictionary<string, string?> { [NodeProcessDefaults.InlineCompletionsVariable] = given };

        NodeProcessDefaults.Apply(name => environment.GetValueOrDefault(name), (name, value) => environment[name] = value);

        Assert.Equal("1", environment[NodeProcessDefaults.InlineCompletionsVariable]);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1")]
    public void An_explicit_setting_is_kept(string given)
    {
        var environment = new Dictionary<string, string?> { [NodeProcessDefaults.InlineCompletionsVariable] = given };
        var writes = 0;

        NodeProcessDefaults.Apply(name => environment.GetValueOrDefault(name), (_, _) => writes++);

        Assert.Equal(0, writes);
        Assert.Equal(given, environment[NodeProcessDefaults.InlineCompletionsVariable]);
    }

    // .NET reads the pool's spin limit from the runtime configuration when the pool starts; the server's build must carry it.
    [Fact]
    public void The_servers_runtime_configuration_stops_idle_pool_workers_spinning()
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        var path = Path.Combine(Repository.Root(), "src", "Raft.Server", "bin", configuration, "net10.0", "Raft.Server.runtimeconfig.json");

        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var properties = document.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.True(properties.TryGetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", out var limit), $"{path} sets no spin limit");
        Assert.Equal(0, limit.GetInt32());
    }
}
