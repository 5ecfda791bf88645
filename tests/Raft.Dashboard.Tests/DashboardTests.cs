using System.Globalization;
using System.Net.Http.Headers;
using Microsoft.Playwright;
using Raft.Cluster.Tests;
using Xunit.Abstractions;

namespace Raft.Dashboard.Tests;

/// <summary>
/// The dashboard in a real headless Chromium against three real node processes with API tokens on: it shows the
/// leader, follows a kill -9 of the leader to the new one and its cause, transfers leadership and takes a snapshot
/// from its buttons, and goes on working when the node it was loaded from is down.
/// </summary>
public sealed class DashboardTests(ITestOutputHelper output)
{
    private const string Token = "dashboard-admin-token-0123456789";
    private static readonly float PageWaitMs = (float)ProcessCluster.Patience.TotalMilliseconds;

    [ChromiumFact]
    public async Task The_page_follows_a_failover_and_its_buttons_move_the_leader()
    {
        await using var cluster = new ProcessCluster(3,
            "--Node:Auth:Tokens:0:Name=ops",
            $"--Node:Auth:Tokens:0:Token={Token}",
            "--Node:Auth:Tokens:0:Roles:0=admin",
            // A browser starting on a small shared machine must not look like a dead leader.
            "--Node:ElectionTimeoutMs=1000");
        cluster.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync();
        var home = Enumerable.Range(1, 3).First(id => id != leader);
        using var writesStop = new CancellationTokenSource();
        var writes = WriteAsync(cluster, writesStop.Token);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium.Path, Headless = true, Args = Chromium.Arguments });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 } });
        page.SetDefaultTimeout(PageWaitMs);
        try
        {
            await WatchAsync(cluster, page, leader, home);
        }
        catch (Exception)
        {
            var failure = Path.Combine(AppContext.BaseDirectory, "artifacts", "dashboard-failure.png");
            Directory.CreateDirectory(Path.GetDirectoryName(failure)!);
            await page.ScreenshotAsync(new() { Path = failure, FullPage = true });
            output.WriteLine($"the page when the test failed: {failure}\n{cluster.Logs()}");
            throw;
        }
        finally
        {
            // Also on failure: the writer would otherwise go on against a cluster that is gone.
            await writesStop.CancelAsync();
        }

        Assert.True(await writes > 0, "no write was acknowledged while the page watched");
    }

    private async Task WatchAsync(ProcessCluster cluster, IPage page, int leader, int home)
    {
        await OpenAsync(page, cluster.Endpoint(home));

        // The page names the leader the cluster agrees on, and every member answering.
        leader = await AgreedLeaderAsync(cluster, page, notThis: null);
        if (leader == home)
        {
            home = Enumerable.Range(1, 3).First(id => id != leader);
            await OpenAsync(page, cluster.Endpoint(home));
            leader = await AgreedLeaderAsync(cluster, page, notThis: null);
        }

        await page.WaitForSelectorAsync($"#members tr[data-member='{leader}'][data-role='leader']");

        await cluster.KillAsync(leader);
        var newLeader = await AgreedLeaderAsync(cluster, page, notThis: leader);
        await page.WaitForSelectorAsync($"#members tr[data-member='{leader}'][data-role='down']");
        var change = await page.WaitForSelectorAsync($"#leader-changes tr[data-leader='{newLeader}'][data-previous='{leader}']");
        var cause = await change!.GetAttributeAsync("data-cause");
        Assert.True(cause is "leader-unreachable" or "election-timeout", $"a crash is followed by an election, not '{cause}'");
        await page.WaitForSelectorAsync($"#elections tr[data-candidate='{newLeader}'][data-outcome='won']");

        // Let the chart gather a few seconds of writes before the picture.
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#members tbody tr').length === 3");
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#chart').dataset.writePoints) >= 3");
        var screenshot = Path.Combine(AppContext.BaseDirectory, "artifacts", "dashboard-failover.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        output.WriteLine($"screenshot: {screenshot}");
        if (Environment.GetEnvironmentVariable("DASHBOARD_SCREENSHOT") is { Length: > 0 } copy)
        {
            File.Copy(screenshot, copy, overwrite: true);
        }

        Assert.True(new FileInfo(screenshot).Length > 10_000, "the screenshot is (nearly) empty");

        // Bring the killed node back and hand leadership to it from the page.
        cluster.Start(leader);
        await page.WaitForSelectorAsync($"#members tr[data-member='{leader}'][data-role='follower']");
        await page.SelectOptionAsync("#transfer-to", leader.ToString(CultureInfo.InvariantCulture));
        await page.ClickAsync("#transfer");
        await page.WaitForSelectorAsync($"#action-result:has-text('to node {leader}')");
        await page.WaitForSelectorAsync($"#leader[data-leader-id='{leader}']");
        await page.WaitForSelectorAsync($"#leader-changes tr[data-leader='{leader}'][data-cause='transfer']");
        Assert.Equal(leader, await cluster.WaitForLeaderAsync());

        // A snapshot on the node the page came from.
        await page.SelectOptionAsync("#snapshot-on", home.ToString(CultureInfo.InvariantCulture));
        await page.ClickAsync("#snapshot");
        var result = await page.WaitForSelectorAsync($"#action-result:has-text('node {home}: snapshot')");
        Assert.Matches($"^node {home}: snapshot (started|running|up-to-date) at index [1-9][0-9]*$", await result!.TextContentAsync());

        // The node that served the page goes down; the page keeps polling the others.
        await cluster.KillAsync(home);
        await page.WaitForSelectorAsync($"#members tr[data-member='{home}'][data-role='down']");
        await page.WaitForSelectorAsync("#source:has-text('this page\\'s node is down')");
        var stillLeader = await cluster.WaitForLeaderAsync();
        await page.WaitForSelectorAsync($"#leader[data-leader-id='{stillLeader}']");
    }

    // The token lives in the tab's sessionStorage, which is per origin: each node the page is opened from needs it typed in.
    private static async Task OpenAsync(IPage page, Uri node)
    {
        await page.GotoAsync(node + "ui");
        await page.FillAsync("#token", Token);
        await page.ClickAsync("#token-form button");
    }

    // The leader the cluster agrees on (other than notThis) once the page shows it too; a leader may change meanwhile
    // on a loaded machine, so the two are compared until they agree.
    private static async Task<int> AgreedLeaderAsync(ProcessCluster cluster, IPage page, int? notThis)
    {
        var deadline = DateTime.UtcNow + ProcessCluster.Patience;
        while (true)
        {
            var leader = await cluster.WaitForLeaderAsync(notThis: notThis);
            try
            {
                await page.WaitForSelectorAsync($"#leader[data-leader-id='{leader}']", new() { Timeout = 5000 });
                return leader;
            }
            catch (TimeoutException) when (DateTime.UtcNow < deadline)
            {
                // The leader changed again before the page caught up: ask the cluster afresh.
            }
        }
    }

    // Writes through the nodes in turn (a follower forwards to the leader) until stopped, so the chart has something to draw.
    private static async Task<int> WriteAsync(ProcessCluster cluster, CancellationToken stop)
    {
        var acknowledged = 0;
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            try
            {
                using var response = await cluster.Http.PutAsync(cluster.Url((i % cluster.Size) + 1, $"/v1/kv/dashboard-{i % 100}"), new StringContent($"value {i}"), stop);
                acknowledged += response.IsSuccessStatusCode ? 1 : 0;
                await Task.Delay(10, stop);
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                // The node is down or the run is over: the loop decides.
            }
        }

        return acknowledged;
    }
}
