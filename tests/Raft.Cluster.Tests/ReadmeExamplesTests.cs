using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Raft.Cluster.Tests;

/// <summary>
/// README's examples, pasted in order into a fresh three-node cluster started the way run-cluster.sh starts one, give
/// the output README shows.
/// </summary>
/// <remarks>
/// <para>
/// An example is a line <c>$ command</c> in a fenced block, and what it prints is every line after it up to the next
/// <c>$</c> line or the end of the block. <c>curl</c> (the options README uses: <c>-X -H -d --data-binary -i -s -o
/// -D -</c>) runs as an HttpClient request (a body saved with <c>-o</c> goes to that file in the launcher's working
/// directory, where later examples find it), <c>kill -9 PID</c> kills the node README's listing gives that pid, and
/// <c>./run-cluster.sh restart N</c> runs the launcher's restart command (the script itself would look for the
/// repository's ./data). Two blocks of launcher output are checked too: the listing in Quick start, and what the
/// launcher prints after the kill. A trailing <c># comment</c> is a comment, and on an output line a comment that starts
/// with a status code (<c># 409</c>) is the status the answer must have; without one it must be a 2xx.
/// </para>
/// <para>
/// What legitimately differs between README's run and this one, and nothing else, is normalised (<see cref="Normalise"/>,
/// <see cref="ToReadmeTerms"/>): pids, the data directory, lock expiry times and the Date header; the ports, which are
/// free ones here; which node won the election (README's leader is node 2: this cluster's leader and its node 2 swap
/// names, in the requests sent and in the output compared), and which node wins the election after the kill; and how
/// many elections the start took: README's cluster starts at term 1 with two entries (the leader's and the one that
/// raised the cluster version), and a start on a loaded machine may take another election, which moves every log
/// index and term after it by the same amount (<see cref="Replay.Shift"/>), in README's requests and in its output.
/// Response headers are compared as a set, as HttpClient does not keep their order on the wire. A <c>stale</c> read
/// is sent once the node asked has applied the last write, as it has by the time a person types the next line.
/// </para>
/// </remarks>
public sealed partial class ReadmeExamplesTests
{
    private const int ReadmeLeader = 2;
    private const int ReadmeBasePort = 5001;
    private const int ReadmePeerBasePort = 7001;
    private const int Nodes = 3;
    private const string ApiLeaderHeader = "X-Raft-Leader";

    // What README's cluster has when the launcher lists it: the term and the commit index.
    private const long ReadmeStartTerm = 1;
    private const long ReadmeStartIndex = 2;

    [Fact]
    public async Task EveryExample_PastedInOrder_GivesTheOutputReadmeShows()
    {
        var blocks = ReadBlocks(Path.Combine(ProcessCluster.RepositoryRoot, "README.md"));
        var listing = blocks.Single(b => b.Lines[0].StartsWith("node 1: http://", StringComparison.Ordinal));
        Assert.Contains(blocks, b => b.Lines.Any(l => l.StartsWith("$ curl ", StringComparison.Ordinal)));

        await using var launcher = LauncherProcess.Start(defaultData: true, new Dictionary<string, string> { ["RAFT_CLUSTER_COMMAND"] = "./run-cluster.sh" });
        using var replay = new Replay(launcher, await launcher.WaitForListingAsync());
        await replay.LearnStartAsync();
        foreach (var block in blocks)
        {
            if (block == listing)
            {
                replay.CheckListing(block);
            }
            else if (ExitLinePattern().IsMatch(block.Lines[0]))
            {
                replay.CheckLinesAfterKill(block);
            }
            else if (block.Lines.Any(l => l.StartsWith("$ ", StringComparison.Ordinal)))
            {
                foreach (var example in Examples(block))
                {
                    try
                    {
                        await replay.RunAsync(example);
                    }
                    catch (HttpRequestException e)
                    {
                        throw new HttpRequestException($"README.md:{example.Line}: {example.Command}\n{e.Message}\nthe launcher printed:\n{string.Join('\n', launcher.Output.Snapshot())}", e);
                    }
                }
            }
        }

        Assert.True(replay.Killed is not null, "README kills no node, so the kill section was not replayed");
        Assert.Equal(0, await launcher.StopAsync());
    }

    /// <summary>The fenced blocks without a language (shell sessions and program output), each with its line number.</summary>
    private static List<Block> ReadBlocks(string path)
    {
        var lines = File.ReadAllLines(path);
        var blocks = new List<Block>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith("```", StringComparison.Ordinal))
            {
                continue;
            }

            var language = lines[i][3..].Trim();
            var end = Array.FindIndex(lines, i + 1, l => l.StartsWith("```", StringComparison.Ordinal));
            Assert.True(end > i, $"README.md:{i + 1}: a code block that never ends");
            if (language.Length == 0 && end > i + 1)
            {
                blocks.Add(new Block(i + 2, lines[(i + 1)..end]));
            }

            i = end;
        }

        return blocks;
    }

    private static IEnumerable<Example> Examples(Block block)
    {
        Assert.True(block.Lines[0].StartsWith("$ ", StringComparison.Ordinal), $"README.md:{block.Line}: a session block must start with a $ line");
        for (var i = 0; i < block.Lines.Length; i++)
        {
            var end = Array.FindIndex(block.Lines, i + 1, l => l.StartsWith("$ ", StringComparison.Ordinal));
            end = end < 0 ? block.Lines.Length : end;
            yield return new Example(block.Line + i, block.Lines[i][2..], block.Lines[(i + 1)..end]);
            i = end - 1;
        }
    }

    /// <summary>Placeholders for what differs from run to run whoever runs it, applied alike to README and to what this run printed.</summary>
    private static string Normalise(string text)
    {
        text = PidPattern().Replace(text, "pid <pid>");
        text = LogPathPattern().Replace(text, "log <data>/node-");
        text = ExpiresPattern().Replace(text, "\"${name}\":<ms>");
        return DatePattern().Replace(text, "Date: <date>");
    }

    private sealed record Block(int Line, string[] Lines);

    private sealed record Example(int Line, string Command, string[] Output);

    /// <summary>One replay of README against one launcher: what it has learned so far and how README's names map to this cluster's.</summary>
    private sealed class Replay(LauncherProcess launcher, int leader) : IDisposable
    {
        private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { Timeout = TimeSpan.FromSeconds(30) };
        private readonly Dictionary<int, int> _readmePids = [];
        private long _lastIndex;
        private int _killedAt = -1;

        // Nodes README's examples reach: the three started, and those added since.
        private int _nodes = Nodes;

        // After the kill: the survivor that won here and the one README names, both in README's terms.
        private (int Actual, int Readme)? _newLeader;

        // How far this run's log indexes and terms are ahead of README's, from the extra elections of its start.
        private long _indexShift;
        private long _termShift;

        /// <summary>The node README killed, by README's name; null before the kill.</summary>
        public int? Killed { get; private set; }

        /// <summary>README's node 2 is this cluster's leader and the other way round: a swap, so it is its own inverse.</summary>
        private int Rename(int id) => id == ReadmeLeader ? leader : id == leader ? ReadmeLeader : id;

        public void Dispose() => _http.Dispose();

        /// <summary>Reads the term and commit index the cluster started with, against README's.</summary>
        public async Task LearnStartAsync()
        {
            using var status = JsonDocument.Parse(await _http.GetStringAsync(new Uri(launcher.Endpoint(leader), "/v1/cluster")));
            _indexShift = status.RootElement.GetProperty("commitIndex").GetInt64() - ReadmeStartIndex;
            _termShift = status.RootElement.GetProperty("term").GetInt64() - ReadmeStartTerm;
            Assert.True(_indexShift >= 0 && _termShift >= 0, $"the cluster started at term {_termShift + ReadmeStartTerm} with commit index {_indexShift + ReadmeStartIndex}, before README's");
        }

        /// <summary>
        /// Moves the log indexes and terms in <paramref name="text"/> by <paramref name="direction"/> times this run's
        /// shift: +1 for README's requests, -1 for this run's output.
        /// </summary>
        public string Shift(string text, int direction)
        {
            if (_indexShift == 0 && _termShift == 0)
            {
                return text;
            }

            text = IndexPattern().Replace(text, m => m.Groups["name"].Value + Moved(m.Groups["n"].Value, _indexShift * direction));
            text = LeaseIdPattern().Replace(text, m => m.Groups["name"].Value + Moved(m.Groups["n"].Value, _indexShift * direction));
            text = TermPattern().Replace(text, m => m.Groups["name"].Value + Moved(m.Groups["n"].Value, _termShift * direction));
            return SnapshotNamePattern().Replace(text, m =>
                $"raft-snapshot-{Moved(m.Groups["index"].Value, _indexShift * direction)}-{Moved(m.Groups["term"].Value, _termShift * direction)}");
        }

        private static string Moved(string number, long by) =>
            (long.Parse(number, CultureInfo.InvariantCulture) + by).ToString(CultureInfo.InvariantCulture);

        // The raftctl line lists every node; renamed into README's terms, the list keeps this cluster's order.
        private static string SortEndpoints(string line)
        {
            const string Prefix = "raftctl --endpoints ";
            if (!line.StartsWith(Prefix, StringComparison.Ordinal))
            {
                return line;
            }

            var rest = line[Prefix.Length..];
            var space = rest.IndexOf(' ', StringComparison.Ordinal);
            var list = space < 0 ? rest : rest[..space];
            return Prefix + string.Join(',', list.Split(',').Order(StringComparer.Ordinal)) + (space < 0 ? string.Empty : rest[space..]);
        }

        public void CheckListing(Block block)
        {
            foreach (var line in block.Lines)
            {
                if (ListedPidPattern().Match(line) is { Success: true } m)
                {
                    _readmePids[int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture)] = int.Parse(m.Groups["id"].Value, CultureInfo.InvariantCulture);
                }
            }

            var output = launcher.Output.Snapshot();
            var first = Array.FindIndex(output, l => l.StartsWith("node 1: http://", StringComparison.Ordinal));
            var end = Array.FindIndex(output, first, l => l == "Ctrl+C stops every node.");
            Assert.True(end > first, "the launcher's listing has no end line");
            var actual = output[first..(end + 1)].Select(l => Normalise(SortEndpoints(ToReadmeTerms(l)))).ToArray();

            // The node lines come in this cluster's order; renamed, in README's.
            string[] renamed = [.. actual[..Nodes].Order(StringComparer.Ordinal), .. actual[Nodes..]];
            Assert.Equal(block.Lines.Select(Normalise), renamed);
        }

        public async Task RunAsync(Example example)
        {
            var words = ShellWords.Split(Shift(example.Command, +1));
            switch (words[0])
            {
                case "curl":
                    await CurlAsync(example, words);
                    break;
                case "kill":
                    await KillAsync(example, words);
                    break;
                case "./run-cluster.sh" when words is [_, "restart", _]:
                    await RestartAsync(example, words);
                    break;
                case "./run-cluster.sh" when words is [_, "add"]:
                    _nodes++;
                    await LauncherCommandAsync(example, "add");
                    break;
                case "./run-cluster.sh" when words is [_, "remove", _]:
                    await LauncherCommandAsync(example, $"remove {Rename(int.Parse(words[2], CultureInfo.InvariantCulture)).ToString(CultureInfo.InvariantCulture)}");
                    break;
                default:
                    Assert.Fail($"README.md:{example.Line}: `{example.Command}` is not something this test can replay; teach it, or change README");
                    break;
            }
        }

        public void CheckLinesAfterKill(Block block)
        {
            Assert.True(Killed is not null, $"README.md:{block.Line}: launcher output about a node that exited, but README killed none before it");
            var output = launcher.Output.Snapshot()[_killedAt..].Select(ToReadmeTerms).ToArray();
            var exited = output.First(l => ExitLinePattern().IsMatch(l));
            var successor = output.First(l => l.StartsWith("leader: ", StringComparison.Ordinal));
            Assert.Equal(block.Lines.Select(l => NewLeader(Normalise(l))), new[] { Normalise(exited), NewLeader(successor) });
            var readmeSuccessor = block.Lines.Select(l => NewLeaderPattern().Match(l)).Single(m => m.Success);
            _newLeader = (int.Parse(NewLeaderPattern().Match(successor).Groups["id"].Value, CultureInfo.InvariantCulture),
                int.Parse(readmeSuccessor.Groups["id"].Value, CultureInfo.InvariantCulture));
        }

        /// <summary>Which of the survivors wins the election is chance: README's line names one, this run's another.</summary>
        private string NewLeader(string line)
        {
            if (NewLeaderPattern().Match(line) is not { Success: true } m)
            {
                return line;
            }

            Assert.NotEqual(Killed, int.Parse(m.Groups["id"].Value, CultureInfo.InvariantCulture));
            return "leader: node <new> at http://127.0.0.1:<new>";
        }

        private async Task CurlAsync(Example example, List<string> words)
        {
            var (request, include, saveTo) = ParseCurl(example, words);
            if (request.RequestUri!.Query.Contains("consistency=stale", StringComparison.Ordinal))
            {
                await AppliedAsync(request.RequestUri, _lastIndex);
            }

            using (request)
            {
                using var response = await _http.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                if (saveTo is not null)
                {
                    // curl -o: the body goes to the file, and only what -D - dumps is shown.
                    await File.WriteAllBytesAsync(Path.Combine(launcher.WorkingDirectory, saveTo), await response.Content.ReadAsByteArrayAsync());
                    body = string.Empty;
                }

                var (expected, status) = ExpectedOutput(example);

                var where = $"README.md:{example.Line}: {example.Command}";
                if (status is not null)
                {
                    Assert.True((int)response.StatusCode == status, $"{where}\nanswered {(int)response.StatusCode}, README says {status}\n{body}");
                }
                else
                {
                    Assert.True(response.IsSuccessStatusCode || include, $"{where}\nanswered {(int)response.StatusCode}\n{body}");
                }

                if (include)
                {
                    CompareWithHeaders(where, expected, response, body);
                }
                else
                {
                    Assert.True(Normalise(expected) == Normalise(ToReadmeTerms(body)), $"{where}\nREADME: {expected}\nactual: {body}\nthe launcher printed:\n{string.Join('\n', launcher.Output.Snapshot())}");
                }

                if (response.Headers.TryGetValues("X-Raft-Index", out var index))
                {
                    _lastIndex = long.Parse(index.Single(), CultureInfo.InvariantCulture);
                }
            }
        }

        /// <summary>Waits (bounded) until the node at <paramref name="node"/> has applied <paramref name="index"/>.</summary>
        private async Task AppliedAsync(Uri node, long index)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (true)
            {
                using var status = JsonDocument.Parse(await _http.GetStringAsync(new Uri(node, "/v1/cluster")));
                if (status.RootElement.GetProperty("appliedIndex").GetInt64() >= index)
                {
                    return;
                }

                Assert.True(DateTime.UtcNow < deadline, $"{node} did not apply index {index} within 10 s");
                await Task.Delay(20);
            }
        }

        private void CompareWithHeaders(string where, string expected, HttpResponseMessage response, string body)
        {
            var readme = expected.Split('\n');
            var blank = Array.IndexOf(readme, "");
            Assert.True(blank > 0, $"{where}: README shows -i output without the blank line after the headers");
            var statusLine = $"HTTP/{response.Version} {(int)response.StatusCode} {response.ReasonPhrase}";
            Assert.Equal(readme[0], statusLine);
            var headers = response.Headers.Concat(response.Content.Headers)
                .Select(h => Normalise(NewLeaderHeader(ToReadmeTerms($"{h.Key}: {string.Join(", ", h.Value)}"))))
                .Order(StringComparer.Ordinal);
            Assert.Equal(readme[1..blank].Select(Normalise).Order(StringComparer.Ordinal), headers);
            Assert.Equal(Normalise(string.Join('\n', readme[(blank + 1)..])), Normalise(ToReadmeTerms(body)));
        }

        // After the kill, README's answers name the survivor README's launcher output named as leader.
        private string NewLeaderHeader(string header) =>
            _newLeader is { } survivor && header == $"{ApiLeaderHeader}: {survivor.Actual}" ? $"{ApiLeaderHeader}: {survivor.Readme}" : header;

        private async Task KillAsync(Example example, List<string> words)
        {
            Assert.True(words is ["kill", "-9", _], $"README.md:{example.Line}: only kill -9 PID is replayed");
            Assert.Empty(example.Output);
            var pid = int.Parse(words[2], CultureInfo.InvariantCulture);
            Assert.True(_readmePids.TryGetValue(pid, out var node), $"README.md:{example.Line}: pid {pid} is not in README's listing");
            Assert.True(node == ReadmeLeader, $"README.md:{example.Line}: README kills node {node}, not the leader its listing names");

            _killedAt = launcher.Output.Snapshot().Length;
            LauncherProcess.KillNine(launcher.ListedPid(Rename(node)));
            Killed = node;

            // The user reads both lines in the launcher's window before going on, as README says.
            var exited = await launcher.Output.WaitForAsync(l => l.StartsWith($"node {Rename(node)} exited", StringComparison.Ordinal), _killedAt);
            await launcher.Output.WaitForAsync(l => l.StartsWith("leader: ", StringComparison.Ordinal), exited);
        }

        private async Task RestartAsync(Example example, List<string> words)
        {
            Assert.True(Killed is not null, $"README.md:{example.Line}: a restart before any kill");
            var hint = launcher.Output.Snapshot()[_killedAt..].Select(ToReadmeTerms).First(l => ExitLinePattern().IsMatch(l));
            Assert.EndsWith($"; start it again with: {example.Command.Split('#')[0].Trim()}", hint, StringComparison.Ordinal);

            var id = Rename(int.Parse(words[2], CultureInfo.InvariantCulture));
            var (code, output) = await LauncherTests.RunAsync(
                $"{ProcessCluster.ServerCommand} cluster restart {id.ToString(CultureInfo.InvariantCulture)}", launcher.WorkingDirectory);
            Assert.True(code == 0, $"README.md:{example.Line}: exit code {code}\n{output}");
            Assert.Equal(Normalise(string.Join('\n', example.Output)), Normalise(ToReadmeTerms(output)));
        }

        private async Task LauncherCommandAsync(Example example, string command)
        {
            var (code, output) = await LauncherTests.RunAsync($"{ProcessCluster.ServerCommand} cluster {command}", launcher.WorkingDirectory);
            Assert.True(code == 0, $"README.md:{example.Line}: exit code {code}\n{output}");
            Assert.Equal(Normalise(string.Join('\n', example.Output)), Normalise(ToReadmeTerms(output)));
        }

        private (HttpRequestMessage Request, bool Include, string? SaveTo) ParseCurl(Example example, List<string> words)
        {
            var method = (string?)null;
            var headers = new List<(string Name, string Value)>();
            string? data = null;
            string? saveTo = null;
            Uri? url = null;
            var include = false;
            for (var i = 1; i < words.Count; i++)
            {
                switch (words[i])
                {
                    case "-X":
                        method = words[++i];
                        break;
                    case "-H":
                        var header = words[++i];
                        var colon = header.IndexOf(':', StringComparison.Ordinal);
                        headers.Add((header[..colon].Trim(), header[(colon + 1)..].Trim()));
                        break;
                    case "-d" or "--data-binary":
                        data = words[++i];
                        break;
                    case "-i":
                        include = true;
                        break;
                    case "-D" when i + 1 < words.Count && words[i + 1] == "-":
                        include = true;
                        i++;
                        break;
                    case "-o":
                        saveTo = words[++i];
                        break;
                    case "-s":
                        break;
                    case var word when !word.StartsWith('-'):
                        url = Translate(example, word);
                        break;
                    default:
                        Assert.Fail($"README.md:{example.Line}: curl {words[i]} is an option this test does not know");
                        break;
                }
            }

            Assert.True(url is not null, $"README.md:{example.Line}: curl without a URL");

            // curl posts data unless told otherwise, as a form unless a header says what it is.
            var request = new HttpRequestMessage(new HttpMethod(method ?? (data is null ? "GET" : "POST")), url);
            if (data is not null)
            {
                request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(data));
                request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/x-www-form-urlencoded");
            }

            foreach (var (name, value) in headers)
            {
                if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) && request.Content is not null)
                {
                    request.Content.Headers.Remove(name);
                    request.Content.Headers.TryAddWithoutValidation(name, value);
                }
                else
                {
                    request.Headers.TryAddWithoutValidation(name, value);
                }
            }

            return (request, include, saveTo);
        }

        /// <summary>README's localhost:500N is the node README calls N: here, the node it is renamed to, on its free port.</summary>
        private Uri Translate(Example example, string url)
        {
            var m = ReadmeUrlPattern().Match(url);
            Assert.True(m.Success, $"README.md:{example.Line}: {url} is not localhost:{ReadmeBasePort}..{ReadmeBasePort + _nodes - 1}");
            var node = int.Parse(m.Groups["port"].Value, CultureInfo.InvariantCulture) - ReadmeBasePort + 1;
            Assert.InRange(node, 1, _nodes);
            return new Uri($"http://127.0.0.1:{launcher.BasePort + Rename(node) - 1}{m.Groups["rest"].Value}");
        }

        /// <summary>This run's output in README's terms: README's ports, and nodes by the names README gives them.</summary>
        private string ToReadmeTerms(string text)
        {
            text = Shift(text, -1);
            text = LoopbackPortPattern().Replace(text, m =>
            {
                var port = int.Parse(m.Groups["port"].Value, CultureInfo.InvariantCulture);
                return port - launcher.BasePort is var h and >= 0 && h < _nodes ? $"127.0.0.1:{ReadmeBasePort + Rename(h + 1) - 1}"
                    : port - launcher.PeerBasePort is var p and >= 0 && p < _nodes ? $"127.0.0.1:{ReadmePeerBasePort + Rename(p + 1) - 1}"
                    : m.Value;
            });
            return NodeIdPattern().Replace(text, m => $"{m.Groups["before"].Value}{Rename(int.Parse(m.Groups["id"].Value, CultureInfo.InvariantCulture))}");
        }

        private static (string Text, int? Status) ExpectedOutput(Example example)
        {
            int? status = null;
            var lines = new List<string>();
            foreach (var line in example.Output)
            {
                var (text, comment) = StripComment(line);
                lines.Add(text);
                if (comment is not null && StatusPattern().Match(comment) is { Success: true } m)
                {
                    status = int.Parse(m.Value, CultureInfo.InvariantCulture);
                }
            }

            return (string.Join('\n', lines), status);
        }

        /// <summary>An output line without its trailing comment: two or more blanks, then #.</summary>
        private static (string Text, string? Comment) StripComment(string line)
        {
            var m = OutputCommentPattern().Match(line);
            return m.Success ? (m.Groups["text"].Value, m.Groups["comment"].Value) : (line, null);
        }
    }

    [GeneratedRegex(@"\bpid \d+")]
    private static partial Regex PidPattern();

    [GeneratedRegex(@"\blog \S+/node-")]
    private static partial Regex LogPathPattern();

    [GeneratedRegex(@"""(?<name>expiresAtMs|remainingMs)"":\d+")]
    private static partial Regex ExpiresPattern();

    [GeneratedRegex(@"^Date: .*$", RegexOptions.Multiline)]
    private static partial Regex DatePattern();

    [GeneratedRegex(@"^node (?<id>\d+): http://\S+\s+peers \S+\s+pid (?<pid>\d+)\b")]
    private static partial Regex ListedPidPattern();

    [GeneratedRegex(@"^node \d+ exited with code ")]
    private static partial Regex ExitLinePattern();

    [GeneratedRegex(@"^leader: node (?<id>\d+) at http://127\.0\.0\.1:\d+$")]
    private static partial Regex NewLeaderPattern();

    [GeneratedRegex(@"^(?:http://)?localhost:(?<port>\d+)(?<rest>/.*)$")]
    private static partial Regex ReadmeUrlPattern();

    [GeneratedRegex(@"127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex LoopbackPortPattern();

    [GeneratedRegex(@"(?<before>\bnode |\bnode-|\brestart |\bremove |X-Raft-Leader: )(?<id>\d+)\b")]
    private static partial Regex NodeIdPattern();

    // A log index as README shows one: in a JSON answer or request, an If-Match, or a header.
    [GeneratedRegex(@"(?<name>""(?:index|version|createIndex|currentVersion|fencingToken)"":|If-Match: |X-Raft-Index: |X-Raft-Snapshot-Index: |is at version |[?&]waitIndex=)(?<n>[1-9]\d*)")]
    private static partial Regex IndexPattern();

    // A lease's id is the index that granted it, wherever it appears: answers, bodies, paths, queries and details.
    [GeneratedRegex(@"(?<name>""lease"":|""leases"":\[|/v1/leases/|[?&]lease=|\blease |""id"":(?=\d+,""(?:ttlMs|index)""))(?<n>[1-9]\d*)")]
    private static partial Regex LeaseIdPattern();

    [GeneratedRegex(@"(?<name>X-Raft-Term: |X-Raft-Snapshot-Term: )(?<n>\d+)")]
    private static partial Regex TermPattern();

    [GeneratedRegex(@"raft-snapshot-(?<index>\d+)-(?<term>\d+)")]
    private static partial Regex SnapshotNamePattern();

    [GeneratedRegex(@"^\d{3}\b")]
    private static partial Regex StatusPattern();

    [GeneratedRegex(@"^(?<text>.*?\S)\s{2,}#\s*(?<comment>.*)$")]
    private static partial Regex OutputCommentPattern();
}
