using System.CommandLine;
using Raft.Client;
using Raft.Protocol;

namespace Raft.Cli;

/// <summary><c>member</c>, <c>leader</c>, <c>transfer-leader</c>, <c>status</c>, <c>check</c> and <c>snapshot</c> (<see cref="SnapshotCommands"/>).</summary>
internal static class ClusterCommands
{
    // How often, and how far apart, check samples the members before it calls their commit indexes different: a
    // follower learns a new commit index with the leader's next message, so one sample right after a write can differ.
    private const int CommitSamples = 5;
    private static readonly TimeSpan CommitSampleGap = TimeSpan.FromMilliseconds(200);

    public static void Add(RootCommand root, CliConsole console)
    {
        root.Subcommands.Add(Members(console));
        root.Subcommands.Add(Leader(console));
        root.Subcommands.Add(Transfer(console));
        root.Subcommands.Add(Status(console));
        root.Subcommands.Add(Check(console));
        root.Subcommands.Add(SnapshotCommands.Create(console));
    }

    private static Command Members(CliConsole console)
    {
        var member = new Command("member", "List, add, promote and remove members");

        var list = new Command("list", "The members, their addresses, and which one leads");
        RaftCtl.SetAction(list, console, async run => await WriteMembersAsync(run, await run.Client.GetMembersAsync(run.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false));
        member.Subcommands.Add(list);

        var id = new Argument<int>("id") { Description = "The node's id" };
        var peer = new Argument<string>("peer-address") { Description = "Where the other nodes reach it, host:port" };
        var http = new Argument<string>("http-endpoint") { Description = "Its HTTP base address, such as http://10.0.0.4:5001" };
        var voter = new Option<bool>("--voter") { Description = "Join as a voter at once instead of as a learner" };
        var add = new Command("add", "Add a node (a learner, unless --voter; promote it once it has caught up)") { id, peer, http, voter };
        RaftCtl.SetAction(add, console, async run =>
        {
            var endpoint = Uri.TryCreate(run.Value(http), UriKind.Absolute, out var uri) ? uri : throw new UsageException($"'{run.Value(http)}' is not an absolute URL");
            return await WriteMembersAsync(run, await run.Client.AddMemberAsync(run.Value(id), run.Value(peer)!, endpoint, !run.Value(voter), run.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        });
        member.Subcommands.Add(add);

        var promoteId = new Argument<int>("id") { Description = "The learner's id" };
        var promote = new Command("promote", "Make a learner a voter (exit 1 with not_caught_up while it is behind)") { promoteId };
        RaftCtl.SetAction(promote, console, async run => await WriteMembersAsync(run, await run.Client.PromoteMemberAsync(run.Value(promoteId), run.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false));
        member.Subcommands.Add(promote);

        var removeId = new Argument<int>("id") { Description = "The member's id" };
        var remove = new Command("remove", "Remove a member (a leader hands over first)") { removeId };
        RaftCtl.SetAction(remove, console, async run => await WriteMembersAsync(run, await run.Client.RemoveMemberAsync(run.Value(removeId), run.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false));
        member.Subcommands.Add(remove);
        return member;
    }

    private static async Task<int> WriteMembersAsync(Invocation run, ClusterMembers members)
    {
        if (run.Json)
        {
            var wire = members.Members.Select(m => new MemberResponse(m.Id, m.PeerAddress, m.HttpEndpoint?.ToString().TrimEnd('/') ?? string.Empty, m.Voter, m.Leader));
            await run.WriteJsonAsync(new MembersResponse(members.LeaderId, [.. wire], members.Index), ProtocolJsonContext.Wire.MembersResponse).ConfigureAwait(false);
        }
        else
        {
            Table.Write(run.Console.Out, ["ID", "PEER", "HTTP", "VOTER", "LEADER"], members.Members.Select(m => (IReadOnlyList<string>)
                [Text.Number(m.Id), m.PeerAddress, m.HttpEndpoint?.ToString().TrimEnd('/') ?? "-", m.Voter ? "yes" : "learner", m.Leader ? "*" : string.Empty]));
            if (members.Index > 0)
            {
                await run.WriteLineAsync($"changed at index {Text.Number(members.Index)}").ConfigureAwait(false);
            }
        }

        return ExitCodes.Ok;
    }

    private static Command Leader(CliConsole console)
    {
        var command = new Command("leader", "Which node leads (exit 3 when none does)");
        RaftCtl.SetAction(command, console, async run =>
        {
            var members = await run.Client.GetMembersAsync(run.CancellationToken).ConfigureAwait(false);
            if (members.LeaderId == 0)
            {
                throw new NoLeaderException("the node asked knows no leader: an election is under way or a majority is down");
            }

            var endpoint = members.Members.FirstOrDefault(m => m.Id == members.LeaderId)?.HttpEndpoint?.ToString().TrimEnd('/');
            await (run.Json
                ? run.WriteJsonAsync(new LeaderReport(members.LeaderId, endpoint), CliJsonContext.Default.LeaderReport)
                : run.WriteLineAsync($"node {Text.Number(members.LeaderId)} at {endpoint ?? "an unknown address"}")).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Transfer(CliConsole console)
    {
        var to = new Option<int?>("--to") { Description = "The voter to lead next (default: the most up-to-date follower)" };
        var command = new Command("transfer-leader", "Hand leadership to another voter, a planned switchover") { to };
        RaftCtl.SetAction(command, console, async run =>
        {
            var moved = await run.Client.TransferLeaderAsync(run.Value(to), run.CancellationToken).ConfigureAwait(false);
            await (run.Json
                ? run.WriteJsonAsync(moved, ProtocolJsonContext.Wire.TransferResponse)
                : run.WriteLineAsync($"leadership moved from node {Text.Number(moved.From)} to node {Text.Number(moved.LeaderId)}")).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    // Every member with the endpoint to ask it at: the configuration's, or for a member without one, nothing.
    private static async Task<IReadOnlyList<ClusterMember>> MembersAsync(Invocation run) =>
        (await run.Client.GetMembersAsync(run.CancellationToken).ConfigureAwait(false)).Members;

    private static Command Status(CliConsole console)
    {
        var command = new Command("status", "Every member's role, term, commit and applied index, lag and version, each asked itself");
        RaftCtl.SetAction(command, console, async run =>
        {
            var members = await MembersAsync(run).ConfigureAwait(false);
            var answers = await Task.WhenAll(members.Select(m => AskAsync(m, e => run.Client.GetNodeStatusAsync(e, run.CancellationToken)))).ConfigureAwait(false);

            // Only the leader knows every member's lag.
            var leader = answers.Select(a => a.Value).FirstOrDefault(s => s is { Role: "leader" });
            var rows = members.Zip(answers, (m, a) => a.Value is { } s
                ? new StatusRow(m.Id, Endpoint(m), s.Role, s.Term, s.LeaderId, s.CommitIndex, s.AppliedIndex, leader?.Members.FirstOrDefault(x => x.Id == m.Id)?.Lag, s.SupportsVersion, m.Voter, null)
                : new StatusRow(m.Id, Endpoint(m), "unreachable", 0, 0, 0, 0, leader?.Members.FirstOrDefault(x => x.Id == m.Id)?.Lag, 0, m.Voter, a.Error)).ToList();
            var leaderId = leader?.NodeId ?? 0;
            if (run.Json)
            {
                await run.WriteJsonAsync(new StatusReport(leaderId, leader?.ClusterVersion ?? 0, rows), CliJsonContext.Default.StatusReport).ConfigureAwait(false);
            }
            else
            {
                Table.Write(run.Console.Out, ["ID", "ENDPOINT", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAG", "VERSION"], rows.Select(r => (IReadOnlyList<string>)(r.Error is null
                    ? [Text.Number(r.Id), r.Endpoint, r.Role, Text.Number(r.Term), Text.Number(r.LeaderId), Text.Number(r.CommitIndex), Text.Number(r.AppliedIndex), Text.Optional(r.Lag), Text.Number(r.Version)]
                    : [Text.Number(r.Id), r.Endpoint, r.Role, "-", "-", "-", "-", Text.Optional(r.Lag), "-"])));
                foreach (var failed in rows.Where(r => r.Error is not null))
                {
                    await run.Console.Error.WriteLineAsync($"node {Text.Number(failed.Id)}: {failed.Error}").ConfigureAwait(false);
                }
            }

            return rows.Any(r => r.Error is null) ? ExitCodes.Ok : ExitCodes.Unavailable;
        });
        return command;
    }

    private static Command Check(CliConsole console)
    {
        var command = new Command("check", "Is every member ready, and do they agree on the leader and the commit index? (exit 1 when not)");
        RaftCtl.SetAction(command, console, async run =>
        {
            var members = await MembersAsync(run).ConfigureAwait(false);
            List<CheckRow> rows = [];
            for (var sample = 1; sample <= CommitSamples; sample++)
            {
                var answers = await Task.WhenAll(members.Select(m => AskAsync(m, e => run.Client.GetNodeHealthAsync(e, run.CancellationToken)))).ConfigureAwait(false);
                rows = [.. members.Zip(answers, (m, a) => a.Value is { } h
                    ? new CheckRow(m.Id, Endpoint(m), h.Ready, h.Status, h.LeaderId, h.CommitIndex, h.AppliedIndex, h.Detail)
                    : new CheckRow(m.Id, Endpoint(m), false, "unreachable", 0, 0, 0, a.Error))];
                if (rows.All(r => r.Ready) && rows.Select(r => r.CommitIndex).Distinct().Count() == 1)
                {
                    break;
                }

                if (sample < CommitSamples)
                {
                    await Task.Delay(CommitSampleGap, run.CancellationToken).ConfigureAwait(false);
                }
            }

            var ready = rows.Where(r => r.Ready).ToList();
            var leaders = ready.Select(r => r.LeaderId).Distinct().ToList();
            var leaderAgreed = ready.Count == rows.Count && leaders is [> 0];
            var commitAgreed = ready.Count == rows.Count && ready.Select(r => r.CommitIndex).Distinct().Count() == 1;
            var healthy = leaderAgreed && commitAgreed;
            var report = new CheckReport(healthy, leaderAgreed, leaderAgreed ? leaders[0] : 0, commitAgreed, commitAgreed ? ready[0].CommitIndex : 0, rows);
            if (run.Json)
            {
                await run.WriteJsonAsync(report, CliJsonContext.Default.CheckReport).ConfigureAwait(false);
            }
            else
            {
                Table.Write(run.Console.Out, ["ID", "ENDPOINT", "HEALTH", "LEADER", "COMMIT", "APPLIED"], rows.Select(r => (IReadOnlyList<string>)(r.Ready
                    ? [Text.Number(r.Id), r.Endpoint, r.Status, Text.Number(r.LeaderId), Text.Number(r.CommitIndex), Text.Number(r.AppliedIndex)]
                    : [Text.Number(r.Id), r.Endpoint, r.Status, "-", "-", "-"])));
                foreach (var failed in rows.Where(r => !r.Ready))
                {
                    await run.WriteLineAsync($"node {Text.Number(failed.Id)}: {failed.Detail}").ConfigureAwait(false);
                }

                await run.WriteLineAsync(leaderAgreed ? $"leader: every member names node {Text.Number(report.LeaderId)}" : $"leader: members disagree or do not answer ({string.Join(", ", rows.Select(r => $"node {Text.Number(r.Id)}: {(r.Ready ? Text.Number(r.LeaderId) : r.Status)}"))})").ConfigureAwait(false);
                await run.WriteLineAsync(commitAgreed ? $"commit index: every member is at {Text.Number(report.CommitIndex)}" : "commit index: members differ or do not answer").ConfigureAwait(false);
                await run.WriteLineAsync(healthy ? "healthy" : "unhealthy").ConfigureAwait(false);
            }

            return healthy ? ExitCodes.Ok : ready.Count == 0 ? ExitCodes.Unavailable : ExitCodes.Refused;
        });
        return command;
    }

    private static string Endpoint(ClusterMember member) => member.HttpEndpoint?.ToString().TrimEnd('/') ?? "-";

    private readonly record struct Answer<T>(T? Value, string? Error)
        where T : class;

    // One member's answer, or why it gave none: a member that is down is a row of the report, not a failure of it.
    private static async Task<Answer<T>> AskAsync<T>(ClusterMember member, Func<Uri, Task<T>> ask)
        where T : class
    {
        if (member.HttpEndpoint is not { } endpoint)
        {
            return new Answer<T>(null, "the configuration gives no HTTP endpoint");
        }

        try
        {
            return new Answer<T>(await ask(endpoint).ConfigureAwait(false), null);
        }
        catch (RaftKvException ex)
        {
            return new Answer<T>(null, $"{ex.ErrorCode}: {ex.Detail ?? ex.Message}");
        }
    }
}
