namespace Raft.Core;

/// <summary>
/// A frozen state of a replicated state machine at <see cref="Index"/>: what a snapshot holds. It is captured on the
/// state machine's thread in time that does not grow with the state's size, and is immutable from then on, so it can
/// be written out from another thread while the state machine goes on applying.
/// </summary>
/// <remarks>Dispose releases what the image pins; streams opened before that must not be read after it.</remarks>
public interface IStateMachineImage : IDisposable
{
    /// <summary>The index of the last log entry the image reflects.</summary>
    ulong Index { get; }

    /// <summary>
    /// A new read-only stream of the image's bytes, produced as it is read (never the whole image in memory). The bytes
    /// are a function of the state alone, so replicas at the same index produce the same bytes. Any thread may read
    /// it, and several streams of one image may be read at once.
    /// </summary>
    Stream OpenRead();
}
