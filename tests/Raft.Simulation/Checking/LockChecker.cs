using System.Globalization;

namespace Raft.Simulation.Checking;

internal enum LockEventKind : byte
{
    Granted,
    Renewed,
    Released,

    /// <summary>An acquire, renew or release by someone other than the holder of a held lock: nothing changed.</summary>
    Refused,
}

/// <summary>A lock command that took effect on a replica, in the store's time.</summary>
/// <param name="Token">The fencing token (0 for a refusal).</param>
/// <param name="AtMs">The store's time when it applied the command: max of the command's leader time and every earlier one.</param>
/// <param name="UntilMs">A grant's or renewal's expiry; for a refusal, the holder's.</param>
/// <param name="Holder">For a refusal, the owner the store said holds the lock.</param>
internal readonly record struct LockEvent(LockEventKind Kind, string Lock, string Owner, ulong Token, long AtMs, long UntilMs, string? Holder)
{
    public static LockEvent Granted(string lockName, string owner, ulong token, long atMs, long untilMs) => new(LockEventKind.Granted, lockName, owner, token, atMs, untilMs, null);

    public static LockEvent Renewed(string lockName, string owner, ulong token, long atMs, long untilMs) => new(LockEventKind.Renewed, lockName, owner, token, atMs, untilMs, null);

    public static LockEvent Released(string lockName, string owner, ulong token, long atMs) => new(LockEventKind.Released, lockName, owner, token, atMs, 0, null);

    public static LockEvent Refused(string lockName, string owner, long atMs, string holder, long holderUntilMs) => new(LockEventKind.Refused, lockName, owner, 0, atMs, holderUntilMs, holder);

    public override string ToString() => Kind switch
    {
        LockEventKind.Refused => string.Create(CultureInfo.InvariantCulture, $"refused {Owner} on \"{Lock}\" at {AtMs} (held by {Holder} until {UntilMs})"),
        LockEventKind.Released => string.Create(CultureInfo.InvariantCulture, $"released \"{Lock}\" by {Owner} token {Token} at {AtMs}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{(Kind == LockEventKind.Granted ? "granted" : "renewed")} \"{Lock}\" to {Owner} token {Token} at {AtMs} until {UntilMs}"),
    };
}

/// <summary>What a client was told about a lock: <see cref="LockEventKind.Granted"/>, <see cref="LockEventKind.Renewed"/> or <see cref="LockEventKind.Released"/>.</summary>
/// <param name="UntilMs">For a grant or renewal, the expiry the client was given; ignored for a release.</param>
internal readonly record struct LockAnswer(LockEventKind Kind, string Lock, string Owner, ulong Token, long UntilMs);

/// <summary>
/// Locks with fencing tokens, checked on the stream of lock commands one replica applied, in log order: leader
/// time never goes back; a lock goes to another owner only once its lease ended or was released, so no two
/// owners' holds overlap; each grant's token is larger than every earlier token of that lock, and renewals keep
/// it; every answer a client was given is one the stream shows.
/// </summary>
/// <remarks>
/// <para>Feed it: <see cref="OnApplied"/> for every lock command that changed a lock or was refused, as a replica
/// applied it, with the store's time (<c>KvStore.ClockMs</c> after the command), not the command's own: the store
/// never lets time go back, so neither may the stream. Best fed from one store that applies every committed entry
/// in log order, so that no snapshot hides part of the stream. A deduplicated session retry (the answer's index is
/// not the entry's own) changed nothing: it is not an event. An acquire by the current holder, which renews, may
/// come as <see cref="LockEventKind.Granted"/> with the held token. <see cref="OnAnswer"/> for every lock answer
/// a client received.</para>
/// <para>A hold spans [its grant's time, its release's time or its last expiry); holds of different owners of one
/// lock must not intersect.</para>
/// </remarks>
internal sealed class LockChecker
{
    private readonly Dictionary<string, LockState> _locks = new(StringComparer.Ordinal);
    private readonly HashSet<(LockEventKind Kind, string Lock, string Owner, ulong Token, long UntilMs)> _told = [];
    private readonly List<LockAnswer> _answers = [];
    private readonly List<string> _violations = [];
    private long _lastAtMs = long.MinValue;
    private int _lastAtEvent = -1;

    public int Events { get; private set; }

    public void OnApplied(in LockEvent e)
    {
        var id = Events++;
        if (e.AtMs < _lastAtMs)
        {
            Violation($"event {id} ({e}): leader time went back from {_lastAtMs} (event {_lastAtEvent}) to {e.AtMs}");
        }
        else
        {
            _lastAtMs = e.AtMs;
            _lastAtEvent = id;
        }

        if (!_locks.TryGetValue(e.Lock, out var state))
        {
            state = new LockState();
            _locks.Add(e.Lock, state);
        }

        var hold = state.Current is { } current && current.Held(e.AtMs) ? current : null;
        switch (e.Kind)
        {
            case LockEventKind.Granted when hold is not null && hold.Owner == e.Owner:
                // The holder acquiring again renews: same token, a new lease.
                Renew(id, e, hold);
                break;
            case LockEventKind.Granted:
                if (hold is not null)
                {
                    Violation($"event {id} ({e}): granted while {hold.Owner} holds it with token {hold.Token} until {hold.UntilMs}");
                }

                if (e.Token <= state.MaxToken)
                {
                    Violation($"event {id} ({e}): token {e.Token} is not above {state.MaxToken}, granted before: fencing tokens must only grow");
                }

                CheckLease(id, e);
                state.MaxToken = Math.Max(state.MaxToken, e.Token);
                state.Current = new Hold(e.Owner, e.Token, e.AtMs, e.UntilMs, id);
                state.Holds.Add(state.Current);
                break;
            case LockEventKind.Renewed:
                if (hold is null || hold.Owner != e.Owner)
                {
                    Violation($"event {id} ({e}): renewed by {e.Owner}, who does not hold it ({HolderText(hold)})");
                }
                else
                {
                    Renew(id, e, hold);
                }

                break;
            case LockEventKind.Released:
                if (hold is null || hold.Owner != e.Owner || hold.Token != e.Token)
                {
                    Violation($"event {id} ({e}): released by {e.Owner} with token {e.Token}, but {HolderText(hold)}");
                }
                else
                {
                    hold.EndMs = e.AtMs;
                    hold.Released = true;
                    state.Current = null;
                }

                break;
            case LockEventKind.Refused:
                if (hold is null || hold.Owner != e.Holder || hold.UntilMs != e.UntilMs || e.Holder == e.Owner)
                {
                    Violation($"event {id} ({e}): refused, but {HolderText(hold)}");
                }

                break;
        }

        if (e.Kind != LockEventKind.Refused)
        {
            _told.Add((e.Kind == LockEventKind.Released ? LockEventKind.Released : LockEventKind.Granted, e.Lock, e.Owner, e.Token, e.Kind == LockEventKind.Released ? 0 : e.UntilMs));
        }
    }

    public void OnAnswer(in LockAnswer answer)
    {
        if (answer.Kind == LockEventKind.Refused)
        {
            throw new ArgumentException("a refusal tells a client nothing to check", nameof(answer));
        }

        _answers.Add(answer);
    }

    public CheckResult Check()
    {
        var violations = new List<string>(_violations);
        foreach (var (name, state) in _locks)
        {
            CheckHoldsApart(name, state.Holds, violations);
        }

        foreach (var a in _answers)
        {
            var released = a.Kind == LockEventKind.Released;
            if (!_told.Contains((released ? LockEventKind.Released : LockEventKind.Granted, a.Lock, a.Owner, a.Token, released ? 0 : a.UntilMs)))
            {
                violations.Add(released
                    ? $"{a.Owner} was told it released \"{a.Lock}\" with token {a.Token}, but no such release was applied"
                    : $"{a.Owner} was told it holds \"{a.Lock}\" with token {a.Token} until {a.UntilMs}, but no grant or renewal of that was applied");
            }
        }

        return CheckResult.FromViolations(violations, "locks");
    }

    // Holds sorted by start: one intersects an earlier hold of another owner when it starts before that one ended.
    // The latest-ending earlier hold of an owner other than this one's is the top end, or else the top end among
    // owners other than the top's owner, so two running maxima suffice.
    private static void CheckHoldsApart(string name, List<Hold> holds, List<string> violations)
    {
        Hold? top = null;
        Hold? second = null;
        foreach (var hold in holds.OrderBy(h => h.StartMs).ThenBy(h => h.Event))
        {
            var rival = top is not null && top.Owner != hold.Owner ? top : second;
            if (rival is not null && rival.Owner != hold.Owner && rival.EndMs > hold.StartMs)
            {
                violations.Add($"\"{name}\": {rival.Owner} held it over [{rival.StartMs}, {rival.EndMs}) (token {rival.Token}) and {hold.Owner} over [{hold.StartMs}, {hold.EndMs}) (token {hold.Token}): two holders at once");
            }

            if (top is null || hold.EndMs > top.EndMs)
            {
                if (top is not null && top.Owner != hold.Owner)
                {
                    second = top;
                }

                top = hold;
            }
            else if (hold.Owner != top.Owner && (second is null || hold.EndMs > second.EndMs))
            {
                second = hold;
            }
        }
    }

    private static string HolderText(Hold? hold) =>
        hold is null ? "nobody holds it" : $"{hold.Owner} holds it with token {hold.Token} until {hold.UntilMs}";

    private void Renew(int id, in LockEvent e, Hold hold)
    {
        if (e.Token != hold.Token)
        {
            Violation($"event {id} ({e}): the renewal changed the token from {hold.Token}: a renewal keeps it");
        }

        CheckLease(id, e);
        hold.UntilMs = e.UntilMs;
        hold.EndMs = e.UntilMs;
    }

    private void CheckLease(int id, in LockEvent e)
    {
        if (e.UntilMs <= e.AtMs)
        {
            Violation($"event {id} ({e}): the lease ends before it begins");
        }
    }

    private void Violation(string text) => _violations.Add(text);

    private sealed class LockState
    {
        public Hold? Current { get; set; }

        public ulong MaxToken { get; set; }

        public List<Hold> Holds { get; } = [];
    }

    /// <summary>One owner's hold of a lock, from its grant; it ends at its release or its last expiry.</summary>
    private sealed class Hold(string owner, ulong token, long startMs, long untilMs, int @event)
    {
        public string Owner { get; } = owner;

        public ulong Token { get; } = token;

        public long StartMs { get; } = startMs;

        public int Event { get; } = @event;

        public long UntilMs { get; set; } = untilMs;

        public long EndMs { get; set; } = untilMs;

        public bool Released { get; set; }

        public bool Held(long atMs) => !Released && UntilMs > atMs;
    }
}
