using System.Buffers.Binary;

namespace Raft.Core;

/// <summary>What a single-server membership change does.</summary>
public enum MembershipChangeKind : byte
{
    AddVoter = 1,
    AddLearner = 2,
    PromoteLearner = 3,
    Remove = 4,
}

/// <summary>One single-server change; the core allows one uncommitted change at a time.</summary>
public readonly record struct MembershipChange(MembershipChangeKind Kind, int NodeId);

/// <summary>
/// An immutable set of voters and learners. Ids are positive and sorted; a node is never both.
/// </summary>
public sealed class Membership : IEquatable<Membership>
{
    // Wire layout, little-endian; the payload of a Membership entry and part of snapshot metadata:
    //
    //  0       2       4                     4+4*V                 4+4*(V+L)
    //  +-------+-------+---------------------+---------------------+
    //  |   V   |   L   | voter ids (i32 x V) | learner ids (i32 xL)|
    //  +-------+-------+---------------------+---------------------+
    private const int HeaderBytes = 4;

    /// <summary>The most members a cluster may have; bounds decoding of untrusted bytes.</summary>
    public const int MembersMax = 64;

    private readonly int[] _voters;
    private readonly int[] _learners;

    public static readonly Membership Empty = new([], []);

    private Membership(int[] voters, int[] learners)
    {
        _voters = voters;
        _learners = learners;
    }

    public ReadOnlySpan<int> Voters => _voters;

    public ReadOnlySpan<int> Learners => _learners;

    public int Count => _voters.Length + _learners.Length;

    /// <summary>Votes needed to win an election or commit: a strict majority of voters.</summary>
    public int Quorum => (_voters.Length / 2) + 1;

    public static Membership Create(IEnumerable<int> voters, IEnumerable<int>? learners = null)
    {
        ArgumentNullException.ThrowIfNull(voters);
        var v = voters.Distinct().Order().ToArray();
        var l = (learners ?? []).Distinct().Order().ToArray();
        Validate(v, l);
        return new Membership(v, l);
    }

    public bool IsVoter(int id) => Array.BinarySearch(_voters, id) >= 0;

    public bool IsLearner(int id) => Array.BinarySearch(_learners, id) >= 0;

    public bool Contains(int id) => IsVoter(id) || IsLearner(id);

    /// <summary>Applies one change; false with a reason when it is not a valid single-server change.</summary>
    public bool TryApply(MembershipChange change, out Membership result, out string? error)
    {
        result = this;
        error = null;
        var id = change.NodeId;
        if (id <= 0)
        {
            error = "node ids are positive";
            return false;
        }

        switch (change.Kind)
        {
            case MembershipChangeKind.AddVoter:
                if (Contains(id))
                {
                    error = IsLearner(id) ? $"node {id} is a learner: promote it instead" : $"node {id} is already a voter";
                    return false;
                }

                result = new Membership([.. _voters, id], _learners);
                break;
            case MembershipChangeKind.AddLearner:
                if (Contains(id))
                {
                    error = $"node {id} is already a member";
                    return false;
                }

                result = new Membership(_voters, [.. _learners, id]);
                break;
            case MembershipChangeKind.PromoteLearner:
                if (!IsLearner(id))
                {
                    error = $"node {id} is not a learner";
                    return false;
                }

                result = new Membership([.. _voters, id], [.. _learners.Where(x => x != id)]);
                break;
            case MembershipChangeKind.Remove:
                if (!Contains(id))
                {
                    error = $"node {id} is not a member";
                    return false;
                }

                if (IsVoter(id) && _voters.Length == 1)
                {
                    error = "cannot remove the last voter";
                    return false;
                }

                result = new Membership([.. _voters.Where(x => x != id)], [.. _learners.Where(x => x != id)]);
                break;
            default:
                error = $"unknown change kind {change.Kind}";
                return false;
        }

        Array.Sort(result._voters);
        Array.Sort(result._learners);
        if (result.Count > MembersMax)
        {
            error = $"a cluster has at most {MembersMax} members";
            result = this;
            return false;
        }

        return true;
    }

    public int EncodedBytes => HeaderBytes + (4 * Count);

    public int Encode(Span<byte> destination)
    {
        var size = EncodedBytes;
        if (destination.Length < size)
        {
            throw new ArgumentException($"membership needs {size} bytes", nameof(destination));
        }

        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)_voters.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], (ushort)_learners.Length);
        var offset = HeaderBytes;
        foreach (var id in _voters)
        {
            BinaryPrimitives.WriteInt32LittleEndian(destination[offset..], id);
            offset += 4;
        }

        foreach (var id in _learners)
        {
            BinaryPrimitives.WriteInt32LittleEndian(destination[offset..], id);
            offset += 4;
        }

        return size;
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[EncodedBytes];
        Encode(bytes);
        return bytes;
    }

    /// <summary>Decodes untrusted bytes; false (never an exception) when they are not a valid membership.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, out Membership membership, out int consumed)
    {
        membership = Empty;
        consumed = 0;
        if (source.Length < HeaderBytes)
        {
            return false;
        }

        int voterCount = BinaryPrimitives.ReadUInt16LittleEndian(source);
        int learnerCount = BinaryPrimitives.ReadUInt16LittleEndian(source[2..]);
        if (voterCount + learnerCount > MembersMax)
        {
            return false;
        }

        var size = HeaderBytes + (4 * (voterCount + learnerCount));
        if (source.Length < size)
        {
            return false;
        }

        var voters = new int[voterCount];
        var learners = new int[learnerCount];
        var offset = HeaderBytes;
        for (var i = 0; i < voterCount; i++, offset += 4)
        {
            voters[i] = BinaryPrimitives.ReadInt32LittleEndian(source[offset..]);
        }

        for (var i = 0; i < learnerCount; i++, offset += 4)
        {
            learners[i] = BinaryPrimitives.ReadInt32LittleEndian(source[offset..]);
        }

        if (!IsValid(voters, learners))
        {
            return false;
        }

        membership = new Membership(voters, learners);
        consumed = size;
        return true;
    }

    public static Membership Decode(ReadOnlySpan<byte> source) =>
        TryDecode(source, out var membership, out _) ? membership : throw new InvalidDataException("malformed membership");

    private static void Validate(int[] voters, int[] learners)
    {
        if (!IsValid(voters, learners))
        {
            throw new ArgumentException("node ids must be positive, unique, and a node cannot be both voter and learner");
        }
    }

    // Sorted, strictly increasing, positive, disjoint.
    private static bool IsValid(int[] voters, int[] learners)
    {
        if (voters.Length + learners.Length > MembersMax)
        {
            return false;
        }

        return IsStrictlyIncreasingPositive(voters) && IsStrictlyIncreasingPositive(learners)
            && !voters.Any(v => Array.BinarySearch(learners, v) >= 0);
    }

    private static bool IsStrictlyIncreasingPositive(int[] ids)
    {
        for (var i = 0; i < ids.Length; i++)
        {
            if (ids[i] <= 0 || (i > 0 && ids[i] <= ids[i - 1]))
            {
                return false;
            }
        }

        return true;
    }

    public bool Equals(Membership? other) =>
        other is not null && _voters.AsSpan().SequenceEqual(other._voters) && _learners.AsSpan().SequenceEqual(other._learners);

    public override bool Equals(object? obj) => Equals(obj as Membership);

    public override int GetHashCode()
    {
        var hash = default(HashCode);
        foreach (var v in _voters)
        {
            hash.Add(v);
        }

        hash.Add(-1);
        foreach (var l in _learners)
        {
            hash.Add(l);
        }

        return hash.ToHashCode();
    }

    public override string ToString() =>
        _learners.Length == 0 ? $"voters=[{string.Join(',', _voters)}]" : $"voters=[{string.Join(',', _voters)}] learners=[{string.Join(',', _learners)}]";
}
