using System.Globalization;
using System.Runtime.CompilerServices;

namespace Raft.Simulation;

/// <summary>
/// Formats a trace line only when the run is traced: thousands of seeds run untraced, and building every line
/// they would print costs more than simulating them.
/// </summary>
[InterpolatedStringHandler]
internal ref struct TraceHandler
{
    private DefaultInterpolatedStringHandler _inner;

    public TraceHandler(int literalLength, int formattedCount, Simulator simulator, out bool enabled)
    {
        enabled = simulator.Tracing;
        _inner = enabled ? new DefaultInterpolatedStringHandler(literalLength, formattedCount, CultureInfo.InvariantCulture) : default;
    }

    public void AppendLiteral(string value) => _inner.AppendLiteral(value);

    public void AppendFormatted<T>(T value) => _inner.AppendFormatted(value);

    public void AppendFormatted<T>(T value, string? format) => _inner.AppendFormatted(value, format);

    public void AppendFormatted<T>(T value, int alignment) => _inner.AppendFormatted(value, alignment);

    public string ToStringAndClear() => _inner.ToStringAndClear();
}
