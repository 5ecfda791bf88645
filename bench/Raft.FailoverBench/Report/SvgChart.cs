using System.Globalization;
using System.Security;
using System.Text;

namespace Raft.FailoverBench.Report;

/// <summary>
/// failover.svg, written by hand: per scenario, the write gap of every trial per target on a log scale (left), and the
/// latency of every write around one fault per target (right; the trial with the median write gap), acknowledged
/// writes filled, failed ones hollow.
/// </summary>
internal static class SvgChart
{
    private const double Width = 1180;
    private const double RowHeight = 320;
    private const double Top = 70;
    private const double PanelHeight = 230;
    private const double LeftX = 70;
    private const double PanelWidth = 470;
    private const double RightX = 660;

    private static readonly string[] Palette = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd"];

    public static string Render(IReadOnlyList<TrialResult> trials, IReadOnlyList<string> targets, IReadOnlyList<string> scenarios)
    {
        ArgumentNullException.ThrowIfNull(trials);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(scenarios);
        var height = Top + (scenarios.Count * RowHeight) + 20;
        var svg = new StringBuilder();
        svg.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Inv($"<rect x=\"0\" y=\"0\" width=\"{Width}\" height=\"{height}\" fill=\"white\"/>\n"));
        svg.Append("<text x=\"20\" y=\"28\" font-size=\"18\" font-weight=\"bold\">Failover as clients see it</text>\n");
        for (var t = 0; t < targets.Count; t++)
        {
            var x = 360 + (t * 150);
            svg.Append(Inv($"<circle cx=\"{x}\" cy=\"23\" r=\"5\" fill=\"{Color(t)}\"/><text x=\"{x + 10}\" y=\"27\">{Escape(targets[t])}</text>\n"));
        }

        for (var s = 0; s < scenarios.Count; s++)
        {
            var y = Top + (s * RowHeight);
            var scenarioTrials = trials.Where(r => r.Scenario == scenarios[s]).ToArray();
            GapPanel(svg, scenarios[s], scenarioTrials, targets, y);
            TimelinePanel(svg, scenarios[s], scenarioTrials, targets, y);
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void GapPanel(StringBuilder svg, string scenario, TrialResult[] trials, IReadOnlyList<string> targets, double y)
    {
        var gaps = trials.Select(r => r.WriteGapMs).OfType<double>().ToArray();
        var axis = LogAxis.For(gaps);
        var count = Math.Max(1, trials.Length == 0 ? 1 : trials.Max(r => r.Trial));
        Frame(svg, LeftX, y, $"{scenario}: write gap per trial (ms, log scale)");
        axis.Draw(svg, LeftX, y, PanelWidth, PanelHeight);
        var step = Math.Max(1, count / 10);
        for (var i = 1; i <= count; i += step)
        {
            var x = LeftX + ((i - 0.5) / count * PanelWidth);
            svg.Append(Inv($"<text x=\"{x:F1}\" y=\"{y + PanelHeight + 16}\" text-anchor=\"middle\">{i}</text>\n"));
        }

        svg.Append(Inv($"<text x=\"{LeftX + (PanelWidth / 2)}\" y=\"{y + PanelHeight + 32}\" text-anchor=\"middle\">trial</text>\n"));
        for (var t = 0; t < targets.Count; t++)
        {
            var offset = (t - ((targets.Count - 1) / 2.0)) * 7;
            foreach (var trial in trials.Where(r => r.Target == targets[t]))
            {
                var x = LeftX + ((trial.Trial - 0.5) / count * PanelWidth) + offset;
                if (trial.WriteGapMs is { } gap)
                {
                    svg.Append(Inv($"<circle cx=\"{x:F1}\" cy=\"{axis.Y(gap, y, PanelHeight):F1}\" r=\"3.5\" fill=\"{Color(t)}\"><title>{Escape(targets[t])} trial {trial.Trial}: {gap:F1} ms</title></circle>\n"));
                }
                else
                {
                    svg.Append(Inv($"<text x=\"{x:F1}\" y=\"{y + 12}\" text-anchor=\"middle\" fill=\"{Color(t)}\">×<title>{Escape(targets[t])} trial {trial.Trial}: no write after the fault</title></text>\n"));
                }
            }
        }
    }

    private static void TimelinePanel(StringBuilder svg, string scenario, TrialResult[] trials, IReadOnlyList<string> targets, double y)
    {
        var chosen = new List<(int Target, TrialResult Trial)>();
        for (var t = 0; t < targets.Count; t++)
        {
            var withGap = trials.Where(r => r.Target == targets[t] && r.WriteGapMs is not null).OrderBy(r => r.WriteGapMs).ToArray();
            var pick = withGap.Length > 0 ? withGap[(withGap.Length - 1) / 2] : trials.FirstOrDefault(r => r.Target == targets[t]);
            if (pick is not null)
            {
                chosen.Add((t, pick));
            }
        }

        var points = chosen.SelectMany(c => c.Trial.WriteLatencies).ToArray();
        var axis = LogAxis.For(points.Select(p => p.LatencyMs));
        var from = points.Length == 0 ? -300 : Math.Min(-1, points.Min(p => p.StartMs));
        var to = points.Length == 0 ? 300 : Math.Max(1, points.Max(p => p.StartMs + p.LatencyMs));
        double X(double ms) => RightX + ((ms - from) / (to - from) * PanelWidth);
        Frame(svg, RightX, y, $"{scenario}: write latency around the fault, median-gap trial (ms, log)");
        axis.Draw(svg, RightX, y, PanelWidth, PanelHeight);
        var tick = NiceStep((to - from) / 6);
        for (var ms = Math.Ceiling(from / tick) * tick; ms <= to; ms += tick)
        {
            svg.Append(Inv($"<line x1=\"{X(ms):F1}\" y1=\"{y + PanelHeight}\" x2=\"{X(ms):F1}\" y2=\"{y + PanelHeight + 4}\" stroke=\"#333\"/>"));
            svg.Append(Inv($"<text x=\"{X(ms):F1}\" y=\"{y + PanelHeight + 16}\" text-anchor=\"middle\">{(Math.Abs(ms) < 1e-6 ? 0 : ms):0}</text>\n"));
        }

        svg.Append(Inv($"<text x=\"{RightX + (PanelWidth / 2)}\" y=\"{y + PanelHeight + 32}\" text-anchor=\"middle\">request start, ms relative to the fault</text>\n"));
        svg.Append(Inv($"<line x1=\"{X(0):F1}\" y1=\"{y}\" x2=\"{X(0):F1}\" y2=\"{y + PanelHeight}\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>"));
        svg.Append(Inv($"<text x=\"{X(0) + 3:F1}\" y=\"{y + 12}\" fill=\"#555\">fault</text>\n"));
        foreach (var (t, trial) in chosen)
        {
            foreach (var p in trial.WriteLatencies)
            {
                var fill = p.Ok ? Color(t) : "none";
                svg.Append(Inv($"<circle cx=\"{X(p.StartMs):F1}\" cy=\"{axis.Y(p.LatencyMs, y, PanelHeight):F1}\" r=\"2\" fill=\"{fill}\" stroke=\"{Color(t)}\" stroke-width=\"0.8\"/>\n"));
            }

            svg.Append(Inv($"<text x=\"{RightX + PanelWidth - 4}\" y=\"{y + 14 + (t * 14)}\" text-anchor=\"end\" fill=\"{Color(t)}\">{Escape(targets[t])}: trial {trial.Trial}</text>\n"));
        }
    }

    private static void Frame(StringBuilder svg, double x, double y, string title)
    {
        svg.Append(Inv($"<text x=\"{x}\" y=\"{y - 10}\" font-weight=\"bold\">{Escape(title)}</text>\n"));
        svg.Append(Inv($"<rect x=\"{x}\" y=\"{y}\" width=\"{PanelWidth}\" height=\"{PanelHeight}\" fill=\"none\" stroke=\"#333\"/>\n"));
    }

    private static double NiceStep(double rough)
    {
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(Math.Max(rough, 1e-9))));
        var residual = rough / magnitude;
        return magnitude * (residual < 1.5 ? 1 : residual < 3.5 ? 2 : residual < 7.5 ? 5 : 10);
    }

    private static string Color(int index) => Palette[index % Palette.Length];

    private static string Escape(string text) => SecurityElement.Escape(text) ?? string.Empty;

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>A base-10 log axis over whole decades covering the values (0.1 ms to 100 s at the extremes).</summary>
    private readonly record struct LogAxis(int Low, int High)
    {
        public static LogAxis For(IEnumerable<double> values)
        {
            var positive = values.Where(v => v > 0).ToArray();
            if (positive.Length == 0)
            {
                return new LogAxis(0, 3);
            }

            var low = Math.Clamp((int)Math.Floor(Math.Log10(positive.Min())), -1, 4);
            var high = Math.Clamp((int)Math.Ceiling(Math.Log10(positive.Max())), low + 1, 5);
            return new LogAxis(low, high);
        }

        public double Y(double value, double top, double height)
        {
            var log = Math.Clamp(Math.Log10(Math.Max(value, 1e-3)), Low, High);
            return top + height - ((log - Low) / (High - Low) * height);
        }

        public void Draw(StringBuilder svg, double x, double top, double width, double height)
        {
            for (var d = Low; d <= High; d++)
            {
                var y = Y(Math.Pow(10, d), top, height);
                var label = d >= 3 ? $"{Math.Pow(10, d - 3):0} s" : $"{Math.Pow(10, d):0.#} ms";
                svg.Append(Inv($"<line x1=\"{x}\" y1=\"{y:F1}\" x2=\"{x + width}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>"));
                svg.Append(Inv($"<text x=\"{x - 5}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{label}</text>\n"));
            }
        }
    }
}
