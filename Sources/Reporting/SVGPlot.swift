import Foundation

/// One point of a plotted series.
public struct PlotPoint: Sendable, Equatable {
    public var x: Double
    public var y: Double
    public init(x: Double, y: Double) { self.x = x; self.y = y }
}

/// A labelled line of points drawn in one colour, solid or dashed.
public struct PlotSeries: Sendable, Equatable {
    /// Legend text.
    public var label: String
    /// Points in drawing order; non-finite ones, and non-positive ones on a log axis, are
    /// skipped (the line joins their neighbours).
    public var points: [PlotPoint]
    /// A CSS colour (`#1f77b4`).
    public var color: String
    /// Dashed (test error) rather than solid (train error).
    public var dashed: Bool

    public init(label: String, points: [PlotPoint], color: String, dashed: Bool = false) {
        self.label = label
        self.points = points
        self.color = color
        self.dashed = dashed
    }
}

/// A chart axis: its title and scale.
public struct PlotAxis: Sendable, Equatable {
    public var label: String
    public var scale: AxisScale
    /// Force zero into a linear axis's range (errors, counts).
    public var includesZero: Bool

    public init(label: String, scale: AxisScale = .linear, includesZero: Bool = false) {
        self.label = label
        self.scale = scale
        self.includesZero = includesZero
    }
}

/// A line chart rendered as SVG text (no dependencies): title, axes with ticks, grid lines
/// and labels, one path per series, and a legend to the right of the plot area.
///
/// Degenerate data is drawn, never trapped on: no drawable points gives empty axes with the
/// note "no data"; a series with one point is drawn as a dot; a single x or y value gets a
/// widened range.
public struct LineChart: Sendable, Equatable {
    public var title: String
    public var xAxis: PlotAxis
    public var yAxis: PlotAxis
    public var series: [PlotSeries]
    /// Size of the whole chart in pixels (plot area, labels and legend).
    public var width: Double
    public var height: Double

    public init(title: String, xAxis: PlotAxis, yAxis: PlotAxis, series: [PlotSeries],
                width: Double = 760, height: Double = 420) {
        self.title = title
        self.xAxis = xAxis
        self.yAxis = yAxis
        self.series = series
        self.width = width
        self.height = height
    }

    // Layout, in pixels: room for the title, tick labels and axis titles, and the legend.
    private static let marginTop = 36.0, marginBottom = 52.0, marginLeft = 72.0
    /// The legend's font size, its line sample and row height, and the narrowest plot area a
    /// long legend may leave.
    private static let legendFontSize = 12.0, legendSample = 32.0, legendRow = 18.0, minimumPlotWidth = 420.0

    /// Series with at most this many points get a marker at each point.
    static let markedPointsLimit = 20

    /// An upper estimate of the width of `text` at `fontSize` in Helvetica/Arial: 0.62 em per
    /// character (the fonts average about 0.55 em; capitals and digits are wider), so legends
    /// are sized without a font engine and never clip.
    static func textWidth(_ text: String, fontSize: Double) -> Double { Double(text.count) * fontSize * 0.62 }

    /// Room for the legend: the line sample, the longest label, and a margin.
    var legendWidth: Double {
        let longest = series.map { Self.textWidth($0.label, fontSize: Self.legendFontSize) }.max() ?? 0
        return max(120, 16 + Self.legendSample + longest + 12)
    }

    /// The size the chart is drawn at: at least `width` x `height`, wider when the legend
    /// needs room beside a plot area of `minimumPlotWidth`, taller when its rows need it.
    public var layoutWidth: Double { max(width, Self.marginLeft + Self.minimumPlotWidth + legendWidth) }
    public var layoutHeight: Double { max(height, Self.marginTop + 8 + Double(series.count) * Self.legendRow + 12) }

    /// The chart as a complete SVG document.
    public func svg() -> String { PlotFigure(panels: [self]).svg() }

    /// Points of `series` that can be drawn on these axes.
    func drawable(_ series: PlotSeries) -> [PlotPoint] {
        series.points.filter { p in
            p.x.isFinite && p.y.isFinite
                && (xAxis.scale == .linear || p.x > 0) && (yAxis.scale == .linear || p.y > 0)
        }
    }

    /// Ticks for one axis over the given drawable values.
    static func ticks(for values: [Double], axis: PlotAxis) -> AxisTicks {
        var lower = values.min(), upper = values.max()
        switch axis.scale {
        case .linear:
            if axis.includesZero { lower = min(lower ?? 0, 0); upper = max(upper ?? 0, 0) }
            guard let lo = lower, let hi = upper else { return .linear(lower: 0, upper: 1) }
            return .linear(lower: lo, upper: hi == lo && axis.includesZero && lo == 0 ? 1 : hi)
        case .logarithmic:
            guard let lo = lower, let hi = upper else { return .logarithmic(lower: 1, upper: 10) }
            return .logarithmic(lower: lo, upper: hi)
        }
    }

    /// The chart's SVG elements, drawn with its top-left corner at (0, 0).
    func elements() -> String {
        let plotLeft = Self.marginLeft, plotTop = Self.marginTop
        let plotWidth = max(40, layoutWidth - Self.marginLeft - legendWidth)
        let plotHeight = max(40, height - Self.marginTop - Self.marginBottom)
        let drawn = series.map(drawable)
        let all = drawn.flatMap { $0 }
        let xTicks = Self.ticks(for: all.map(\.x), axis: xAxis)
        let yTicks = Self.ticks(for: all.map(\.y), axis: yAxis)
        func px(_ x: Double) -> Double { plotLeft + AxisTicks.fraction(of: x, in: xTicks.domain, scale: xAxis.scale) * plotWidth }
        func py(_ y: Double) -> Double { plotTop + (1 - AxisTicks.fraction(of: y, in: yTicks.domain, scale: yAxis.scale)) * plotHeight }
        let c = Markup.coordinate
        var out: [String] = []
        out.append("<text class=\"title\" x=\"\(c(plotLeft + plotWidth / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(Markup.escape(title))</text>")
        out.append("<rect class=\"plot-area\" x=\"\(c(plotLeft))\" y=\"\(c(plotTop))\" width=\"\(c(plotWidth))\" height=\"\(c(plotHeight))\" fill=\"white\" stroke=\"#444\"/>")
        // Ticks, grid lines and labels.
        out.append("<g class=\"x-axis\" font-size=\"11\" text-anchor=\"middle\">")
        for (value, label) in zip(xTicks.values, xTicks.labels) {
            let x = px(value)
            out.append("<line x1=\"\(c(x))\" y1=\"\(c(plotTop))\" x2=\"\(c(x))\" y2=\"\(c(plotTop + plotHeight))\" stroke=\"#ddd\"/>")
            out.append("<line x1=\"\(c(x))\" y1=\"\(c(plotTop + plotHeight))\" x2=\"\(c(x))\" y2=\"\(c(plotTop + plotHeight + 5))\" stroke=\"#444\"/>")
            out.append("<text class=\"tick\" x=\"\(c(x))\" y=\"\(c(plotTop + plotHeight + 18))\">\(Markup.escape(label))</text>")
        }
        out.append("<text class=\"axis-label\" x=\"\(c(plotLeft + plotWidth / 2))\" y=\"\(c(plotTop + plotHeight + 40))\" font-size=\"13\">\(Markup.escape(xAxis.label))</text>")
        out.append("</g>")
        out.append("<g class=\"y-axis\" font-size=\"11\" text-anchor=\"end\">")
        for (value, label) in zip(yTicks.values, yTicks.labels) {
            let y = py(value)
            out.append("<line x1=\"\(c(plotLeft))\" y1=\"\(c(y))\" x2=\"\(c(plotLeft + plotWidth))\" y2=\"\(c(y))\" stroke=\"#ddd\"/>")
            out.append("<line x1=\"\(c(plotLeft - 5))\" y1=\"\(c(y))\" x2=\"\(c(plotLeft))\" y2=\"\(c(y))\" stroke=\"#444\"/>")
            out.append("<text class=\"tick\" x=\"\(c(plotLeft - 8))\" y=\"\(c(y + 4))\">\(Markup.escape(label))</text>")
        }
        let yLabelX = 16.0, yLabelY = plotTop + plotHeight / 2
        out.append("<text class=\"axis-label\" x=\"\(c(yLabelX))\" y=\"\(c(yLabelY))\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 \(c(yLabelX)) \(c(yLabelY)))\">\(Markup.escape(yAxis.label))</text>")
        out.append("</g>")
        // Series.
        if all.isEmpty {
            out.append("<text class=\"no-data\" x=\"\(c(plotLeft + plotWidth / 2))\" y=\"\(c(plotTop + plotHeight / 2))\" text-anchor=\"middle\" fill=\"#888\">no data</text>")
        }
        for (line, points) in zip(series, drawn) where !points.isEmpty {
            let label = Markup.escape(line.label), color = Markup.escape(line.color)
            if points.count == 1 {
                out.append("<circle class=\"series\" data-label=\"\(label)\" cx=\"\(c(px(points[0].x)))\" cy=\"\(c(py(points[0].y)))\" r=\"3\" fill=\"\(color)\"/>")
                continue
            }
            let d = points.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(c(px($0.element.x))) \(c(py($0.element.y)))" }.joined(separator: " ")
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out.append("<path class=\"series\" data-label=\"\(label)\" d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" stroke-linejoin=\"round\"\(dash)/>")
            // A short run's few points are marked too, so its line stays visible where it
            // runs along the plot's border or a grid line.
            if points.count <= Self.markedPointsLimit {
                for p in points {
                    out.append("<circle class=\"marker\" data-label=\"\(label)\" cx=\"\(c(px(p.x)))\" cy=\"\(c(py(p.y)))\" r=\"2.5\" fill=\"\(color)\"/>")
                }
            }
        }
        // Legend: one entry per series, in the series' colour and dash.
        out.append("<g class=\"legend\" font-size=\"\(c(Self.legendFontSize))\">")
        let legendLeft = plotLeft + plotWidth + 16
        for (index, line) in series.enumerated() {
            let y = plotTop + 8 + Double(index) * Self.legendRow
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out.append("<line x1=\"\(c(legendLeft))\" y1=\"\(c(y))\" x2=\"\(c(legendLeft + 26))\" y2=\"\(c(y))\" stroke=\"\(Markup.escape(line.color))\" stroke-width=\"2\"\(dash)/>")
            out.append("<text x=\"\(c(legendLeft + 32))\" y=\"\(c(y + 4))\">\(Markup.escape(line.label))</text>")
        }
        out.append("</g>")
        return out.joined(separator: "\n")
    }
}

/// Charts stacked vertically in one SVG document (e.g. lambda above CG iterations).
public struct PlotFigure: Sendable, Equatable {
    public var panels: [LineChart]

    public init(panels: [LineChart]) { self.panels = panels }

    /// The figure as a complete SVG document; its width is the widest panel's, its height the
    /// sum of the panels'.
    public func svg() -> String {
        let width = panels.map(\.layoutWidth).max() ?? 0
        let height = panels.map(\.layoutHeight).reduce(0, +)
        let c = Markup.coordinate
        var out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(c(width))\" height=\"\(c(height))\" viewBox=\"0 0 \(c(width)) \(c(height))\" font-family=\"Helvetica, Arial, sans-serif\">",
                   "<title>\(Markup.escape(panels.map(\.title).joined(separator: "; ")))</title>",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"]
        var top = 0.0
        for panel in panels {
            out.append("<g class=\"panel\" transform=\"translate(0 \(c(top)))\">")
            out.append(panel.elements())
            out.append("</g>")
            top += panel.layoutHeight
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
