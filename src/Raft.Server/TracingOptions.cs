using System.Globalization;

namespace Raft.Server;

/// <summary>
/// The section <c>Node:Tracing</c>: off unless <see cref="OtlpEndpoint"/> is set. Then the node exports its spans
/// (<see cref="NodeTracing"/>, and ASP.NET Core's request spans) with the OpenTelemetry SDK's OTLP exporter, as the
/// service <c>raft-node-&lt;id&gt;</c>.
/// </summary>
public sealed class TracingOptions
{
    public const string HttpProtobuf = "http/protobuf";
    public const string Grpc = "grpc";

    /// <summary>
    /// The OTLP collector's base URL: <c>http://localhost:4318</c> for <see cref="HttpProtobuf"/> (spans go to its
    /// <c>/v1/traces</c>), <c>http://localhost:4317</c> for <see cref="Grpc"/>. Not set: no tracing.
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><see cref="HttpProtobuf"/> (the default) or <see cref="Grpc"/>.</summary>
    public string OtlpProtocol { get; set; } = HttpProtobuf;

    /// <summary>
    /// The share of new traces recorded, in [0, 1]; a request that arrives with a sampled <c>traceparent</c> is
    /// recorded whatever this says, one that arrives unsampled is not (parent-based sampling).
    /// </summary>
    public double SampleRatio { get; set; } = 1.0;

    /// <summary>True when spans are exported.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(OtlpEndpoint);

    /// <summary>Where the exporter sends: for <see cref="HttpProtobuf"/> the endpoint's <c>/v1/traces</c>.</summary>
    public Uri ExportUri()
    {
        var endpoint = new Uri(OtlpEndpoint!, UriKind.Absolute);
        if (OtlpProtocol != HttpProtobuf || endpoint.AbsolutePath.EndsWith("/v1/traces", StringComparison.Ordinal))
        {
            return endpoint;
        }

        return new Uri(endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/v1/traces");
    }

    /// <summary>Problems with these settings, each naming its key.</summary>
    public IEnumerable<string> Validate()
    {
        if (Enabled && (!Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out var endpoint)
            || endpoint.Scheme is not ("http" or "https") || string.IsNullOrEmpty(endpoint.Host) || !string.IsNullOrEmpty(endpoint.Query)))
        {
            yield return $"Node:Tracing:OtlpEndpoint must be an absolute http:// or https:// URL of an OTLP collector, such as http://localhost:4318 (got '{OtlpEndpoint}')";
        }

        if (OtlpProtocol is not (HttpProtobuf or Grpc))
        {
            yield return $"Node:Tracing:OtlpProtocol must be {HttpProtobuf} or {Grpc} (got '{OtlpProtocol}')";
        }

        if (double.IsNaN(SampleRatio) || SampleRatio is < 0 or > 1)
        {
            yield return $"Node:Tracing:SampleRatio must lie in [0, 1] (got {SampleRatio.ToString(CultureInfo.InvariantCulture)})";
        }
    }
}
