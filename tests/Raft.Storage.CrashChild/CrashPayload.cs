namespace Raft.Storage.CrashChild;

/// <summary>The payload of entry <c>index</c> in a crash test: its length and bytes follow from the index alone.</summary>
public static class CrashPayload
{
    public const int BytesMax = 300;

    public static byte[] For(ulong index)
    {
        var length = (int)(index * 7919 % BytesMax);
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)((index * 31) + (ulong)i);
        }

        return bytes;
    }
}
