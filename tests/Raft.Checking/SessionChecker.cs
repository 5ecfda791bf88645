namespace Raft.Checking;

/// <summary>The status of an answer to a session write, as the store gives it (<c>KvApplyStatus</c>).</summary>
internal enum SessionAnswerStatus : byte
{
    Ok,
    NotFound,
    PreconditionFailed,
    LockHeld,
    StaleSequence,
    Invalid,
}

/// <summary>An answer a client received for a session write: the fields a retry must repeat exactly.</summary>
/// <param name="Index">The log index of the command that produced the answer (the original one, for a deduplicated retry).</param>
/// <param name="Version">A put's new version, a delete's removed version, a failed precondition's current version.</param>
/// <param name="FencingToken">A granted, renewed or released lock's token.</param>
/// <param name="ExpiresAtMs">A granted or renewed lock's expiry.</param>
internal readonly record struct SessionAnswer(SessionAnswerStatus Status, ulong Index, ulong Version, ulong FencingToken = 0, long ExpiresAtMs = 0)
{
    public override string ToString() =>
        $"{Status} index {Index} version {Version}" + (FencingToken != 0 || ExpiresAtMs != 0 ? $" token {FencingToken} until {ExpiresAtMs}" : string.Empty);
}

/// <summary>
/// Exactly-once client sessions: a write carrying (client id, sequence) is applied at most once however often it
/// is retried, and every retry answers what the first attempt answered.
/// </summary>
/// <remarks>
/// <para>Feed it, as the simulation runs: <see cref="OnAnswer"/> for every answer a client receives to a session
/// write (the first attempt's and every retry's, from whichever node); <see cref="OnApplied"/> after every command a
/// replica applies, with the state of the key it touched (and after a snapshot restore, for every key it holds).
/// Then call <see cref="Check"/>.</para>
/// <para>A value names one write (values are unique per write) and a version is the index of the write that set it,
/// so a value found at two versions, on one replica or two, was applied twice (or replicas diverged), and so was
/// a session write whose answers name two indexes.</para>
/// <para>A refused lock acquire (<see cref="SessionAnswerStatus.LockHeld"/>) is exempt from the identical-answer
/// rule: the store does not remember it, so its retry tries again, which is what a waiting client wants, and it
/// applied nothing.</para>
/// </remarks>
internal sealed class SessionChecker
{
    private readonly Dictionary<(string Client, ulong Sequence), Request> _requests = [];
    private readonly Dictionary<(int Replica, ulong Value), ulong> _replicaVersions = [];
    private readonly Dictionary<ulong, (ulong Version, int Replica)> _versions = [];
    private readonly List<string> _violations = [];

    public int Answers { get; private set; }

    public int Applied { get; private set; }

    /// <param name="value">For a put, the value it writes (unique per write); 0 for anything else.</param>
    public void OnAnswer(string clientId, ulong sequence, string key, ulong value, SessionAnswer answer)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentNullException.ThrowIfNull(key);
        Answers++;
        if (!_requests.TryGetValue((clientId, sequence), out var request))
        {
            request = new Request(key, value);
            _requests.Add((clientId, sequence), request);
        }
        else if (!string.Equals(request.Key, key, StringComparison.Ordinal) || request.Value != value)
        {
            throw new ArgumentException($"client {clientId} reused sequence {sequence} for a different write (key \"{key}\", value {value}; first key \"{request.Key}\", value {request.Value})", nameof(sequence));
        }

        if (answer.Status == SessionAnswerStatus.LockHeld)
        {
            return;
        }

        if (request.First is not { } first)
        {
            request.First = answer;
            return;
        }

        if (first != answer)
        {
            var why = first.Status == SessionAnswerStatus.Ok && answer.Status == SessionAnswerStatus.Ok && first.Index != answer.Index
                ? $"applied twice, at index {first.Index} and at index {answer.Index}"
                : "a retry must answer what the first attempt answered";
            _violations.Add($"client {clientId} sequence {sequence} on key \"{key}\": answered {first}, then {answer}: {why}");
        }
    }

    /// <summary>The state of <paramref name="key"/> on <paramref name="replica"/> after it applied a command: <paramref name="value"/> 0 when absent.</summary>
    public void OnApplied(int replica, string key, ulong value, ulong version)
    {
        Applied++;
        if (value == 0)
        {
            return;
        }

        if (_replicaVersions.TryGetValue((replica, value), out var known))
        {
            if (known != version)
            {
                _violations.Add($"replica {replica} held value {value} of key \"{key}\" at v{known} and later at v{version}: its write was applied twice");
            }

            return;
        }

        _replicaVersions.Add((replica, value), version);
        if (_versions.TryGetValue(value, out var elsewhere))
        {
            if (elsewhere.Version != version)
            {
                _violations.Add($"value {value} of key \"{key}\" is at v{elsewhere.Version} on replica {elsewhere.Replica} but at v{version} on replica {replica}: the write was applied twice, or the replicas applied different logs");
            }
        }
        else
        {
            _versions.Add(value, (version, replica));
        }
    }

    public CheckResult Check()
    {
        var violations = new List<string>(_violations);
        foreach (var ((client, sequence), request) in _requests)
        {
            // A put the client was told took effect at version V: the replicas hold its value at V and nowhere else.
            if (request.Value != 0 && request.First is { Status: SessionAnswerStatus.Ok } answer
                && _versions.TryGetValue(request.Value, out var applied) && applied.Version != answer.Version)
            {
                violations.Add($"client {client} sequence {sequence} on key \"{request.Key}\": told its value {request.Value} is at v{answer.Version}, but replica {applied.Replica} holds it at v{applied.Version}");
            }
        }

        return CheckResult.FromViolations(violations, "exactly-once sessions");
    }

    private sealed class Request(string key, ulong value)
    {
        public string Key { get; } = key;

        public ulong Value { get; } = value;

        public SessionAnswer? First { get; set; }
    }
}
