namespace Raft.Transport;

/// <summary>
/// Bytes from a peer that are not a valid frame: bad magic, unknown version or type, a length over the
/// configured bound, a CRC mismatch, or a body that does not parse. Thrown by <see cref="FrameCodec"/> and
/// caught at the connection boundary, which closes that one connection and logs this message.
/// </summary>
public sealed class FrameFormatException : Exception
{
    public FrameFormatException()
    {
    }

    public FrameFormatException(string message)
        : base(message)
    {
    }

    public FrameFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
