using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// Takes in one snapshot stream, bytes in order: from a leader's chunks, a backup file, or a snapshot taken locally
/// and written through <see cref="SnapshotStream.Open"/>. Nothing of it is visible in its store until
/// <see cref="Finish"/> has verified it and <see cref="ISnapshotStore.Install"/> has made it the latest.
/// </summary>
/// <remarks>
/// One writer. Dispose without a successful <see cref="Finish"/> abandons the stream and removes what was written.
/// After Write or Finish has thrown, the sink takes nothing more: dispose it.
/// </remarks>
public abstract class SnapshotSink : IDisposable
{
    /// <summary>Bytes taken so far.</summary>
    public abstract long Length { get; }

    /// <summary>The stream's metadata once its whole header has arrived and checked; null before.</summary>
    public abstract SnapshotMetadata? Metadata { get; }

    /// <summary>
    /// Appends the next bytes of the stream. The header is checked as soon as it is complete (a stream that is not a
    /// snapshot from its first bytes), and the CRC is folded as bytes arrive.
    /// </summary>
    /// <exception cref="SnapshotCorruptedException">The header is bad.</exception>
    public abstract void Write(ReadOnlySpan<byte> bytes);

    /// <summary>
    /// Checks that the stream is whole (its trailer gives the body's length and the CRC of everything before it, and
    /// is its last bytes, so bytes past the trailer fail here) and makes it durable: a verified snapshot, not yet the
    /// latest. The sink is spent afterwards; the staged snapshot owns the bytes.
    /// </summary>
    /// <exception cref="SnapshotCorruptedException">The stream is cut short, damaged, or followed by other bytes.</exception>
    public abstract StagedSnapshot Finish();

    /// <summary>A write-only stream over <see cref="Write"/>, to copy into. Disposing it leaves the sink as it is.</summary>
    public Stream AsStream() => new SinkStream(this);

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }

    private sealed class SinkStream(SnapshotSink sink) : ForwardOnlyStream
    {
        public override bool CanRead => false;

        public override bool CanWrite => true;

        public override void Write(byte[] buffer, int offset, int count)
        {
            ValidateBufferArguments(buffer, offset, count);
            sink.Write(buffer.AsSpan(offset, count));
        }

        public override void Write(ReadOnlySpan<byte> buffer) => sink.Write(buffer);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            ValidateBufferArguments(buffer, offset, count);
            return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        }

        /// <summary>The sink writes to a local file or to memory: done synchronously.</summary>
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            sink.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>
/// What every sink does alike: run the bytes through a <see cref="SnapshotStreamValidator"/> before keeping them,
/// refuse use after a failure or after <see cref="Finish"/>, and abandon what was kept if never finished.
/// </summary>
internal abstract class ValidatingSnapshotSink : SnapshotSink
{
    private readonly SnapshotStreamValidator _validator;
    private State _state;

    protected ValidatingSnapshotSink(string source) => _validator = new SnapshotStreamValidator(source);

    private enum State
    {
        Taking,
        Failed,
        Finished,
        Disposed,
    }

    public sealed override long Length => _validator.Length;

    public sealed override SnapshotMetadata? Metadata => _validator.Header?.Metadata;

    public sealed override void Write(ReadOnlySpan<byte> bytes)
    {
        ThrowIfNotTaking();
        try
        {
            _validator.Append(bytes);
            Keep(bytes);
        }
        catch
        {
            _state = State.Failed;
            throw;
        }
    }

    public sealed override StagedSnapshot Finish()
    {
        ThrowIfNotTaking();
        try
        {
            var staged = Stage(_validator.Complete(), _validator.Length);
            _state = State.Finished;
            return staged;
        }
        catch
        {
            _state = State.Failed;
            throw;
        }
    }

    /// <summary>Keeps bytes the validator has taken.</summary>
    protected abstract void Keep(ReadOnlySpan<byte> bytes);

    /// <summary>Makes the verified stream durable and hands its bytes over to a staged snapshot.</summary>
    protected abstract StagedSnapshot Stage(SnapshotHeader header, long length);

    /// <summary>Lets go of what was kept; the stream was not finished.</summary>
    protected abstract void Abandon();

    protected sealed override void Dispose(bool disposing)
    {
        if (_state is not (State.Finished or State.Disposed))
        {
            _state = State.Disposed;
            Abandon();
        }

        base.Dispose(disposing);
    }

    private void ThrowIfNotTaking()
    {
        ObjectDisposedException.ThrowIf(_state == State.Disposed, this);
        if (_state != State.Taking)
        {
            throw new InvalidOperationException(_state == State.Finished
                ? "the sink has finished; its snapshot is staged"
                : "the sink failed and takes nothing more; dispose it");
        }
    }
}
