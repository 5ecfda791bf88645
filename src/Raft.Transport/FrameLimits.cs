namespace Raft.Transport;

/// <summary>
/// What a decoder accepts from a peer and an encoder agrees to produce. Both ends of a connection should use
/// the same limits: a frame one side may write but the other refuses closes the connection every time.
/// </summary>
/// <param name="FrameBytesMax">Largest frame, header included.</param>
/// <param name="EntriesPerFrameMax">Most entries one Append may carry.</param>
public readonly record struct FrameLimits(int FrameBytesMax, int EntriesPerFrameMax)
{
    public const int DefaultFrameBytesMax = 64 * 1024 * 1024;
    public const int DefaultEntriesPerFrameMax = 64 * 1024;

    public static FrameLimits Default => new(DefaultFrameBytesMax, DefaultEntriesPerFrameMax);
}
