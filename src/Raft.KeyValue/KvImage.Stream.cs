using System.Buffers.Binary;

namespace Raft.KeyValue;

public sealed partial class KvImage
{
    /// <summary>
    /// Writes the image's bytes as they are read: whole items (header, key, lock, session) are encoded into a 16 KiB
    /// buffer, which is handed out before more is encoded. A value too large for what is left of the buffer is handed
    /// out from its own array, after its key; an item whose head alone is larger than the buffer (a key or lock name
    /// near its 64 KiB bound) gets a buffer of its size.
    /// </summary>
    private sealed class ImageStream : Stream
    {
        private const int BufferBytes = 16 * 1024;

        private KvImage? _image;
        private readonly int _keyCount;
        private KvTree.Enumerator _keys;
        private LockEntry[] _locks;
        private SessionEntry[] _sessions;
        private LeaseEntry[] _leases;
        private readonly bool _withLeases;
        private byte[] _buffer = new byte[BufferBytes];

        // _buffer[_read, _written) is encoded and not yet read.
        private int _read;
        private int _written;

        // A value handed out from its own array, then the version and create index that follow it.
        private byte[]? _value;
        private int _valueRead;
        private bool _valueTailPending;
        private ulong _valueVersion;
        private ulong _valueCreateIndex;
        private ulong _valueLease;

        private Section _section;
        private bool _keyPending;
        private int _next;
        private long _position;

        public ImageStream(KvImage image)
        {
            _image = image;
            _keyCount = image._keys.Count;
            _keys = image._keys.From(string.Empty);
            _locks = image._locks;
            _sessions = image._sessions;
            _leases = image._leases;
            _withLeases = image.Format >= 4;
        }

        private enum Section
        {
            Header,
            Leases,
            Keys,
            Locks,
            Sessions,
            End,
        }

        public override bool CanRead => _image is not null;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException("an image's stream does not know its length before it ends");

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException("an image's stream does not seek");
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            ValidateBufferArguments(buffer, offset, count);
            return Read(buffer.AsSpan(offset, count));
        }

        public override int Read(Span<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_image is null || _image._disposed, this);
            var total = 0;
            while (total < buffer.Length)
            {
                int copied;
                if (_read < _written)
                {
                    copied = Math.Min(_written - _read, buffer.Length - total);
                    _buffer.AsSpan(_read, copied).CopyTo(buffer[total..]);
                    _read += copied;
                }
                else if (_value is not null)
                {
                    copied = Math.Min(_value.Length - _valueRead, buffer.Length - total);
                    _value.AsSpan(_valueRead, copied).CopyTo(buffer[total..]);
                    _valueRead += copied;
                    if (_valueRead == _value.Length)
                    {
                        _value = null;
                    }
                }
                else if (!Fill())
                {
                    break;
                }
                else
                {
                    continue;
                }

                total += copied;
            }

            _position += total;
            return total;
        }

        public override int ReadByte()
        {
            Span<byte> one = stackalloc byte[1];
            return Read(one) == 0 ? -1 : one[0];
        }

        // Producing the bytes is work on memory, not IO: done synchronously.
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<int>(cancellationToken) : ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("an image's stream does not seek");

        public override void SetLength(long value) => throw new NotSupportedException("an image's stream is read-only");

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("an image's stream is read-only");

        protected override void Dispose(bool disposing)
        {
            _image = null;
            _keys = default;
            _locks = [];
            _sessions = [];
            _leases = [];
            _value = null;
            _buffer = [];
            base.Dispose(disposing);
        }

        // Encodes the next items into the emptied buffer, up to where the next one no longer fits or a value is to be
        // handed out from its own array; false when the image has ended.
        private bool Fill()
        {
            _read = 0;
            _written = 0;
            if (_valueTailPending)
            {
                var tail = new FieldWriter(Reserve(_withLeases ? 24 : 16));
                tail.U64(_valueVersion);
                tail.U64(_valueCreateIndex);
                if (_withLeases)
                {
                    tail.U64(_valueLease);
                }

                _valueTailPending = false;
            }

            while (_section != Section.End && _value is null && TryWriteNext())
            {
            }

            return _written > 0 || _value is not null;
        }

        // Encodes one item, or moves to the next section; false when the item must wait for an emptied buffer.
        private bool TryWriteNext()
        {
            switch (_section)
            {
                case Section.Header:
                    var format = _image!.Format;
                    var header = new FieldWriter(Reserve(format == 2 ? KvStore.SnapshotHeaderBytes : KvStore.SnapshotHeaderBytes + 4));
                    header.U32(KvStore.SnapshotMagic);
                    header.U32(format);
                    header.U64(_image.Index);
                    header.U64((ulong)_keyCount);
                    header.U64((ulong)_image.ClockMs);
                    if (format != 2)
                    {
                        header.U32((uint)_image.ClusterVersion);
                    }

                    (_section, _next) = (_withLeases ? Section.Leases : Section.Keys, -1);
                    return true;
                case Section.Leases:
                    return TryWriteCounted(_leases.Length, Section.Keys, static (stream, i) => stream.TryWriteLease(stream._leases[i]));
                case Section.Keys:
                    if (!_keyPending && !_keys.MoveNext())
                    {
                        (_section, _next, _locks) = (Section.Locks, -1, SortedByName(_locks));
                        return true;
                    }

                    _keyPending = !TryWriteKey(_keys.Current);
                    return !_keyPending;
                case Section.Locks:
                    return TryWriteCounted(_locks.Length, Section.Sessions, static (stream, i) => stream.TryWriteLock(stream._locks[i]));
                case Section.Sessions:
                    return TryWriteCounted(_sessions.Length, Section.End, static (stream, i) => stream.TryWriteSession(stream._sessions[i]));
                default:
                    return false;
            }
        }

        // A section of a u32 count and that many items: the count when _next is -1, then item _next; moves on to the
        // next section after the last item.
        private bool TryWriteCounted(int count, Section next, Func<ImageStream, int, bool> tryWriteItem)
        {
            if (_next < 0)
            {
                if (!TryReserve(4, out var span))
                {
                    return false;
                }

                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)count);
            }
            else if (_next == count)
            {
                (_section, _next) = (next, -1);
                return true;
            }
            else if (!tryWriteItem(this, _next))
            {
                return false;
            }

            _next++;
            return true;
        }

        private bool TryWriteKey(in KvTree.Entry entry)
        {
            var keyBytes = FieldWriter.TextBytes(entry.Key, 2);
            var value = entry.Value.Value;
            var headBytes = 2 + keyBytes + 4;
            var wholeBytes = headBytes + (long)value.Length + (_withLeases ? 24 : 16);
            var whole = wholeBytes <= _buffer.Length - _written;
            if (!whole && _written > 0 && wholeBytes <= _buffer.Length)
            {
                // It fits the emptied buffer: wait for it rather than split a small value off.
                return false;
            }

            if (!TryReserve(whole ? (int)wholeBytes : headBytes, out var span))
            {
                return false;
            }

            var writer = new FieldWriter(span);
            writer.Text(entry.Key, keyBytes, 2);
            writer.U32((uint)value.Length);
            if (whole)
            {
                writer.Bytes(value);
                writer.U64(entry.Value.Version);
                writer.U64(entry.Value.CreateIndex);
                if (_withLeases)
                {
                    writer.U64(entry.Value.Lease);
                }
            }
            else
            {
                (_value, _valueRead) = (value, 0);
                (_valueTailPending, _valueVersion, _valueCreateIndex, _valueLease) = (true, entry.Value.Version, entry.Value.CreateIndex, entry.Value.Lease);
            }

            return true;
        }

        private bool TryWriteLease(in LeaseEntry entry)
        {
            if (!TryReserve(24, out var span))
            {
                return false;
            }

            var writer = new FieldWriter(span);
            writer.U64(entry.Id);
            writer.U64((ulong)entry.TtlMs);
            writer.U64((ulong)entry.ExpiresAtMs);
            return true;
        }

        private bool TryWriteLock(in LockEntry entry)
        {
            var nameBytes = FieldWriter.TextBytes(entry.Name, 2);
            var ownerBytes = FieldWriter.TextBytes(entry.Slot.Owner, 1);
            if (!TryReserve(2 + nameBytes + 1 + ownerBytes + (_withLeases ? 24 : 16), out var span))
            {
                return false;
            }

            var writer = new FieldWriter(span);
            writer.Text(entry.Name, nameBytes, 2);
            writer.Text(entry.Slot.Owner, ownerBytes, 1);
            writer.U64(entry.Slot.FencingToken);
            writer.U64((ulong)entry.Slot.ExpiresAtMs);
            if (_withLeases)
            {
                writer.U64(entry.Slot.Lease);
            }

            return true;
        }

        private bool TryWriteSession(in SessionEntry entry)
        {
            var idBytes = FieldWriter.TextBytes(entry.ClientId, 1);
            var holder = entry.Result.Holder ?? string.Empty;
            var holderBytes = FieldWriter.TextBytes(holder, 1);
            var txn = entry.Result.Txn;
            var txnBytes = _image!.Format == 2 ? 0 : TxnBytes(txn);
            if (!TryReserve(1 + idBytes + 16 + 41 + 1 + holderBytes + txnBytes + (_withLeases ? 16 : 0), out var span))
            {
                return false;
            }

            var writer = new FieldWriter(span);
            writer.Text(entry.ClientId, idBytes, 1);
            writer.U64(entry.Sequence);
            writer.U64((ulong)entry.LastUsedMs);
            var result = entry.Result;
            writer.U8((byte)result.Status);
            writer.U64(result.Index);
            writer.U64(result.Version);
            writer.U64(result.CreateIndex);
            writer.U64(result.FencingToken);
            writer.U64((ulong)result.ExpiresAtMs);
            writer.Text(holder, holderBytes, 1);
            if (_image.Format != 2)
            {
                WriteTxn(ref writer, txn);
            }

            if (_withLeases)
            {
                writer.U64(result.Lease);
                writer.U64((ulong)result.TtlMs);
            }

            return true;
        }

        // Format 3: a session's remembered transaction, so that a retry after a restore answers as the first time did:
        //    present u8 | succeeded u8 | R u16 | R results: kind u8 | found u8 | version u64 | create index u64 | deleted u64 | V u32 | value (V)
        private static int TxnBytes(KvTxnResult? txn)
        {
            if (txn is null)
            {
                return 1;
            }

            var bytes = 4L;
            foreach (var result in txn.Results)
            {
                bytes += 30 + (result.Value?.Length ?? 0);
            }

            return checked((int)bytes);
        }

        private static void WriteTxn(ref FieldWriter writer, KvTxnResult? txn)
        {
            writer.U8(txn is null ? (byte)0 : (byte)1);
            if (txn is null)
            {
                return;
            }

            writer.U8(txn.Succeeded ? (byte)1 : (byte)0);
            writer.U16((ushort)txn.Results.Length);
            foreach (var result in txn.Results)
            {
                writer.U8((byte)result.Kind);
                writer.U8(result.Found ? (byte)1 : (byte)0);
                writer.U64(result.Version);
                writer.U64(result.CreateIndex);
                writer.U64(result.Deleted);
                writer.U32((uint)(result.Value?.Length ?? 0));
                writer.Bytes(result.Value);
            }
        }

        // The next bytes of the buffer; false when they do not fit behind what it holds. An empty buffer too small
        // for them is replaced by one of their size.
        private bool TryReserve(int bytes, out Span<byte> span)
        {
            if (_buffer.Length - _written < bytes)
            {
                if (_written > 0)
                {
                    span = default;
                    return false;
                }

                _buffer = new byte[bytes];
            }

            span = _buffer.AsSpan(_written, bytes);
            _written += bytes;
            return true;
        }

        // Bytes that always fit: what an emptied buffer starts with.
        private Span<byte> Reserve(int bytes) =>
            TryReserve(bytes, out var span) ? span : throw new InvalidOperationException($"{bytes} bytes do not fit a buffer of {_buffer.Length} holding {_written}");

        private static LockEntry[] SortedByName(LockEntry[] locks)
        {
            var sorted = (LockEntry[])locks.Clone();
            Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            return sorted;
        }
    }

    /// <summary>Writes fields one after another into a span sized for them.</summary>
    private ref struct FieldWriter(Span<byte> span)
    {
        private readonly Span<byte> _span = span;
        private int _at;

        // The UTF-8 length of a text whose length prefix has lengthBytes (1 or 2) bytes. The text was checked against
        // that bound when it came in; one beyond it is a broken invariant.
        public static int TextBytes(string text, int lengthBytes)
        {
            var bytes = KvStore.StrictUtf8.GetByteCount(text);
            if (bytes >= 1 << (8 * lengthBytes))
            {
                throw new InvalidOperationException($"'{text}' has {bytes} bytes, more than its {lengthBytes}-byte length prefix can say");
            }

            return bytes;
        }

        public void U8(byte value) => _span[_at++] = value;

        public void U16(ushort value)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(_span[_at..], value);
            _at += 2;
        }

        public void U32(uint value)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_span[_at..], value);
            _at += 4;
        }

        public void U64(ulong value)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_span[_at..], value);
            _at += 8;
        }

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_span[_at..]);
            _at += bytes.Length;
        }

        public void Text(string text, int textBytes, int lengthBytes)
        {
            if (lengthBytes == 1)
            {
                U8((byte)textBytes);
            }
            else
            {
                BinaryPrimitives.WriteUInt16LittleEndian(_span[_at..], (ushort)textBytes);
                _at += 2;
            }

            _at += KvStore.StrictUtf8.GetBytes(text, _span[_at..]);
        }
    }
}
