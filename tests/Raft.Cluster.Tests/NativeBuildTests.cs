using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Raft.Server.Launcher;
using Xunit.Abstractions;

namespace Raft.Cluster.Tests;

/// <summary>A fact that skips, saying why, where no C toolchain for a native build is present or can be installed.</summary>
internal sealed class NativeToolchainFactAttribute : FactAttribute
{
    public NativeToolchainFactAttribute()
    {
        if (NativeBuildTests.WhyNoToolchain() is { } why)
        {
            Skip = $"the native build needs clang: {why}";
        }
    }
}

/// <summary>
/// The server published ahead of time (<c>dotnet publish src/Raft.Server -r linux-x64 -p:PublishAot=true</c>), the
/// build the README's Performance section measures: its launcher forms a cluster, and its nodes serve what reflection
/// would serve in the JIT build (the generated request delegates and JSON contexts, configuration binding, the
/// dashboard's embedded files, metrics) and fail over.
/// </summary>
public sealed class NativeBuildTests(ITestOutputHelper output)
{
    private static readonly TimeSpan PublishLimit = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan ToolchainLimit = TimeSpan.FromMinutes(10);

    internal static string? WhyNoToolchain()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.OSArchitecture != Architecture.X64)
        {
            return "this test publishes for linux-x64 and runs elsewhere";
        }

        var script = Path.Combine(AppContext.BaseDirectory, "ensure-native-toolchain.sh");
        if (!File.Exists(script))
        {
            return "ensure-native-toolchain.sh is missing next to the tests";
        }

        try
        {
            var (code, text) = LauncherTests.RunAsync("bash", [script], Path.GetTempPath(), ToolchainLimit).GetAwaiter().GetResult();
            return code == 0 ? null : text.Trim();
        }
        catch (TimeoutException)
        {
            return $"ensure-native-toolchain.sh did not finish within {ToolchainLimit.TotalMinutes} minutes";
        }
    }

    [NativeToolchainFact]
    public async Task The_native_build_forms_a_cluster_serves_every_kind_of_request_and_fails_over()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"raft-native-{Guid.NewGuid():N}");
        try
        {
            var server = await PublishAsync(directory);
            await using var launcher = LauncherProcess.Start(server: server);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var leader = await launcher.WaitForListingAsync();
            var follower = leader % 3 + 1;
            Uri On(int node, string path) => new(launcher.Endpoint(node), path);

            // A write, and a linearizable read of it through a follower.
            using (var put = await http.PutAsync(On(leader, "/v1/kv/native/greeting"), new StringContent("compiled ahead of time")))
            {
                Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            }

            Assert.Equal("compiled ahead of time", await http.GetStringAsync(On(follower, "/v1/kv/native/greeting")));

            // A refused compare-and-set answers its JSON error and writes nothing.
            using (var request = new HttpRequestMessage(HttpMethod.Put, On(leader, "/v1/kv/native/greeting")) { Content = new StringContent("overwritten") })
            {
                request.Headers.TryAddWithoutValidation("If-Match", "0");
                using var refused = await http.SendAsync(request);
                Assert.Equal(HttpStatusCode.PreconditionFailed, refused.StatusCode);
                using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
                Assert.Equal("precondition_failed", error.RootElement.GetProperty("error").GetString());
            }

            // A transaction: its request and its answer go through the JSON contexts.
            const string Txn = """{"compare":[{"key":"native/greeting","exists":true}],"success":[{"op":"get","key":"native/greeting"}]}""";
            using (var txn = await http.PostAsync(On(leader, "/v1/txn"), new StringContent(Txn, Encoding.UTF8, new MediaTypeHeaderValue("application/json"))))
            {
                Assert.Equal(HttpStatusCode.OK, txn.StatusCode);
                using var answer = JsonDocument.Parse(await txn.Content.ReadAsStringAsync());
                Assert.True(answer.RootElement.GetProperty("succeeded").GetBoolean());
                Assert.Equal(Convert.ToBase64String("compiled ahead of time"u8), answer.RootElement.GetProperty("results")[0].GetProperty("value").GetString());
            }

            // A malformed body and an unknown path: JSON errors too.
            using (var bad = await http.PostAsync(On(leader, "/v1/txn"), new StringContent("{", Encoding.UTF8, new MediaTypeHeaderValue("application/json"))))
            {
                Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
                using var error = JsonDocument.Parse(await bad.Content.ReadAsStringAsync());
                Assert.False(string.IsNullOrEmpty(error.RootElement.GetProperty("error").GetString()));
            }

            using (var missing = await http.GetAsync(On(leader, "/v1/nowhere")))
            {
                Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
                using var error = JsonDocument.Parse(await missing.Content.ReadAsStringAsync());
                Assert.Equal("no_route", error.RootElement.GetProperty("error").GetString());
            }

            // The members, the metrics and the dashboard's embedded page.
            using (var members = JsonDocument.Parse(await http.GetStringAsync(On(follower, "/v1/cluster/members"))))
            {
                Assert.Equal(3, members.RootElement.GetProperty("members").GetArrayLength());
            }

            Assert.Contains("raft_term", await http.GetStringAsync(On(leader, "/metrics")), StringComparison.Ordinal);
            Assert.Contains("<html", await http.GetStringAsync(On(leader, "/ui")), StringComparison.OrdinalIgnoreCase);

            // kill -9 of the leader: another node takes over and the write goes on. Until the survivors know, a write
            // may be answered 503 (no leader yet) or 502 (the dead leader could not be reached); both say retry.
            LauncherProcess.KillNine(launcher.ListedPid(leader));
            var answers = new List<string>();
            using var deadline = new CancellationTokenSource(ProcessCluster.Patience);
            while (true)
            {
                using var after = await http.PutAsync(On(follower, "/v1/kv/native/after-crash"), new StringContent("still here"), deadline.Token);
                answers.Add($"{(int)after.StatusCode} {await after.Content.ReadAsStringAsync(deadline.Token)}");
                if (after.StatusCode is not (HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway))
                {
                    Assert.True(after.StatusCode == HttpStatusCode.OK, string.Join('\n', answers));
                    break;
                }

                await Task.Delay(20, deadline.Token);
            }

            output.WriteLine($"answers to the write after the crash:\n{string.Join('\n', answers)}");
            Assert.Equal("still here", await http.GetStringAsync(On(follower, "/v1/kv/native/after-crash")));

            Assert.Equal("compiled ahead of time", await http.GetStringAsync(On(follower, "/v1/kv/native/greeting")));
            Assert.Equal(0, await launcher.StopAsync());
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // Under the temp folder either way.
            }
        }
    }

    /// <summary>
    /// Publishes the server natively into <paramref name="directory"/>, its build kept apart from the repository's bin
    /// and obj, and with no build server left running after it.
    /// </summary>
    private async Task<string> PublishAsync(string directory)
    {
        var project = Path.Combine(ProcessCluster.RepositoryRoot, "src", "Raft.Server", "Raft.Server.csproj");
        var outputDirectory = Path.Combine(directory, "out");
        Directory.CreateDirectory(directory);
        var (code, text) = await LauncherTests.RunAsync(
            NodeProcess.DotnetHost,
            ["publish", project, "-c", "Release", "-r", "linux-x64", "-p:PublishAot=true", "--disable-build-servers",
                "--artifacts-path", Path.Combine(directory, "artifacts"), "-o", outputDirectory, "--nologo"],
            directory,
            PublishLimit);
        output.WriteLine(text);
        Assert.True(code == 0, $"dotnet publish -p:PublishAot=true failed with exit code {code}:\n{text}");
        var server = Path.Combine(outputDirectory, "Raft.Server");
        Assert.True(File.Exists(server), $"the publish made no {server}");
        return server;
    }
}
