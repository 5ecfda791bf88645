using System.Globalization;
using System.Net;

namespace Raft.Transport;

/// <summary>Parses the "host:port" strings peers are configured with.</summary>
internal static class PeerAddress
{
    /// <summary>An IP literal ("127.0.0.1:7001", "[::1]:7001") becomes an <see cref="IPEndPoint"/>, a name a <see cref="DnsEndPoint"/>.</summary>
    public static EndPoint Parse(string address)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(address);
        if (IPEndPoint.TryParse(address, out var ip) && ip.Port != 0)
        {
            return ip;
        }

        var colon = address.LastIndexOf(':');
        if (colon > 0
            && int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            && port is > 0 and <= IPEndPoint.MaxPort
            && Uri.CheckHostName(address[..colon]) != UriHostNameType.Unknown)
        {
            return new DnsEndPoint(address[..colon], port);
        }

        throw new ArgumentException($"'{address}' is not a peer address of the form host:port", nameof(address));
    }
}
