using System.Diagnostics.CodeAnalysis;
using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// Argument checks shared by every <see cref="ILogStore"/>, so that all implementations reject the same
/// misuse with the same exception before changing anything.
/// </summary>
internal static class LogContract
{
    /// <summary>
    /// Checks a batch against a log holding <c>[firstIndex, lastIndex]</c>. <paramref name="termBefore"/> is the
    /// term of the entry just before the batch, or 0 when that entry is not in the log.
    /// </summary>
    public static void CheckAppend(ReadOnlySpan<Entry> entries, ulong firstIndex, ulong lastIndex, ulong termBefore, int entryBytesMax)
    {
        var first = entries[0].Index;
        if (first < firstIndex || first > lastIndex + 1)
        {
            ThrowArgument(nameof(entries), $"batch starts at index {first} but the log holds [{firstIndex}, {lastIndex}]: the next index must lie in [{firstIndex}, {lastIndex + 1}]");
        }

        var previousTerm = termBefore;
        for (var i = 0; i < entries.Length; i++)
        {
            ref readonly var e = ref entries[i];
            if (e.Index != first + (ulong)i)
            {
                ThrowArgument(nameof(entries), $"entry {i} of the batch has index {e.Index}, expected {first + (ulong)i}: indices must be consecutive");
            }

            if (e.Term < previousTerm || e.Term == 0)
            {
                ThrowArgument(nameof(entries), $"entry {e.Index} has term {e.Term} after term {previousTerm}: terms are positive and never decrease");
            }

            if (e.Data.Length > entryBytesMax)
            {
                ThrowArgument(nameof(entries), $"entry {e.Index} carries {e.Data.Length} bytes, more than the configured maximum of {entryBytesMax}");
            }

            if (e.Type > EntryType.Membership)
            {
                ThrowArgument(nameof(entries), $"entry {e.Index} has unknown type {(byte)e.Type}");
            }

            previousTerm = e.Term;
        }
    }

    public static void CheckRead(ulong first, ulong last, long maxBytes, ulong firstIndex, ulong lastIndex)
    {
        if (first > last || first < firstIndex || last > lastIndex)
        {
            ThrowRange($"read of [{first}, {last}] outside the log [{firstIndex}, {lastIndex}]");
        }

        if (maxBytes < 0)
        {
            ThrowRange($"maxBytes is {maxBytes}");
        }
    }

    public static void CheckTruncate(ulong lastIndexKept, ulong firstIndex)
    {
        if (lastIndexKept + 1 < firstIndex)
        {
            ThrowRange($"cannot truncate to {lastIndexKept}: entries below {firstIndex} are compacted");
        }
    }

    [DoesNotReturn]
    private static void ThrowArgument(string paramName, string message) => throw new ArgumentException(message, paramName);

    [DoesNotReturn]
    private static void ThrowRange(string message) => throw new ArgumentOutOfRangeException(null, message);
}
