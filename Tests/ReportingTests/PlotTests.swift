import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Reporting

/// Collects element names, attributes and text of an XML document.
final class XMLCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var text = ""

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append((elementName, attributes))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    /// Parses `document`, failing the test (and returning nil) if it is not well-formed XML.
    static func parse(_ document: String, file: StaticString = #filePath, line: UInt = #line) -> XMLCollector? {
        let parser = XMLParser(data: Data(document.utf8))
        let collector = XMLCollector()
        parser.delegate = collector
        guard parser.parse() else {
            XCTFail("not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")", file: file, line: line)
            return nil
        }
        return collector
    }

    func series() -> [[String: String]] {
        elements.filter { $0.attributes["class"] == "series" }.map(\.attributes)
    }
}

/// A run whose train error falls and test error is logged every second iteration.
func sampleRun(_ name: String, iterations: Int = 6, startSeconds: Double = 0) -> RunMetrics {
    var records: [MetricsRecord] = []
    for i in 1...iterations {
        let n = Double(i)
        let testError: Double? = i % 2 == 0 ? 12 / n : nil
        let rho: Double = i == 2 ? -.infinity : 0.5
        records.append(MetricsRecord(iteration: i, seconds: startSeconds + n * 10, trainLoss: 50 / n,
                                     trainError: 10 / n, testError: testError, lambda: pow(10, -n / 2), rho: rho,
                                     cgIterations: 10 * i, cgChosen: 9 * i, gradientEvaluations: 1,
                                     curvatureProducts: 10 * i, gflops: 1))
    }
    return RunMetrics(name: name, records: records)
}

final class AxisTicksTests: XCTestCase {
    func testLogTicksRoundOutToDecades() {
        let ticks = AxisTicks.logarithmic(lower: 3, upper: 4500)
        XCTAssertEqual(ticks.values, [1, 10, 100, 1000, 10000])
        XCTAssertEqual(ticks.labels, ["1", "10", "100", "1000", "10000"])
        XCTAssertEqual(ticks.domain, 1...10000)
    }

    func testLogTicksOfExactPowersAndSmallValues() {
        let exact = AxisTicks.logarithmic(lower: 1e-3, upper: 1)
        XCTAssertEqual(exact.values, [1e-3, 1e-2, 1e-1, 1])
        XCTAssertEqual(exact.labels, ["0.001", "0.01", "0.1", "1"])
        let tiny = AxisTicks.logarithmic(lower: 2e-6, upper: 3e-5)
        XCTAssertEqual(tiny.values, [1e-6, 1e-5, 1e-4])
        XCTAssertEqual(tiny.labels, ["1e-6", "1e-5", "1e-4"])
    }

    func testLogTicksWithinOneDecadeAndOfOneValue() {
        XCTAssertEqual(AxisTicks.logarithmic(lower: 2, upper: 8).values, [1, 10])
        XCTAssertEqual(AxisTicks.logarithmic(lower: 100, upper: 100).values, [10, 100, 1000])
    }

    func testLogTicksOverManyDecadesAreThinned() {
        let ticks = AxisTicks.logarithmic(lower: 1e-8, upper: 1e8)
        XCTAssertEqual(ticks.values, [1e-8, 1e-6, 1e-4, 1e-2, 1, 1e2, 1e4, 1e6, 1e8])
        XCTAssertEqual(ticks.domain, 1e-8...1e8)
    }

    func testLinearTicksAreNiceAndCoverTheRange() {
        let ticks = AxisTicks.linear(lower: 0, upper: 17.3)
        XCTAssertEqual(ticks.values, [0, 5, 10, 15, 20])
        XCTAssertEqual(ticks.labels, ["0", "5", "10", "15", "20"])
        let small = AxisTicks.linear(lower: 0.12, upper: 0.47)
        XCTAssertEqual(small.labels, ["0.10", "0.20", "0.30", "0.40", "0.50"].map { String($0.dropLast()) })
        XCTAssertLessThanOrEqual(small.domain.lowerBound, 0.12)
        XCTAssertGreaterThanOrEqual(small.domain.upperBound, 0.47)
    }

    func testLinearTicksOfOneValue() {
        let ticks = AxisTicks.linear(lower: 5, upper: 5)
        XCTAssertLessThan(ticks.domain.lowerBound, 5)
        XCTAssertGreaterThan(ticks.domain.upperBound, 5)
        XCTAssertEqual(AxisTicks.linear(lower: 0, upper: 0).values.first, -1)
    }
}

final class PlotTests: XCTestCase {
    /// Legend labels fit inside the drawing: the SVG grows to the right of the plot area for a
    /// long run name (estimated at 0.62 em per character, above Helvetica's average width).
    func testLegendFitsLongRunNames() throws {
        let long = "demo-20261130-205949-with-a-much-longer-name"
        let svg = ReportPlots.errorVsTime([sampleRun(long), sampleRun("b")]).svg()
        let xml = try XCTUnwrap(XMLCollector.parse(svg))
        let width = try XCTUnwrap(Double(xml.elements.first?.attributes["width"] ?? ""))
        let legendTexts = xml.elements.filter { $0.name == "text" && $0.attributes["x"] != nil }
            .compactMap { Double($0.attributes["x"]!) }.max()
        let label = "\(long) train"
        let right = try XCTUnwrap(legendTexts) + LineChart.textWidth(label, fontSize: 12)
        XCTAssertLessThanOrEqual(right, width, "the legend ends inside the SVG")
        XCTAssertTrue(xml.text.contains(label), "the full name is written, not cut")
        // The estimate is an upper bound for Helvetica/Arial: 0.62 em per character.
        XCTAssertEqual(LineChart.textWidth("abcd", fontSize: 10), 24.8, accuracy: 1e-9)
        // A short name keeps the default width.
        let short = try XCTUnwrap(XMLCollector.parse(ReportPlots.errorVsTime([sampleRun("a")]).svg()))
        XCTAssertEqual(short.elements.first?.attributes["width"], "760.00")
    }

    /// The y axes name the quantity (Table 2's error: per-case sum of squared errors).
    func testErrorAxesNameTheQuantity() throws {
        for svg in [ReportPlots.errorVsTime([sampleRun("a")]).svg(), ReportPlots.errorVsIteration([sampleRun("a")]).svg()] {
            let xml = try XCTUnwrap(XMLCollector.parse(svg))
            let labels = xml.elements.filter { $0.attributes["class"] == "axis-label" }
            XCTAssertEqual(labels.count, 2)
            XCTAssertTrue(xml.text.contains("error (per-case sum of squared errors)"), xml.text)
        }
    }

    /// A run of a few iterations gets its lambda line and a marker at every point.
    func testShortRunLambdaLineIsDrawnWithMarkers() throws {
        let figure = try XCTUnwrap(XMLCollector.parse(ReportPlots.lambdaAndCG([sampleRun("demo", iterations: 4)]).svg()))
        let lambda = try XCTUnwrap(figure.series().first)
        XCTAssertEqual(lambda["d"]?.split(separator: "L").count, 4)
        let markers = figure.elements.filter { $0.attributes["class"] == "marker" && $0.attributes["data-label"] == "demo" }
        XCTAssertEqual(markers.count, 12, "4 lambda, 4 CG and 4 rho points (rho -inf at iteration 2 drawn at the bottom)")
        for marker in markers {
            let cy = try XCTUnwrap(Double(marker.attributes["cy"] ?? ""))
            XCTAssertTrue(cy.isFinite)
        }
        // A long run is drawn as a line only.
        let long = try XCTUnwrap(XMLCollector.parse(ReportPlots.lambdaAndCG([sampleRun("long", iterations: 50)]).svg()))
        XCTAssertTrue(long.elements.filter { $0.attributes["class"] == "marker" }.isEmpty)
    }

    func testErrorVsTimeParsesAndHasOneSeriesPerRunAndSet() throws {
        let runs = [sampleRun("hf <rand> & \"sparse\""), sampleRun("ncg")]
        let svg = ReportPlots.errorVsTime(runs).svg()
        let xml = try XCTUnwrap(XMLCollector.parse(svg))
        XCTAssertEqual(xml.elements.first?.name, "svg")
        let series = xml.series()
        XCTAssertEqual(series.map { $0["data-label"] }, ["hf <rand> & \"sparse\" train", "hf <rand> & \"sparse\" test", "ncg train", "ncg test"])
        // Train solid, test dashed, one colour per run.
        XCTAssertNil(series[0]["stroke-dasharray"])
        XCTAssertNotNil(series[1]["stroke-dasharray"])
        XCTAssertEqual(series[0]["stroke"], series[1]["stroke"])
        XCTAssertNotEqual(series[0]["stroke"], series[2]["stroke"])
        // Six train points, three test points.
        XCTAssertEqual(series[0]["d"]?.split(separator: "L").count, 6)
        XCTAssertEqual(series[1]["d"]?.split(separator: "L").count, 3)
        // Log time axis: seconds 10...60 round out to 10 and 100.
        XCTAssertTrue(xml.text.contains("time in seconds (log scale)"))
        let ticks = xml.elements.filter { $0.attributes["class"] == "tick" }.count
        XCTAssertGreaterThan(ticks, 2)
        XCTAssertTrue(svg.contains(">100</text>"))
        XCTAssertTrue(xml.text.contains("hf <rand> & \"sparse\" train"), "legend shows the unescaped name")
    }

    func testErrorVsIterationAndLambdaAndCG() throws {
        let runs = [sampleRun("a"), sampleRun("b", iterations: 3)]
        let iteration = try XCTUnwrap(XMLCollector.parse(ReportPlots.errorVsIteration(runs).svg()))
        XCTAssertEqual(iteration.series().count, 4)
        let figure = try XCTUnwrap(XMLCollector.parse(ReportPlots.lambdaAndCG(runs).svg()))
        XCTAssertEqual(figure.elements.filter { $0.attributes["class"] == "panel" }.count, 3)
        XCTAssertEqual(figure.series().map { $0["data-label"] }, ["a", "b", "a", "b", "a", "b"])
        XCTAssertTrue(figure.text.contains("lambda (log scale)"))
        XCTAssertTrue(figure.text.contains("CG iterations"))
        // lambda 10^-0.5 ... 10^-3 on a log axis: decade ticks from 0.001 to 1.
        for label in ["0.001", "0.01", "0.1", "1"] { XCTAssertTrue(figure.text.contains(label), label) }
    }

    /// The rho panel: the batch's rho solid, the whole set's dashed where the log has it, both
    /// clamped to the panel's range (a -inf lies on its bottom edge, as the lowest finite value).
    func testRhoPanelDrawsTheWholeSetsRhoWhereLogged() throws {
        var run = sampleRun("hf", iterations: 4)
        for i in run.records.indices {
            run.records[i].modelChange = -0.1
            run.records[i].rhoFullData = i == 3 ? -.infinity : 2.5   // 2.5 is above the range
        }
        let figure = try XCTUnwrap(XMLCollector.parse(ReportPlots.lambdaAndCG([run, sampleRun("old", iterations: 4)]).svg()))
        let series = figure.series()
        XCTAssertEqual(series.map { $0["data-label"] }, ["hf", "old", "hf", "old", "hf", "hf (whole set)", "old"])
        XCTAssertNil(series[4]["stroke-dasharray"])
        XCTAssertNotNil(series[5]["stroke-dasharray"])
        XCTAssertEqual(series[4]["stroke"], series[5]["stroke"])
        func ys(_ label: String) throws -> [Double] {
            try figure.elements.filter { $0.attributes["class"] == "marker" && $0.attributes["data-label"] == label }
                .map { try XCTUnwrap(Double($0.attributes["cy"] ?? "")) }
        }
        // Markers: the batch's rho (0.5, -inf, 0.5, 0.5) after lambda's and CG's 4 each; the whole set's 4.
        let batch = Array(try ys("hf").suffix(4)), whole = try ys("hf (whole set)")
        XCTAssertEqual(whole.count, 4)
        XCTAssertEqual(batch[1], whole[3], accuracy: 1e-9, "both -inf at the bottom edge (-0.5)")
        XCTAssertLessThan(whole[0], batch[0], "2.5 clamped to 1.5, above 0.5 (SVG y grows downwards)")
        XCTAssertEqual(whole[0], whole[1], accuracy: 1e-9)
        XCTAssertGreaterThan(batch[1], batch[0])
        XCTAssertTrue(figure.text.contains("whole training set"))
    }

    func testEmptySinglePointAndNonFiniteData() throws {
        let empty = LineChart(title: "empty", xAxis: PlotAxis(label: "x", scale: .logarithmic),
                              yAxis: PlotAxis(label: "y"), series: [])
        let emptyXML = try XCTUnwrap(XMLCollector.parse(empty.svg()))
        XCTAssertTrue(emptyXML.text.contains("no data"))

        let noRuns = try XCTUnwrap(XMLCollector.parse(ReportPlots.lambdaAndCG([]).svg()))
        XCTAssertTrue(noRuns.series().isEmpty)

        let awkward = LineChart(
            title: "awkward", xAxis: PlotAxis(label: "x", scale: .logarithmic), yAxis: PlotAxis(label: "y", scale: .logarithmic),
            series: [
                PlotSeries(label: "one", points: [PlotPoint(x: 5, y: 5)], color: "red"),
                PlotSeries(label: "mixed", points: [PlotPoint(x: 0, y: 1), PlotPoint(x: 1, y: .nan), PlotPoint(x: 2, y: -3),
                                                    PlotPoint(x: .infinity, y: 1), PlotPoint(x: 3, y: 2), PlotPoint(x: 4, y: 3)],
                           color: "blue"),
                PlotSeries(label: "nothing drawable", points: [PlotPoint(x: -1, y: 1)], color: "green"),
            ])
        let svg = awkward.svg()
        XCTAssertFalse(svg.lowercased().contains("nan"))
        XCTAssertFalse(svg.contains("inf"))
        let xml = try XCTUnwrap(XMLCollector.parse(svg))
        let series = xml.series()
        XCTAssertEqual(series.count, 2, "the undrawable series is in the legend only")
        XCTAssertEqual(xml.elements.first { $0.attributes["data-label"] == "one" }?.name, "circle")
        XCTAssertEqual(series.first { $0["data-label"] == "mixed" }?["d"]?.split(separator: "L").count, 2)
        XCTAssertTrue(xml.text.contains("nothing drawable"))
    }

    func testPointsLieInsideThePlotArea() throws {
        let chart = ReportPlots.errorVsTime([sampleRun("a", startSeconds: 3)])
        let xml = try XCTUnwrap(XMLCollector.parse(chart.svg()))
        let area = try XCTUnwrap(xml.elements.first { $0.attributes["class"] == "plot-area" }?.attributes)
        let (x0, y0) = (Double(area["x"]!)!, Double(area["y"]!)!)
        let (x1, y1) = (x0 + Double(area["width"]!)!, y0 + Double(area["height"]!)!)
        for series in xml.series() {
            let numbers = series["d"]!.split(whereSeparator: { "ML ".contains($0) }).map { Double($0)! }
            for pair in stride(from: 0, to: numbers.count, by: 2) {
                XCTAssertTrue((x0 - 1e-9)...(x1 + 1e-9) ~= numbers[pair])
                XCTAssertTrue((y0 - 1e-9)...(y1 + 1e-9) ~= numbers[pair + 1])
            }
        }
    }
}
