using Raft.Core;

namespace Raft.Storage;

/// <summary>
/// Checks a snapshot stream as it arrives in pieces of any size: the header as soon as it is complete, the CRC as
/// the body passes, the trailer at the end. Every sink runs its bytes through one of these before keeping them.
/// </summary>
/// <remarks>
/// The stream does not say where the body ends (see <see cref="SnapshotFormat"/>), so the last
/// <see cref="SnapshotFormat.TrailerBytes"/> bytes taken are held back: they are the trailer if the stream ends
/// there, and otherwise pass into the body (and the CRC) as more bytes push them out. Bytes after a genuine trailer
/// are therefore refused by <see cref="Complete"/>: the bytes then in trailer position are not a trailer.
/// Not thread-safe: one writer.
/// </remarks>
internal sealed class SnapshotStreamValidator
{
    private readonly string _source;
    private readonly byte[] _headerBuffer = new byte[SnapshotFormat.HeaderBytesMax];
    private readonly byte[] _tail = new byte[SnapshotFormat.TrailerBytes];
    private int _headerFilled;
    private int _tailFilled;
    private long _bodyBytes;
    private uint _crc;

    public SnapshotStreamValidator(string source) => _source = source;

    /// <summary>The checked header; null until it has arrived whole.</summary>
    public SnapshotHeader? Header { get; private set; }

    /// <summary>Bytes taken so far.</summary>
    public long Length { get; private set; }

    /// <summary>Takes the next bytes of the stream.</summary>
    /// <exception cref="SnapshotCorruptedException">The header, complete or not, is already known to be bad.</exception>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        var offered = bytes.Length;
        while (Header is null && !bytes.IsEmpty)
        {
            var take = Math.Min(SnapshotFormat.HeaderBytesFor(_headerBuffer.AsSpan(0, _headerFilled)) - _headerFilled, bytes.Length);
            bytes[..take].CopyTo(_headerBuffer.AsSpan(_headerFilled));
            _headerFilled += take;
            bytes = bytes[take..];
            Header = SnapshotFormat.TryReadHeader(_headerBuffer.AsSpan(0, _headerFilled), _source);
            if (Header is not null)
            {
                _crc = Header.RunningCrc;
            }
        }

        if (bytes.Length >= _tail.Length)
        {
            // Everything held back and all but the last bytes offered are body.
            Fold(_tail.AsSpan(0, _tailFilled));
            Fold(bytes[..^_tail.Length]);
            bytes[^_tail.Length..].CopyTo(_tail);
            _tailFilled = _tail.Length;
        }
        else if (!bytes.IsEmpty)
        {
            var pushedOut = Math.Max(0, _tailFilled + bytes.Length - _tail.Length);
            Fold(_tail.AsSpan(0, pushedOut));
            _tail.AsSpan(pushedOut, _tailFilled - pushedOut).CopyTo(_tail);
            _tailFilled -= pushedOut;
            bytes.CopyTo(_tail.AsSpan(_tailFilled));
            _tailFilled += bytes.Length;
        }

        Length += offered;
    }

    /// <summary>Checks that the stream taken so far is whole: header, body, and a trailer that matches both.</summary>
    /// <exception cref="SnapshotCorruptedException">It is not.</exception>
    public SnapshotHeader Complete()
    {
        if (Header is null)
        {
            SnapshotFormat.ThrowCorrupted(_source, Length, $"the stream ends after {Length} bytes, inside its header");
        }

        if (_tailFilled < _tail.Length)
        {
            SnapshotFormat.ThrowCorrupted(_source, Length, $"the stream ends {_tailFilled} bytes after its header, too short for a trailer");
        }

        SnapshotFormat.CheckTrailer(_tail, Length - _tail.Length, _bodyBytes, _crc, _source);
        return Header;
    }

    private void Fold(ReadOnlySpan<byte> body)
    {
        _crc = Crc32C.Append(_crc, body);
        _bodyBytes += body.Length;
    }
}
