using System.Diagnostics.Metrics;

namespace Raft.Server.Tests;

/// <summary>Meters for a <see cref="NodeMetrics"/> made outside a host; disposed with the factory.</summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose() => _meters.ForEach(meter => meter.Dispose());
}
