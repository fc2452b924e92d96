import XCTest
import Foundation
import Reporting
@testable import Experiments

final class PaperComparisonTests: XCTestCase {
    func testTable2NumbersAndMethods() {
        XCTAssertEqual(PaperComparison.paper(dataSet: "curves", l2: false, method: .randHF)?.train, 0.11)
        XCTAssertEqual(PaperComparison.paper(dataSet: "mnist", l2: true, method: .ptHF)?.test, 2.28)
        XCTAssertEqual(PaperComparison.paper(dataSet: "faces", l2: false, method: .ptNCG)?.test, 124)
        XCTAssertNil(PaperComparison.paper(dataSet: "faces", l2: false, method: .ptNCG)?.train ?? nil)
        XCTAssertNil(PaperComparison.paper(dataSet: "files", l2: false, method: .randHF))
        var c = Preset.mnist.configuration()
        XCTAssertEqual(PaperComparison.method(of: c), .randHF)
        c.pretraining = PretrainingSpecification()
        XCTAssertEqual(PaperComparison.method(of: c), .ptHF)
        c.optimizer = .ncg
        XCTAssertEqual(PaperComparison.method(of: c), .ptNCG)
        c.optimizer = .adam
        XCTAssertNil(PaperComparison.method(of: c))
    }

    func testRowUsesTheBestIterationAndMarksTheL2Prior() {
        func record(_ i: Int, _ train: Double, _ test: Double) -> MetricsRecord {
            MetricsRecord(iteration: i, seconds: Double(i), trainLoss: 1, trainError: train, testError: test, lambda: 1, rho: 1,
                          cgIterations: 1, cgChosen: 1, gradientEvaluations: 1, curvatureProducts: 1, gflops: 1)
        }
        let records = [record(1, 3, 3.3), record(2, 2, 2.5), record(3, 1.5, 2.6)]
        let row = PaperComparison.row(name: "m", configuration: Preset.mnistL2.configuration(), records: records, summary: nil)
        XCTAssertEqual(row.dataSet, "MNIST*")
        XCTAssertEqual(row.method, "RAND+HF")
        XCTAssertEqual(row.iteration, 2); XCTAssertEqual(row.train, 2); XCTAssertEqual(row.test, 2.5)
        XCTAssertEqual(row.paperTrain, 1.75); XCTAssertEqual(row.paperTest, 2.55)
        let text = PaperComparison.markdown([row])
        XCTAssertTrue(text.contains("| m | MNIST* | RAND+HF | 1.750 | 2.000 | +14% | 2.550 | 2.500 | -2% | 2 (test) |"), text)

        // A CURVES run on the older recipe keeps the paper's numbers beside it but says so.
        var oldCurves = Preset.curves.configuration()
        XCTAssertEqual(PaperComparison.row(name: "c", configuration: oldCurves, records: records, summary: nil).dataSet, "CURVES")
        oldCurves.data.curvesRecipe = 1
        let old = PaperComparison.row(name: "c", configuration: oldCurves, records: records, summary: nil)
        XCTAssertEqual(old.dataSet, "CURVES (recipe 1)"); XCTAssertEqual(old.paperTrain, 0.11)

        // A summary written at the last iteration decides (here: by validation error, at 1);
        // the summary of an earlier stop, left by a resumed run still going, does not.
        func summary(iterations: Int) -> TrainingSummary {
            TrainingSummary(stopReason: .interrupted, iterations: iterations, seconds: 3, cpuSeconds: 3, selectedBy: .validation,
                            bestIteration: 1, best: .init(records[0]), last: .init(records[iterations - 1]), optimizer: "hf",
                            preset: "mnist-l2", ranks: 1, machine: .init(cpuModel: "x", blasCore: "y", blasThreads: 1),
                            toolVersion: "t")
        }
        let finished = PaperComparison.row(name: "m", configuration: Preset.mnistL2.configuration(), records: records,
                                           summary: summary(iterations: 3))
        XCTAssertEqual(finished.iteration, 1); XCTAssertEqual(finished.selectedBy, "validation")
        // Machine time to the reported iteration, how the run stopped, and where it ran.
        XCTAssertEqual(text.split(separator: "\n")[2], "| m | MNIST* | RAND+HF | 1.750 | 2.000 | +14% | 2.550 | 2.500 | -2% | 2 (test) | - | running | - |")
        var timed = records
        for i in timed.indices { timed[i].cpuSeconds = 100 * Double(i + 1) }
        var stopped = summary(iterations: 3)
        stopped.best = .init(timed[0])
        let pt = PaperComparison.row(name: "p", configuration: Preset.mnistL2.configuration(), records: timed,
                                     summary: stopped, pretrainingSeconds: 40)
        XCTAssertEqual(pt.stop, "interrupted"); XCTAssertEqual(pt.machine, "x, y")
        XCTAssertTrue(PaperComparison.markdown([pt]).contains("| 1 (validation) | 100 (40 pre-training) | interrupted | x, y |"), PaperComparison.markdown([pt]))
        let running = PaperComparison.row(name: "p", configuration: Preset.mnistL2.configuration(), records: timed,
                                          summary: nil, pretrainingSeconds: 40)
        XCTAssertTrue(PaperComparison.markdown([running]).contains("| 2 (test) | 200 (40 pre-training) | running | - |"), PaperComparison.markdown([running]))
        let resumed = PaperComparison.row(name: "m", configuration: Preset.mnistL2.configuration(), records: records,
                                          summary: summary(iterations: 2))
        XCTAssertEqual(resumed.iteration, 2); XCTAssertEqual(resumed.selectedBy, "test"); XCTAssertEqual(resumed.test, 2.5)
    }
}
