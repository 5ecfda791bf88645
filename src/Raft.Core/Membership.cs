using System.Buffers.Binary;
using System.Text;

namespace Raft.Core;

/// <summary>What a single-server membership change does.</summary>
public enum MembershipChangeKind : byte
{
    AddVoter = 1,
    AddLearner = 2,
    PromoteLearner = 3,
    Remove = 4,
}

/// <summary>
/// One single-server change; the core allows one uncommitted change at a time. An added member's
/// <paramref name="Addresses"/> become part of the replicated configuration.
/// </summary>
public readonly record struct MembershipChange(MembershipChangeKind Kind, int NodeId, MemberAddresses? Addresses = null);

/// <summary>
/// Where a member is reached: its peer (Raft) endpoint and its HTTP base address, as opaque strings of at most
/// <see cref="BytesMax"/> UTF-8 bytes each; an empty string is "not known".
/// </summary>
public sealed record MemberAddresses(string Peer, string Http)
{
    public const int BytesMax = 255;

    public static readonly MemberAddresses Unknown = new(string.Empty, string.Empty);

    public bool IsValid =>
        Peer is not null && Http is not null
        && System.Text.Encoding.UTF8.GetByteCount(Peer) <= BytesMax && System.Text.Encoding.UTF8.GetByteCount(Http) <= BytesMax;
}

/// <summary>
/// An immutable set of voters and learners, with the addresses each member is reached at. Ids are positive and
/// sorted; a node is never both.
/// </summary>
public sealed class Membership : IEquatable<Membership>
{
    // Wire layout, little-endian; the payload of a Membership entry and part of snapshot metadata:
    //
    //  0       2       4                     4+4*V                 4+4*(V+L)
    //  +-------+-------+---------------------+---------------------+--------------------------------+
    //  |   V   | A|L   | voter ids (i32 x V) | learner ids (i32 xL)| addresses, when A (bit 15) set |
    //  +-------+-------+---------------------+---------------------+--------------------------------+
    //
    // The addresses follow in the order of the ids (voters, then learners), each as u8 length + UTF-8 peer endpoint,
    // u8 length + UTF-8 HTTP address. A decoder that predates them reads A|L as more than MembersMax learners and
    // refuses the entry rather than misreading it.
    private const int HeaderBytes = 4;
    private const ushort AddressesFlag = 0x8000;

    /// <summary>The most members a cluster may have; bounds decoding of untrusted bytes.</summary>
    public const int MembersMax = 64;

    /// <summary>The most bytes an encoded membership takes.</summary>
    public const int EncodedBytesMax = HeaderBytes + (MembersMax * (4 + 2 + (2 * MemberAddresses.BytesMax)));

    private readonly int[] _voters;
    private readonly int[] _learners;

    // Only members with a known address; never a non-member.
    private readonly Dictionary<int, MemberAddresses> _addresses;

    public static readonly Membership Empty = new([], [], []);

    private Membership(int[] voters, int[] learners, Dictionary<int, MemberAddresses> addresses)
    {
        _voters = voters;
        _learners = learners;
        _addresses = addresses;
    }

    public ReadOnlySpan<int> Voters => _voters;

    public ReadOnlySpan<int> Learners => _learners;

    public int Count => _voters.Length + _learners.Length;

    /// <summary>Every member: the voters, then the learners, each in id order (the order of the encoded addresses).</summary>
    public IEnumerable<int> Ids => _voters.Concat(_learners);

    /// <summary>Votes needed to win an election or commit: a strict majority of voters.</summary>
    public int Quorum => (_voters.Length / 2) + 1;

    public static Membership Create(IEnumerable<int> voters, IEnumerable<int>? learners = null, IReadOnlyDictionary<int, MemberAddresses>? addresses = null)
    {
        ArgumentNullException.ThrowIfNull(voters);
        var v = voters.Distinct().Order().ToArray();
        var l = (learners ?? []).Distinct().Order().ToArray();
        Validate(v, l);
        var known = new Dictionary<int, MemberAddresses>();
        foreach (var (id, a) in addresses ?? new Dictionary<int, MemberAddresses>())
        {
            if (!a.IsValid)
            {
                throw new ArgumentException($"node {id}'s addresses are longer than {MemberAddresses.BytesMax} bytes", nameof(addresses));
            }

            if (Array.BinarySearch(v, id) >= 0 || Array.BinarySearch(l, id) >= 0)
            {
                known[id] = a;
            }
        }

        return new Membership(v, l, known);
    }

    public bool IsVoter(int id) => Array.BinarySearch(_voters, id) >= 0;

    public bool IsLearner(int id) => Array.BinarySearch(_learners, id) >= 0;

    public bool Contains(int id) => IsVoter(id) || IsLearner(id);

    /// <summary>The addresses the configuration gives for <paramref name="id"/>; false when it gives none.</summary>
    public bool TryGetAddresses(int id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MemberAddresses? addresses) =>
        _addresses.TryGetValue(id, out addresses);

    /// <summary>The same members, with <paramref name="addresses"/> for those the configuration gives none.</summary>
    public Membership WithAddressesWhereUnknown(IReadOnlyDictionary<int, MemberAddresses> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var merged = new Dictionary<int, MemberAddresses>(_addresses);
        foreach (var (id, a) in addresses)
        {
            if (Contains(id) && a.IsValid)
            {
                merged.TryAdd(id, a);
            }
        }

        return new Membership(_voters, _learners, merged);
    }

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

        if (change.Addresses is { IsValid: false })
        {
            error = $"an address is longer than {MemberAddresses.BytesMax} bytes";
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

                result = new Membership([.. _voters, id], _learners, WithAddress(id, change.Addresses));
                break;
            case MembershipChangeKind.AddLearner:
                if (Contains(id))
                {
                    error = $"node {id} is already a member";
                    return false;
                }

                result = new Membership(_voters, [.. _learners, id], WithAddress(id, change.Addresses));
                break;
            case MembershipChangeKind.PromoteLearner:
                if (!IsLearner(id))
                {
                    error = $"node {id} is not a learner";
                    return false;
                }

                result = new Membership([.. _voters, id], [.. _learners.Where(x => x != id)], WithAddress(id, change.Addresses));
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

                var rest = new Dictionary<int, MemberAddresses>(_addresses);
                rest.Remove(id);
                result = new Membership([.. _voters.Where(x => x != id)], [.. _learners.Where(x => x != id)], rest);
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

    public int EncodedBytes
    {
        get
        {
            var size = HeaderBytes + (4 * Count);
            if (_addresses.Count > 0)
            {
                foreach (var id in Ids)
                {
                    var a = _addresses.GetValueOrDefault(id, MemberAddresses.Unknown);
                    size += 2 + Encoding.UTF8.GetByteCount(a.Peer) + Encoding.UTF8.GetByteCount(a.Http);
                }
            }

            return size;
        }
    }

    public int Encode(Span<byte> destination)
    {
        var size = EncodedBytes;
        if (destination.Length < size)
        {
            throw new ArgumentException($"membership needs {size} bytes", nameof(destination));
        }

        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)_voters.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], (ushort)(_learners.Length | (_addresses.Count > 0 ? AddressesFlag : 0)));
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

        if (_addresses.Count > 0)
        {
            foreach (var id in Ids)
            {
                var a = _addresses.GetValueOrDefault(id, MemberAddresses.Unknown);
                offset += WriteString(destination[offset..], a.Peer);
                offset += WriteString(destination[offset..], a.Http);
            }
        }

        return size;
    }

    private static int WriteString(Span<byte> destination, string value)
    {
        var written = Encoding.UTF8.GetBytes(value, destination[1..]);
        destination[0] = (byte)written;
        return 1 + written;
    }

    private static bool TryReadString(ReadOnlySpan<byte> source, ref int offset, out string value)
    {
        value = string.Empty;
        if (offset >= source.Length || offset + 1 + source[offset] > source.Length)
        {
            return false;
        }

        var bytes = source.Slice(offset + 1, source[offset]);
        try
        {
            value = Strict.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        offset += 1 + bytes.Length;
        return true;
    }

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private Dictionary<int, MemberAddresses> WithAddress(int id, MemberAddresses? addresses)
    {
        var result = new Dictionary<int, MemberAddresses>(_addresses);
        if (addresses is not null && (addresses.Peer.Length > 0 || addresses.Http.Length > 0))
        {
            result[id] = addresses;
        }

        return result;
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
        int learnerField = BinaryPrimitives.ReadUInt16LittleEndian(source[2..]);
        var hasAddresses = (learnerField & AddressesFlag) != 0;
        var learnerCount = learnerField & ~AddressesFlag;
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

        var addresses = new Dictionary<int, MemberAddresses>();
        if (hasAddresses)
        {
            foreach (var id in voters.Concat(learners))
            {
                if (!TryReadString(source, ref offset, out var peer) || !TryReadString(source, ref offset, out var http))
                {
                    return false;
                }

                if (peer.Length > 0 || http.Length > 0)
                {
                    addresses[id] = new MemberAddresses(peer, http);
                }
            }
        }

        membership = new Membership(voters, learners, addresses);
        consumed = offset;
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
        other is not null && _voters.AsSpan().SequenceEqual(other._voters) && _learners.AsSpan().SequenceEqual(other._learners)
        && _addresses.Count == other._addresses.Count
        && _addresses.All(kv => other._addresses.TryGetValue(kv.Key, out var a) && a == kv.Value);

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
