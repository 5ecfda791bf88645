using System.Buffers.Binary;
using Raft.Core;
using Raft.Node;
using Raft.Storage;

namespace Raft.Server;

/// <summary>The node must not start as configured; the message says why and what to do.</summary>
public sealed class NodeStartRefusedException(string message) : Exception(message);

/// <summary>
/// The membership a node starts from when its log and snapshots name none: the one it was bootstrapped with, kept in
/// the data directory's <c>members</c> file from its first start, so that a restart trusts what the node began with
/// and never its command line. An empty data directory is bootstrapped only as <see cref="NodeOptions.ClusterState"/>
/// and <see cref="NodeOptions.Join"/> say.
/// </summary>
internal static class NodeBootstrap
{
    public const string FileName = "members";

    // Layout, little-endian: magic, length of the membership, the membership (Membership.Encode), CRC32C of all before.
    private const uint Magic = 0x31424D52; // "RMB1"

    /// <summary>What the node starts from: the membership to bootstrap with, empty for a node that joins.</summary>
    public static Membership Resolve(NodeOptions options, NodeStores stores)
    {
        var path = Path.Combine(Path.GetFullPath(options.DataDirectory), FileName);
        if (TryRead(path, out var kept))
        {
            return kept;
        }

        var empty = stores.Snapshots.LatestMetadata is null && stores.Log.LastIndex == 0 && !stores.HardState.TryLoad(out _);
        Membership membership;
        if (!empty)
        {
            // A data directory from before the members file: it was bootstrapped from Node:Peers, as it is configured now.
            membership = options.BootstrapMembership();
        }
        else if (options.ClusterState == ClusterState.New)
        {
            membership = options.BootstrapMembership();
        }
        else if (options.JoinEndpoints().Count > 0)
        {
            membership = Membership.Empty;
        }
        else
        {
            throw new NodeStartRefusedException(
                $"the data directory {Path.GetFullPath(options.DataDirectory)} holds no state of node {options.Id}. For the first start of a new cluster, " +
                "start every node with --Node:ClusterState=new; to add this node to a running cluster, start it with --Node:Join=<HTTP address of a member>. " +
                $"If node {options.Id} was a member and lost its data, remove it (DELETE /v1/cluster/members/{options.Id}) and add it again: " +
                "a node that forgot its votes must not vote again in the same terms");
        }

        Write(path, membership);
        return membership;
    }

    private static bool TryRead(string path, out Membership membership)
    {
        membership = Membership.Empty;
        if (!File.Exists(path))
        {
            return false;
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 12 || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic)
        {
            throw new InvalidDataException($"{path} is not a members file");
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
        if (length < 0 || length > bytes.Length - 12
            || BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8 + length)) != Crc32C.Compute(bytes.AsSpan(0, 8 + length))
            || !Membership.TryDecode(bytes.AsSpan(8, length), out membership, out var consumed) || consumed != length)
        {
            throw new InvalidDataException($"{path} fails its CRC or does not decode: the file is damaged");
        }

        return true;
    }

    private static void Write(string path, Membership membership)
    {
        var length = membership.EncodedBytes;
        var bytes = new byte[12 + length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), length);
        membership.Encode(bytes.AsSpan(8));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8 + length), Crc32C.Compute(bytes.AsSpan(0, 8 + length)));
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(path)!);
    }
}
