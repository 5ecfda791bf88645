namespace Raft.Fuzzing;

/// <summary>A little-endian integer inside a sample (a length, a count) that a mutator may set to a boundary value.</summary>
/// <param name="Offset">Where it starts.</param>
/// <param name="Width">Its size in bytes: 1, 2, 4 or 8.</param>
public readonly record struct FuzzField(int Offset, int Width);

/// <summary>
/// A valid encoding, made in code from a random valid value, for a mutator to damage; with the positions of the
/// integers that say how long things are, so the mutator can lie about lengths and counts on purpose.
/// </summary>
public sealed class FuzzSample(byte[] bytes)
{
    public byte[] Bytes { get; } = bytes;

    public List<FuzzField> Fields { get; } = [];

    public FuzzSample Field(int offset, int width)
    {
        Fields.Add(new FuzzField(offset, width));
        return this;
    }
}
