import Foundation

/// A run to plot or tabulate: its display name and its metrics in iteration order.
public struct RunMetrics: Sendable, Equatable {
    public var name: String
    public var records: [MetricsRecord]

    public init(name: String, records: [MetricsRecord]) {
        self.name = name
        self.records = records
    }
}

/// The report's figures, built from runs: one colour per run, train error solid and test
/// error dashed (as in the paper's Figure 2).
public enum ReportPlots {
    /// Colours given to runs in order (the Tableau 10 palette, distinguishable in print).
    public static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// File names the report gives the figures.
    public static let errorVsTimeFileName = "error-vs-time.svg"
    public static let errorVsIterationFileName = "error-vs-iteration.svg"
    public static let lambdaAndCGFileName = "lambda-and-cg.svg"

    /// The y axis of the error plots: the quantity, as in Table 2 of the paper.
    public static let errorAxisLabel = "error (per-case sum of squared errors)"

    /// The error axis's label, saying when the scale is logarithmic.
    static func errorAxisLabel(_ scale: AxisScale) -> String {
        scale == .logarithmic ? errorAxisLabel + ", log scale" : errorAxisLabel
    }

    /// The colour of the run at `index`.
    public static func color(forRunAt index: Int) -> String { palette[index % palette.count] }

    /// Train (solid) and test (dashed) error series of every run against `x`.
    static func errorSeries(_ runs: [RunMetrics], x: (MetricsRecord) -> Double) -> [PlotSeries] {
        runs.enumerated().flatMap { index, run -> [PlotSeries] in
            let color = color(forRunAt: index)
            let train = run.records.map { PlotPoint(x: x($0), y: $0.trainError) }
            let test = run.records.compactMap { r in r.testError.map { PlotPoint(x: x(r), y: $0) } }
            return [PlotSeries(label: "\(run.name) train", points: train, color: color),
                    PlotSeries(label: "\(run.name) test", points: test, color: color, dashed: true)]
        }
    }

    /// Figure 2: train and test error against wall-clock seconds, log-scale time axis.
    /// Records at 0 seconds cannot be shown on a log axis and are skipped.
    public static func errorVsTime(_ runs: [RunMetrics], errorScale: AxisScale = .linear) -> LineChart {
        LineChart(title: "Error vs. time (train solid, test dashed)",
                  xAxis: PlotAxis(label: "time in seconds (log scale)", scale: .logarithmic),
                  yAxis: PlotAxis(label: errorAxisLabel(errorScale), scale: errorScale, includesZero: errorScale == .linear),
                  series: errorSeries(runs) { $0.seconds })
    }

    /// Train and test error against optimizer iteration.
    public static func errorVsIteration(_ runs: [RunMetrics], errorScale: AxisScale = .linear) -> LineChart {
        LineChart(title: "Error vs. iteration (train solid, test dashed)",
                  xAxis: PlotAxis(label: "iteration", includesZero: false),
                  yAxis: PlotAxis(label: errorAxisLabel(errorScale), scale: errorScale, includesZero: errorScale == .linear),
                  series: errorSeries(runs) { Double($0.iteration) })
    }

    /// Where the rho panel draws values off its scale: -inf (the objective rose) at the bottom.
    public static let rhoPlotRange: ClosedRange<Double> = -0.5...1.5

    /// Three panels against iteration: the damping lambda (log scale; runs without damping log
    /// NaN and draw nothing), the CG iterations run per outer iteration (linear), and the
    /// reduction ratio rho that moves lambda (solid) with, where the log has it, the same
    /// step's rho on the whole training set (dashed). Rho is clamped to `rhoPlotRange`.
    public static func lambdaAndCG(_ runs: [RunMetrics]) -> PlotFigure {
        let lambda = runs.enumerated().map { index, run in
            PlotSeries(label: run.name, points: run.records.map { PlotPoint(x: Double($0.iteration), y: $0.lambda) },
                       color: color(forRunAt: index))
        }
        let cg = runs.enumerated().map { index, run in
            PlotSeries(label: run.name, points: run.records.map { PlotPoint(x: Double($0.iteration), y: Double($0.cgIterations)) },
                       color: color(forRunAt: index))
        }
        func clamped(_ rho: Double) -> Double {
            rho.isNaN ? rho : min(max(rho, rhoPlotRange.lowerBound), rhoPlotRange.upperBound)
        }
        let rho = runs.enumerated().flatMap { index, run -> [PlotSeries] in
            let color = color(forRunAt: index)
            let batch = PlotSeries(label: run.name, points: run.records.map { PlotPoint(x: Double($0.iteration), y: clamped($0.rho)) },
                                   color: color)
            let whole = run.records.compactMap { r in r.rhoFullData.map { PlotPoint(x: Double(r.iteration), y: clamped($0)) } }
            return whole.isEmpty ? [batch] : [batch, PlotSeries(label: "\(run.name) (whole set)", points: whole, color: color, dashed: true)]
        }
        return PlotFigure(panels: [
            LineChart(title: "Damping lambda", xAxis: PlotAxis(label: "iteration"),
                      yAxis: PlotAxis(label: "lambda (log scale)", scale: .logarithmic), series: lambda, height: 340),
            LineChart(title: "CG iterations per iteration", xAxis: PlotAxis(label: "iteration"),
                      yAxis: PlotAxis(label: "CG iterations", includesZero: true), series: cg, height: 340),
            LineChart(title: "Reduction ratio rho (-inf drawn at -0.5)",
                      xAxis: PlotAxis(label: "iteration"),
                      yAxis: PlotAxis(label: "rho (dashed: whole training set)", includesZero: true),
                      series: rho, height: 340),
        ])
    }
}
