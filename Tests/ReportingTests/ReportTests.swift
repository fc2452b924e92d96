import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Reporting

private func record(_ iteration: Int, seconds: Double, train: Double, test: Double?) -> MetricsRecord {
    MetricsRecord(iteration: iteration, seconds: seconds, trainLoss: train, trainError: train, testError: test,
                  lambda: 1, rho: 0.5, cgIterations: 10, cgChosen: 10, gradientEvaluations: 1,
                  curvatureProducts: 10, gflops: 1)
}

final class RunSummaryTests: XCTestCase {
    /// Test error falls to 2.4 at iteration 4 (tied at 6), then overfits; not logged at the end.
    let records = [
        record(1, seconds: 10, train: 9, test: 9.5),
        record(2, seconds: 20, train: 5, test: nil),
        record(3, seconds: 30, train: 3, test: .nan),
        record(4, seconds: 40, train: 2, test: 2.4),
        record(5, seconds: 50, train: 1.5, test: 2.9),
        record(6, seconds: 60, train: 1.2, test: 2.4),
        record(7, seconds: 3725, train: 1.1, test: nil),
    ]

    func testBestTestErrorIsTheEarliestLowestFiniteOne() {
        let summary = RunSummary(name: "r", dataSet: "MNIST", initialization: "sparse", optimizer: "HF",
                                 weightCost: 1e-4, records: records)
        XCTAssertEqual(summary.bestTest, RunSummary.ErrorsAt(iteration: 4, seconds: 40, trainError: 2, testError: 2.4))
        XCTAssertEqual(summary.final, RunSummary.ErrorsAt(iteration: 7, seconds: 3725, trainError: 1.1, testError: 2.4))
        XCTAssertEqual(summary.iterations, 7)
        XCTAssertEqual(summary.seconds, 3725)
    }

    /// Baselines log errors every few steps (NaN between): the end of the table is the last
    /// measured record, not the NaN of the last step.
    func testFinalErrorsAreTheLastMeasuredOnes() {
        let sparse = records + [record(8, seconds: 3800, train: .nan, test: nil)]
        let summary = RunSummary(name: "s", dataSet: "CURVES", initialization: "RAND", optimizer: "SGD", weightCost: 0, records: sparse)
        XCTAssertEqual(summary.final, RunSummary.ErrorsAt(iteration: 7, seconds: 3725, trainError: 1.1, testError: 2.4))
        XCTAssertEqual(summary.iterations, 8)
    }

    func testEmptyAndTestlessRuns() {
        let empty = RunSummary(name: "e", dataSet: "CURVES", initialization: "sparse", optimizer: "HF", weightCost: 0, records: [])
        XCTAssertNil(empty.final)
        XCTAssertNil(empty.bestTest)
        XCTAssertEqual(empty.iterations, 0)
        XCTAssertEqual(RunTable.cells(empty)[5...10].map { $0 }, ["-", "-", "-", "-", "-", "0"])
        let noTest = RunSummary(name: "n", dataSet: "CURVES", initialization: "sparse", optimizer: "HF", weightCost: 0,
                                records: [record(1, seconds: 1, train: 3, test: nil)])
        XCTAssertNil(noTest.bestTest)
        XCTAssertNil(noTest.final?.testError)
    }

    func testMarkdownRows() {
        let summaries = [
            RunSummary(name: "mnist|l2", dataSet: "MNIST", initialization: "sparse", optimizer: "HF", weightCost: 1e-4, records: records),
            RunSummary(name: "curves", dataSet: "CURVES", initialization: "sparse", optimizer: "HF", weightCost: 0,
                       records: [record(1, seconds: 5.25, train: 0.125, test: 0.183)]),
        ]
        let lines = RunTable.markdown(summaries).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "| Run | Data set | Init | Optimizer | l2 | Train (end) | Test (end) | Train (best test) | Test (best) | Best at iteration | Iterations | Wall time |")
        XCTAssertEqual(lines[1], "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        XCTAssertEqual(lines[2], "| mnist\\|l2 | MNIST | sparse | HF | 0.0001 | 1.100 | 2.400 | 2.000 | 2.400 | 4 | 7 | 1:02:05 |")
        XCTAssertEqual(lines[3], "| curves | CURVES | sparse | HF | - | 0.125 | 0.183 | 0.125 | 0.183 | 1 | 1 | 5.2 s |")
    }
}

final class HTMLReportTests: XCTestCase {
    func testPageEscapesEverythingAndIsWellFormed() throws {
        let summary = RunSummary(name: "<script>alert('x')</script> & co", dataSet: "MNIST \"big\"", initialization: "sparse",
                                 optimizer: "HF", weightCost: 0, records: [record(1, seconds: 1, train: 1, test: 2)])
        let page = HTMLReport.page(title: "Report <1> & \"2\"", summaries: [summary],
                                   figures: [ReportFigure(fileName: "my plot #1.svg", caption: "a < b & \"c\"")])
        XCTAssertFalse(page.contains("<script>"))
        XCTAssertTrue(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"))
        XCTAssertTrue(page.contains("<title>Report &lt;1&gt; &amp; &quot;2&quot;</title>"))
        XCTAssertTrue(page.contains("MNIST &quot;big&quot;"))
        XCTAssertTrue(page.contains("src=\"my%20plot%20%231.svg\""))
        XCTAssertTrue(page.contains("<figcaption>a &lt; b &amp; &quot;c&quot;</figcaption>"))
        // Apart from the doctype and the void elements, the page is XML.
        let xmlish = page.replacingOccurrences(of: "<!DOCTYPE html>\n", with: "")
            .replacingOccurrences(of: "<meta charset=\"utf-8\">", with: "<meta charset=\"utf-8\"/>")
            .replacingOccurrences(of: "&ldquo;", with: "").replacingOccurrences(of: "&rdquo;", with: "")
            .replacingOccurrences(of: "\">\n<figcaption", with: "\"/>\n<figcaption")
        XCTAssertNotNil(XMLCollector.parse(xmlish))
    }

    func testControlCharactersAreDropped() {
        XCTAssertEqual(Markup.escape("a\u{0}b\u{1B}c\td"), "abc\td")
    }

    func testReportWriterWritesEveryFileAndShowsReconstructionsWhenPresent() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.url.appendingPathComponent("report")
        let runs = [sampleRun("a"), sampleRun("b")]
        let summaries = runs.map { RunSummary(name: $0.name, dataSet: "CURVES", initialization: "sparse", optimizer: "HF",
                                              weightCost: 0, records: $0.records) }
        let written = try ReportWriter.write(title: "t", runs: runs, summaries: summaries, to: out)
        XCTAssertEqual(written.map(\.lastPathComponent).sorted(),
                       ["error-vs-iteration.svg", "error-vs-time.svg", "index.html", "lambda-and-cg.svg", "table.md"])
        for svg in written where svg.pathExtension == "svg" {
            XCTAssertNotNil(XMLCollector.parse(try String(contentsOf: svg, encoding: .utf8)), svg.lastPathComponent)
        }
        var page = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("src=\"error-vs-time.svg\""))
        XCTAssertFalse(page.contains("reconstructions.png"))
        try Data([0x89]).write(to: out.appendingPathComponent("reconstructions.png"))
        try ReportWriter.write(title: "t", runs: runs, summaries: summaries, to: out)
        page = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("src=\"reconstructions.png\""))
        // A logarithmic error axis says so on both error plots; the linear one does not.
        for (scale, says) in [(AxisScale.logarithmic, true), (.linear, false)] {
            try ReportWriter.write(title: "t", runs: runs, summaries: summaries, errorScale: scale, to: out)
            for name in ["error-vs-time.svg", "error-vs-iteration.svg"] {
                let svg = try String(contentsOf: out.appendingPathComponent(name), encoding: .utf8)
                XCTAssertEqual(svg.contains("squared errors), log scale"), says, "\(name) \(scale)")
            }
        }
    }
}

final class ReconstructionGridTests: XCTestCase {
    func testLayoutScalingAndOrder() {
        // Two 2x3 (width x height) images, values 0...5 row-major; reconstructions = 5 - value.
        let originals: [[Double]] = [[0, 1, 2, 3, 4, 5], [5, 5, 5, 5, 5, 5]]
        let reconstructions = originals.map { $0.map { 5 - $0 } }
        let grid = ReconstructionGrid.pixels(originals: originals, reconstructions: reconstructions,
                                             imageWidth: 2, imageHeight: 3, columns: 2, gap: 1, background: 7)
        XCTAssertEqual(grid.width, 2 * 2 + 3)
        XCTAssertEqual(grid.height, 2 * 3 + 3 + 1)
        XCTAssertEqual(grid.pixels.count, grid.width * grid.height)
        XCTAssertEqual(grid[0, 0], 7, "border")
        // First original: top-left at (1, 1); value 0 -> 0, value 1 -> 51, value 5 -> 255.
        XCTAssertEqual(grid[1, 1], 0)
        XCTAssertEqual(grid[1, 2], 51)
        XCTAssertEqual(grid[3, 2], 255)
        // Its reconstruction sits below, after a one-pixel gap: rows 5...7.
        XCTAssertEqual(grid[4, 1], 7)
        XCTAssertEqual(grid[5, 1], 255)
        XCTAssertEqual(grid[7, 2], 0)
        // Second image to the right, at column 4.
        XCTAssertEqual(grid[1, 4], 255)
        XCTAssertEqual(grid[5, 4], 0)
    }

    func testWrappingColumnMajorAndFixedRange() {
        let images: [[Float]] = (0..<3).map { _ in [0, 1, 2, 3] } // 2x2: column-major (0 2; 1 3)
        let grid = ReconstructionGrid.pixels(originals: images, reconstructions: images, imageWidth: 2, imageHeight: 2,
                                             order: .columnMajor, columns: 2, valueRange: 0...1, gap: 0)
        XCTAssertEqual(grid.width, 4)
        XCTAssertEqual(grid.height, 2 * 4)
        XCTAssertEqual([grid[0, 0], grid[0, 1], grid[1, 0], grid[1, 1]], [0, 255, 255, 255], "clamped above 1")
        XCTAssertEqual(grid[4, 0], 0, "third image wraps to the second pair of rows")
    }

    func testEmpty() {
        let grid = ReconstructionGrid.pixels(originals: [[Double]](), reconstructions: [], imageWidth: 28, imageHeight: 28)
        XCTAssertEqual(grid.pixels, [])
    }
}

final class ProgressTests: XCTestCase {
    func testProgressLineColumnsAlign() {
        let header = ProgressLine.header()
        var r = record(12, seconds: 75, train: 16.91234, test: nil)
        r.lambda = 6.666
        r.rho = -.infinity
        r.cgChosen = 7
        let line = ProgressLine.format(r)
        XCTAssertEqual(line.count, header.count)
        XCTAssertEqual(line, "    12       1:15    16.9123          -   6.67e+00      -inf       7/10")
        r.testError = 17.5
        XCTAssertTrue(ProgressLine.format(r).contains("   17.5000  "))
        XCTAssertFalse(line.contains("\n"))
        // HF records keep NaN visible; a baseline's unevaluated errors, lambda and rho read "-".
        r.rho = .nan
        r.optimizer = "hf"
        XCTAssertTrue(ProgressLine.format(r).contains(" nan "))
        var sgd = record(403, seconds: 60, train: .nan, test: nil)
        sgd.optimizer = "sgd"; sgd.lambda = .nan; sgd.rho = .nan; sgd.cgIterations = 0; sgd.cgChosen = 0
        XCTAssertEqual(ProgressLine.format(sgd), "   403       1:00          -          -          -         -          -")
        XCTAssertEqual(ProgressLine.format(sgd).count, header.count)
        // Only measured baseline steps get a line; every HF iteration does, measured or not.
        XCTAssertFalse(ProgressLine.isShown(sgd))
        sgd.trainError = 3.25
        XCTAssertTrue(ProgressLine.isShown(sgd))
        var hf = record(5, seconds: 1, train: .nan, test: nil)
        hf.optimizer = "hf"
        XCTAssertTrue(ProgressLine.isShown(hf))
    }

    func testProgressBar() {
        XCTAssertEqual(ProgressBar.render(completed: 45, total: 100, width: 10, label: "gradient"),
                       "gradient [====>     ]  45% 45/100")
        XCTAssertEqual(ProgressBar.render(completed: 0, total: 4, width: 4), "[    ]   0% 0/4")
        XCTAssertEqual(ProgressBar.render(completed: 4, total: 4, width: 4, elapsed: 2), "[====] 100% 4/4 2.0 s")
        XCTAssertEqual(ProgressBar.render(completed: 1, total: 4, width: 4, elapsed: 2), "[=>  ]  25% 1/4 2.0 s, ~6.0 s left")
        XCTAssertEqual(ProgressBar.render(completed: 9, total: 0, width: 2), "[==] 100% 9/0")
    }
}
