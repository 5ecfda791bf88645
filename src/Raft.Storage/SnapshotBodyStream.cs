using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// The body of a stored snapshot stream as a read-only, forward-only stream that folds the CRC as it goes and checks
/// the trailer before it hands out the body's last bytes: a reader that gets to the end of the body has verified it.
/// </summary>
/// <remarks>One reader; several of these may read the same bytes at once. Reads throw once the bytes' owner is disposed.</remarks>
internal sealed class SnapshotBodyStream : ForwardOnlyReadStream
{
    private readonly ISnapshotBytes _bytes;
    private readonly long _bodyStart;
    private readonly long _bodyEnd;
    private long _position;
    private uint _crc;
    private bool _verified;

    public SnapshotBodyStream(ISnapshotBytes bytes, SnapshotHeader header)
    {
        _bytes = bytes;
        _bodyStart = header.Bytes;
        _position = _bodyStart;
        _bodyEnd = bytes.Length - SnapshotFormat.TrailerBytes;
        _crc = header.RunningCrc;
    }

    public override int Read(Span<byte> buffer)
    {
        var wanted = (int)Math.Min(buffer.Length, _bodyEnd - _position);
        if (wanted == 0)
        {
            if (!buffer.IsEmpty)
            {
                Verify();
            }

            return 0;
        }

        var read = _bytes.ReadAt(_position, buffer[..wanted]);
        _crc = Crc32C.Append(_crc, buffer[..read]);
        _position += read;
        if (_position == _bodyEnd)
        {
            Verify();
        }

        return read;
    }

    /// <summary>Positional reads of a local file or of memory: done synchronously.</summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    private void Verify()
    {
        if (_verified)
        {
            return;
        }

        Span<byte> trailer = stackalloc byte[SnapshotFormat.TrailerBytes];
        if (_bytes.ReadAt(_bodyEnd, trailer) != trailer.Length)
        {
            SnapshotFormat.ThrowCorrupted(_bytes.Source, _bodyEnd, "the snapshot's trailer is cut short");
        }

        SnapshotFormat.CheckTrailer(trailer, _bodyEnd, _bodyEnd - _bodyStart, _crc, _bytes.Source);
        _verified = true;
    }
}
