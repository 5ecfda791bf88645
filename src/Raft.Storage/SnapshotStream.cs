using Raft.Core;

namespace Raft.Storage;

/// <summary>Snapshot streams outside a store: producing one from an image, and reading one from any file.</summary>
public static class SnapshotStream
{
    /// <summary>
    /// A read-only, forward-only stream of the snapshot stream for <paramref name="metadata"/> and the image bytes in
    /// <paramref name="body"/>: header, then the body as it is read from <paramref name="body"/> (never all in memory),
    /// then the trailer. To take a snapshot (copy it into a <see cref="SnapshotSink"/>) or to serve one as a backup
    /// (copy it into a response). It owns <paramref name="body"/> and disposes it with itself.
    /// </summary>
    public static Stream Open(SnapshotMetadata metadata, Stream body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (!body.CanRead)
        {
            throw new ArgumentException("the body stream must be readable", nameof(body));
        }

        return new EncodingStream(SnapshotFormat.EncodeHeader(metadata), body);
    }

    /// <summary>
    /// Opens a snapshot stream stored in a file of its own (a backup, say), checking its header and that its size is
    /// the one its trailer gives. The body is checked against the trailer as it is read (<see cref="SnapshotReader.OpenBody"/>).
    /// </summary>
    /// <exception cref="SnapshotCorruptedException">A damaged header, or a file too short or of the wrong size.</exception>
    public static SnapshotReader OpenFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = FileSnapshotBytes.Open(Path.GetFullPath(path), out var header);
        return new StoredSnapshotReader(bytes, header);
    }

    /// <summary>
    /// A read-only, forward-only stream of the image bytes in <paramref name="body"/> that writes, as it is read, the
    /// snapshot stream for <paramref name="metadata"/> into <paramref name="sink"/>: the header now, each body byte as it
    /// is read, the trailer once the body has ended. One pass over a backup both loads its image (whoever reads this
    /// stream) and copies it under a new header. It owns <paramref name="body"/>; the caller still finishes the sink.
    /// </summary>
    public static Stream OpenCopying(SnapshotMetadata metadata, Stream body, SnapshotSink sink)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(sink);
        if (!body.CanRead)
        {
            throw new ArgumentException("the body stream must be readable", nameof(body));
        }

        return new CopyingStream(SnapshotFormat.EncodeHeader(metadata), body, sink);
    }

    private sealed class CopyingStream : ForwardOnlyReadStream
    {
        private readonly Stream _body;
        private readonly SnapshotSink _sink;
        private long _bodyBytes;
        private uint _crc;
        private bool _ended;

        public CopyingStream(byte[] header, Stream body, SnapshotSink sink)
        {
            _body = body;
            _sink = sink;
            sink.Write(header);
            _crc = Crc32C.Append(Crc32C.Seed, header);
        }

        public override int Read(Span<byte> buffer)
        {
            if (_ended || buffer.IsEmpty)
            {
                return 0;
            }

            var read = _body.Read(buffer);
            Copied(buffer[..read]);
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_ended || buffer.IsEmpty)
            {
                return 0;
            }

            var read = await _body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            Copied(buffer.Span[..read]);
            return read;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _body.Dispose();
            }

            base.Dispose(disposing);
        }

        // Body bytes just read go to the sink; none (the body's end) writes the trailer.
        private void Copied(ReadOnlySpan<byte> read)
        {
            if (!read.IsEmpty)
            {
                _sink.Write(read);
                _crc = Crc32C.Append(_crc, read);
                _bodyBytes += read.Length;
                return;
            }

            _ended = true;
            Span<byte> trailer = stackalloc byte[SnapshotFormat.TrailerBytes];
            SnapshotFormat.EncodeTrailer(trailer, _bodyBytes, _crc);
            _sink.Write(trailer);
        }
    }

    private sealed class EncodingStream : ForwardOnlyReadStream
    {
        private readonly Stream _body;
        private readonly byte[] _trailer = new byte[SnapshotFormat.TrailerBytes];
        private ReadOnlyMemory<byte> _pending;
        private Phase _phase;
        private long _bodyBytes;
        private uint _crc;

        public EncodingStream(byte[] header, Stream body)
        {
            _body = body;
            _pending = header;
            _crc = Crc32C.Append(Crc32C.Seed, header);
        }

        private enum Phase
        {
            Header,
            Body,
            Trailer,
        }

        public override int Read(Span<byte> buffer)
        {
            if (_phase == Phase.Body && !buffer.IsEmpty)
            {
                var read = _body.Read(buffer);
                if (TookBody(buffer[..read]))
                {
                    return read;
                }
            }

            return Serve(buffer);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_phase == Phase.Body && !buffer.IsEmpty)
            {
                var read = await _body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (TookBody(buffer.Span[..read]))
                {
                    return read;
                }
            }

            return Serve(buffer.Span);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _body.Dispose();
            }

            base.Dispose(disposing);
        }

        /// <summary>Folds body bytes just read; false when the body has ended, after which the trailer is pending.</summary>
        private bool TookBody(ReadOnlySpan<byte> read)
        {
            if (!read.IsEmpty)
            {
                _crc = Crc32C.Append(_crc, read);
                _bodyBytes += read.Length;
                return true;
            }

            _phase = Phase.Trailer;
            SnapshotFormat.EncodeTrailer(_trailer, _bodyBytes, _crc);
            _pending = _trailer;
            return false;
        }

        /// <summary>Hands out header or trailer bytes, then nothing: the end of the stream.</summary>
        private int Serve(Span<byte> buffer)
        {
            var take = Math.Min(buffer.Length, _pending.Length);
            _pending.Span[..take].CopyTo(buffer);
            _pending = _pending[take..];
            if (_pending.IsEmpty && _phase == Phase.Header)
            {
                _phase = Phase.Body;
            }

            return take;
        }
    }
}
