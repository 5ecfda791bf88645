using System.Runtime.InteropServices;

namespace Raft.Faults.Tests;

/// <summary>
/// What must be undone however the process ends: run by the owner's <c>finally</c>, and also on process exit, Ctrl-C
/// (SIGINT) and SIGTERM, whichever comes first. Each action runs at most once.
/// </summary>
internal static class Teardown
{
    private static readonly Lock Gate = new();
    private static readonly List<Entry> Entries = [];
    private static PosixSignalRegistration[]? _signals;

    /// <summary>Registers <paramref name="action"/>; disposing the result runs it (once) and unregisters it.</summary>
    public static IDisposable Register(Action action)
    {
        var entry = new Entry(action);
        lock (Gate)
        {
            if (_signals is null)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) => RunAll();
                _signals = OperatingSystem.IsWindows() ? [] :
                [
                    PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => RunAll()),
                    PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => RunAll()),
                ];
            }

            Entries.Add(entry);
        }

        return entry;
    }

    private static void RunAll()
    {
        Entry[] entries;
        lock (Gate)
        {
            entries = [.. Entries];
        }

        foreach (var entry in entries)
        {
            entry.Dispose();
        }
    }

    private sealed class Entry(Action action) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
            {
                return;
            }

            lock (Gate)
            {
                Entries.Remove(this);
            }

            action();
        }
    }
}
