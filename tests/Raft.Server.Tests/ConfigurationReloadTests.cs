using Microsoft.Extensions.Configuration;

namespace Raft.Server.Tests;

public sealed class ConfigurationReloadTests
{
    // A reloadable appsettings.json puts a recursive watcher on the working directory; with the data directory under
    // it (./data, the default) every log write would wake it. The node reads its configuration once.
    [Fact]
    public async Task No_configuration_file_is_watched_for_changes()
    {
        var data = Path.Combine(Path.GetTempPath(), "raft-server-tests", Guid.NewGuid().ToString("N"));
        try
        {
            await using var app = NodeHost.Build(
                ["--Node:Id=1", $"--Node:DataDirectory={data}", "--Node:Peers:1=127.0.0.1:7001", "--Node:HttpEndpoints:1=http://127.0.0.1:0", "--Node:ClusterState=new"],
                new InMemoryNetwork().Factory);
            var files = ((IConfigurationRoot)app.Configuration).Providers.OfType<FileConfigurationProvider>().ToList();
            Assert.Contains(files, file => file.Source.Path == "appsettings.json");
            Assert.All(files, file => Assert.False(file.Source.ReloadOnChange, $"{file.Source.Path} is watched for changes"));
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }
}
