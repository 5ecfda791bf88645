using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;

namespace Raft.Client.Tests;

/// <summary>
/// The client as a package: packed from the built project into a folder, it restores from that folder alone (no
/// other source, a package cache of its own) into a new console project that builds and runs.
/// </summary>
public sealed class PackageTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static readonly TimeSpan StepLimit = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task The_packed_client_restores_from_its_own_folder_and_runs_in_a_new_project()
    {
        var root = Path.Combine(Path.GetTempPath(), "raft-client-package", Guid.NewGuid().ToString("N"));
        var feed = Path.Combine(root, "feed");
        var app = Path.Combine(root, "app");
        Directory.CreateDirectory(app);
        try
        {
            await RunAsync(RepositoryRoot(), "pack", "src/Raft.Client", "-c", Configuration, "--no-build", "-o", feed);

            Assert.Equal(
                ["Raft.Client.1.0.0.nupkg", "Raft.Client.1.0.0.snupkg", "Raft.Protocol.1.0.0.nupkg", "Raft.Protocol.1.0.0.snupkg"],
                Directory.GetFiles(feed).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            using (var package = ZipFile.OpenRead(Path.Combine(feed, "Raft.Client.1.0.0.nupkg")))
            {
                Assert.Contains(package.Entries, e => e.FullName == "lib/net10.0/Raft.Client.dll");
                Assert.Contains(package.Entries, e => e.FullName == "lib/net10.0/Raft.Client.xml");
                Assert.Contains(package.Entries, e => e.FullName == "README.md");
                using var nuspec = package.GetEntry("Raft.Client.nuspec")!.Open();
                var metadata = XDocument.Load(nuspec).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
                string? Field(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
                Assert.False(string.IsNullOrWhiteSpace(Field("description")));
                Assert.Equal("README.md", Field("readme"));
                Assert.Contains(metadata.Descendants(), e => e.Name.LocalName == "dependency" && (string?)e.Attribute("id") == "Raft.Protocol");
            }

            await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="feed" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            await File.WriteAllTextAsync(Path.Combine(app, "App.csproj"), """
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Raft.Client" Version="1.0.0" />
                  </ItemGroup>
                </Project>
                """);
            await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
                using Raft.Client;
                using Raft.Protocol;

                IRaftKvClient kv = new RaftKvClient([new Uri("http://127.0.0.1:1")], new RaftKvClientOptions { ClientId = "packaged" });
                Console.WriteLine($"{kv.ClientId} {ApiHeaders.Leader}");
                kv.Dispose();
                """);

            var packages = Path.Combine(root, "packages");
            await RunAsync(app, "restore", "--no-http-cache", $"-p:RestorePackagesPath={packages}");
            await RunAsync(app, "build", "--no-restore", "-c", "Release", $"-p:RestorePackagesPath={packages}");
            var output = await RunAsync(app, "bin/Release/net10.0/App.dll");

            Assert.Equal("packaged X-Raft-Leader", output.Trim());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Raft.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no Raft.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs <c>dotnet</c> with <paramref name="arguments"/>; fails with its output unless it exits 0 within <see cref="StepLimit"/>.</summary>
    private static async Task<string> RunAsync(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(StepLimit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {StepLimit}");
        }

        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} exited {process.ExitCode} in {directory}:\n{output}");
        return await stdout;
    }
}
