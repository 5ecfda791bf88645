using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// A whole snapshot stream (see <see cref="SnapshotFormat"/>) whose header has been checked: read raw by position, to
/// send it on in chunks, or as its body, checked against the trailer as it is read.
/// </summary>
/// <remarks>
/// Thread-safe: <see cref="ReadAt"/> may be called from any thread, and several body streams may be open at once.
/// It keeps its bytes readable after a newer snapshot replaced it in its store, until it is disposed; streams opened
/// from it must not be read after that.
/// </remarks>
public abstract class SnapshotReader : IDisposable
{
    public abstract SnapshotMetadata Metadata { get; }

    /// <summary>The whole stream's bytes: header, body and trailer.</summary>
    public abstract long Length { get; }

    /// <summary>
    /// Copies the stream's raw bytes from <paramref name="offset"/> into <paramref name="destination"/>: all it asks
    /// for unless the stream ends first; 0 at or past the end. These bytes are sent on unverified; the receiver's
    /// sink checks them.
    /// </summary>
    public abstract int ReadAt(long offset, Span<byte> destination);

    /// <summary>
    /// The body (the state machine's image) as a new read-only, forward-only stream. It checks the CRC and the trailer
    /// when it reaches the end of the body, before handing out the body's last bytes, and throws
    /// <see cref="SnapshotCorruptedException"/> (naming the source and the offset) if they do not match; so a body
    /// read to its end is a verified one.
    /// </summary>
    public abstract Stream OpenBody();

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>A reader over stored bytes whose framing has been checked.</summary>
internal sealed class StoredSnapshotReader : SnapshotReader
{
    private readonly ISnapshotBytes _bytes;
    private readonly SnapshotHeader _header;

    public StoredSnapshotReader(ISnapshotBytes bytes, SnapshotHeader header)
    {
        _bytes = bytes;
        _header = header;
    }

    public override SnapshotMetadata Metadata => _header.Metadata;

    public override long Length => _bytes.Length;

    public override int ReadAt(long offset, Span<byte> destination) => _bytes.ReadAt(offset, destination);

    public override Stream OpenBody() => new SnapshotBodyStream(_bytes, _header);

    protected override void Dispose(bool disposing)
    {
        if (disposing && _bytes is IDisposable owned)
        {
            owned.Dispose();
        }

        base.Dispose(disposing);
    }
}
