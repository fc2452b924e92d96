import XCTest
import Foundation
import LinearAlgebra
import Optimization
import Datasets
import Reporting
@testable import Experiments

/// Runs that end by themselves: early stopping on validation data, the convergence rule,
/// divergence; `summary.json` and `best/`; all of it across a resume.
final class RunEndingTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-ending-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }
    var locations: DataLocations { DataLocations(dataDirectory: directory, cacheDirectory: directory.appendingPathComponent("cache")) }

    private func record(_ i: Int, loss: Double, validation: Double? = nil, test: Double? = nil, train: Double = .nan) -> MetricsRecord {
        var r = MetricsRecord(iteration: i, seconds: Double(i), trainLoss: loss, trainError: train, testError: test,
                              lambda: 1, rho: 1, cgIterations: 1, cgChosen: 1, gradientEvaluations: i, curvatureProducts: i, gflops: 1)
        r.validationError = validation
        return r
    }

    // MARK: The monitor's rules

    func testEarlyStoppingCountsEvaluationsWithoutANewBest() {
        var m = RunMonitor(criterion: .validation, patience: 3, convergence: ConvergenceRule(relativeTolerance: 0))
        let validation: [Double?] = [5, 4, nil, 4, 4.5, 3.9, 4, 4, 4]   // nil: not evaluated that iteration
        var stops: [Int] = [], bests: [Int] = []
        for (k, v) in validation.enumerated() {
            let o = m.observe(record(k + 1, loss: 10, validation: v))
            if o.isNewBest { bests.append(k + 1) }
            if o.stop != nil { stops.append(k + 1) }
        }
        XCTAssertEqual(bests, [1, 2, 6], "a tie (4 at iteration 4) is not a new best; unevaluated iterations are skipped")
        XCTAssertEqual(stops, [9], "three evaluations after the best at 6")
        XCTAssertEqual(m.best?.iteration, 6)
        XCTAssertEqual(m.observe(record(10, loss: 10, validation: 4)).stop, .earlyStopping)
    }

    func testConvergenceRuleOnTheObjectivesRelativeProgress() {
        let rule = ConvergenceRule(window: 2, relativeTolerance: 1e-3)
        XCTAssertFalse(rule.isSatisfied(byObjectives: [100, 99]), "needs window + 1 values")
        XCTAssertFalse(rule.isSatisfied(byObjectives: [100, 99.95, 99.5]), "0.5% over the window")
        XCTAssertTrue(rule.isSatisfied(byObjectives: [100, 99.99, 99.95]), "0.05% over the window")
        XCTAssertTrue(rule.isSatisfied(byObjectives: [100, 100.5, 101]), "a rising objective has converged too")
        XCTAssertFalse(ConvergenceRule(window: 2, relativeTolerance: 0).isSatisfied(byObjectives: [1, 1, 1]), "0 turns it off")
        XCTAssertFalse(rule.isSatisfied(byObjectives: [.nan, 1, 1]))
        var m = RunMonitor(criterion: .test, patience: nil, convergence: rule)
        XCTAssertNil(m.observe(record(1, loss: 100, test: 3)).stop)
        XCTAssertNil(m.observe(record(2, loss: .nan, test: 2)).stop, "unevaluated objectives do not count")
        XCTAssertNil(m.observe(record(3, loss: 99.99, test: 2)).stop)
        XCTAssertEqual(m.observe(record(4, loss: 99.95, test: 2)).stop, .converged)
        XCTAssertEqual(m.best?.iteration, 2)
    }

    func testMonitorFallsBackToTestThenTrainError() {
        var m = RunMonitor(criterion: .train, patience: nil, convergence: ConvergenceRule())
        XCTAssertFalse(m.observe(record(1, loss: 1)).isNewBest, "NaN: not measured")
        XCTAssertTrue(m.observe(record(2, loss: 1, train: 3)).isNewBest)
        XCTAssertNil(RunMonitor(criterion: .test, patience: nil, convergence: ConvergenceRule()).selectionError(record(1, loss: 1, train: 2)))
    }

    // MARK: Data

    func testValidationSplitHoldsOutTheLastCases() throws {
        let x = Matrix<Float>(rows: 5, columns: 2, elements: (0..<10).map(Float.init))
        let d = Dataset(name: "d", train: x, test: Matrix(rows: 0, columns: 2), trainLabels: [0, 1, 2, 3, 4])
        let s = try d.holdingOut(lastTrainingCases: 2)
        XCTAssertEqual(s.train.storage, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(s.validation?.storage, [6, 7, 8, 9])
        XCTAssertEqual(s.trainLabels, [0, 1, 2])
        XCTAssertNil(s.validationTargets)
        XCTAssertThrowsError(try d.holdingOut(lastTrainingCases: 5))
        XCTAssertThrowsError(try s.holdingOut(lastTrainingCases: 1), "a second validation set is refused")
        XCTAssertThrowsError(try d.withValidation(inputs: Matrix(rows: 1, columns: 3), targets: nil, source: "v.npy")) { e in
            XCTAssertTrue("\(e)".contains("v.npy"), "\(e)")
        }
    }

    // MARK: Whole runs

    private func writeData(rows: Int, seed: UInt64, name: String) throws -> String {
        var g = SeededGenerator(seed: seed)
        let prototypes: [[Float]] = [(0..<16).map { Float($0 % 2) }, (0..<16).map { Float(($0 / 4) % 2) }]
        var values: [Float] = []
        for _ in 0..<rows { values += prototypes[g.integer(below: 2)].map { g.uniform() < 0.1 ? 1 - $0 : $0 } }
        let url = directory.appendingPathComponent(name)
        try NPY.write(Matrix(rows: rows, columns: 16, elements: values), to: url)
        return url.path
    }

    private func configuration(patience: Int?, iterations: Int = 60, optimizer: OptimizerKind = .hf) throws -> ExperimentConfiguration {
        var hf = HessianFreeConfiguration()
        hf.curvatureBatches = .chunks(count: 2)
        hf.initialLambda = 1
        var data = DataSpecification(dataset: "files", trainInputs: try writeData(rows: 240, seed: 1, name: "train.npy"),
                                     testInputs: try writeData(rows: 60, seed: 2, name: "test.npy"))
        data.validationSplit = 40
        // A wide code layer on little data overfits, so the validation error turns back up.
        var c = ExperimentConfiguration(
            preset: "custom", data: data,
            architecture: try Preset.autoencoder(encoder: [16, 40, 12], hidden: .logistic, code: .linear, output: .logistic),
            weightCost: 0, hessianFree: hf, maximumIterations: iterations, checkpointInterval: 2)
        c.optimizer = optimizer
        if optimizer != .hf { c.evaluationInterval = 5; c.checkpointInterval = 10 }
        c.earlyStoppingPatience = patience
        c.convergence = ConvergenceRule(relativeTolerance: 0)
        return c
    }

    func testEarlyStoppingWritesSummaryAndBestThatEvaluatesToTheRecordedErrors() throws {
        let folder = directory.appendingPathComponent("run")
        let run = try TrainingRun.create(configuration: try configuration(patience: 3), folder: folder, locations: locations)
        XCTAssertEqual(run.dataset.train.rows, 200)
        XCTAssertEqual(run.dataset.validation?.rows, 40)
        let outcome = try run.run()
        let records = try RunFolder(folder).readMetrics()
        let bestRecord = try XCTUnwrap(records.min { $0.validationError! < $1.validationError! })
        XCTAssertEqual(outcome.stopReason, .earlyStopping, "validation errors: \(records.map { $0.validationError! })")
        XCTAssertEqual(outcome.iterations, bestRecord.iteration + 3)

        let summary = try TrainingSummary.read(from: folder)
        XCTAssertEqual(summary, outcome.summary)
        XCTAssertEqual(summary.stopReason, .earlyStopping)
        XCTAssertEqual(summary.selectedBy, .validation)
        XCTAssertEqual(summary.bestIteration, bestRecord.iteration)
        XCTAssertEqual(summary.best?.validationError, bestRecord.validationError)
        XCTAssertEqual(summary.best?.testError, bestRecord.testError)
        XCTAssertEqual(summary.iterations, outcome.iterations)
        XCTAssertGreaterThan(summary.cpuSeconds ?? 0, 0)
        XCTAssertFalse(summary.machine.blasCore.isEmpty)
        XCTAssertNotEqual(summary.machine.cpuModel, "")
        #if os(Linux)
        // The process's peak resident memory (VmHWM): at least the training data it held.
        XCTAssertGreaterThan(summary.machine.peakResidentMegabytes ?? 0, 1)
        #endif
        let text = try String(contentsOf: folder.appendingPathComponent("summary.json"), encoding: .utf8)
        for key in ["\"stop_reason\" : \"early-stopping\"", "\"best_iteration\"", "\"cpu_model\"", "\"blas_core\""] {
            XCTAssertTrue(text.contains(key), "\(key) in \(text)")
        }

        // best/ holds the best iteration's parameters: evaluating them gives its errors exactly.
        let model = try SavedModel.read(from: folder.appendingPathComponent("best"))
        XCTAssertEqual(model.iteration, bestRecord.iteration)
        let v = try XCTUnwrap(run.dataset.validation)
        XCTAssertEqual(try model.metrics(inputs: v, targets: nil, chunkSize: model.configuration.chunkSize).reconstructionError,
                       bestRecord.validationError)
        XCTAssertEqual(try model.metrics(inputs: run.dataset.test, targets: nil, chunkSize: model.configuration.chunkSize).reconstructionError,
                       bestRecord.testError)
        // The run folder itself still evaluates at its last checkpoint.
        XCTAssertEqual(try SavedModel.read(from: folder).iteration, outcome.iterations)
    }

    func testEarlyStoppingResumesToTheSameStopAndBest() throws {
        let straight = directory.appendingPathComponent("straight"), resumed = directory.appendingPathComponent("resumed")
        let a = try TrainingRun.create(configuration: try configuration(patience: 3), folder: straight, locations: locations).run()
        // Interrupt after the best iteration but before the stop, then resume.
        let cut = a.summary.bestIteration! + 1
        var c = try configuration(patience: 3)
        c.maximumIterations = cut
        XCTAssertEqual(try TrainingRun.create(configuration: c, folder: resumed, locations: locations).run().stopReason, .maximumIterations)
        let b = try TrainingRun.resume(folder: resumed, locations: locations, maximumIterations: 60).run()
        XCTAssertEqual(b.stopReason, .earlyStopping)
        XCTAssertEqual(b.iterations, a.iterations)
        XCTAssertEqual(b.summary.bestIteration, a.summary.bestIteration)
        XCTAssertEqual(b.summary.best?.validationError, a.summary.best?.validationError)
        let pa = try SafeTensors.read(from: straight.appendingPathComponent("best/parameters.safetensors"))
        let pb = try SafeTensors.read(from: resumed.appendingPathComponent("best/parameters.safetensors"))
        XCTAssertEqual(pa.tensors, pb.tensors, "best/ is bit-identical after a resume")
    }

    func testConvergenceEndsARunWithoutOtherLimits() throws {
        var c = try configuration(patience: nil, iterations: 200)
        c.maximumIterations = nil
        c.convergence = ConvergenceRule(window: 3, relativeTolerance: 0.05)
        let outcome = try TrainingRun.create(configuration: c, folder: directory.appendingPathComponent("c"), locations: locations).run()
        XCTAssertEqual(outcome.stopReason, .converged)
        let losses = try RunFolder(directory.appendingPathComponent("c")).readMetrics().map(\.trainLoss)
        XCTAssertTrue(ConvergenceRule(window: 3, relativeTolerance: 0.05).isSatisfied(byObjectives: Array(losses.suffix(4))))
        XCTAssertFalse(ConvergenceRule(window: 3, relativeTolerance: 0.05).isSatisfied(byObjectives: Array(losses.dropLast().suffix(4))),
                       "it stopped at the first iteration the rule held")
    }

    func testEveryOptimizerWritesSummaryAndBest() throws {
        for kind in OptimizerKind.allCases {
            let folder = directory.appendingPathComponent("run-\(kind.rawValue)")
            let outcome = try TrainingRun.create(configuration: try configuration(patience: 4, iterations: 20, optimizer: kind),
                                                 folder: folder, locations: locations).run()
            let summary = try TrainingSummary.read(from: folder)
            XCTAssertEqual(summary.optimizer, kind.rawValue)
            XCTAssertEqual(summary.stopReason, outcome.stopReason)
            XCTAssertNotNil(summary.bestIteration, "\(kind)")
            XCTAssertEqual(try SavedModel.read(from: folder.appendingPathComponent("best")).iteration, summary.bestIteration, "\(kind)")
        }
    }

    func testADivergingBaselineStopsWithReasonDiverged() throws {
        var c = try configuration(patience: nil, iterations: 50, optimizer: .sgd)
        // Linear outputs with squared error are unbounded: far too large a step overflows.
        c.architecture = try Preset.autoencoder(encoder: [16, 40, 12], hidden: .linear, code: .linear, output: .linear)
        c.baselines.sgd.learningRate = 1e3
        c.evaluationInterval = 1
        let folder = directory.appendingPathComponent("diverged")
        let outcome = try TrainingRun.create(configuration: c, folder: folder, locations: locations).run()
        XCTAssertEqual(outcome.stopReason, .diverged)
        XCTAssertNotNil(outcome.divergence)
        XCTAssertEqual(try TrainingSummary.read(from: folder).stopReason, .diverged)
        XCTAssertLessThan(outcome.iterations, 50)
    }

    /// The paper's protocol: no validation data, the best iteration chosen on test data, and
    /// the run ends `--paper-style-stop` evaluations past the lowest test error.
    private func paperStyleConfiguration(patience: Int?, iterations: Int = 60) throws -> ExperimentConfiguration {
        var c = try configuration(patience: nil, iterations: iterations)
        c.data.validationSplit = nil
        c.paperStylePatience = patience
        return c
    }

    func testPaperStyleStopEndsPastTheLowestTestError() throws {
        let folder = directory.appendingPathComponent("paper")
        let outcome = try TrainingRun.create(configuration: try paperStyleConfiguration(patience: 3), folder: folder,
                                             locations: locations).run()
        let records = try RunFolder(folder).readMetrics()
        let tests = records.map { $0.testError! }
        let bestRecord = try XCTUnwrap(records.min { $0.testError! < $1.testError! })
        XCTAssertEqual(outcome.stopReason, .earlyStopping, "test errors: \(tests)")
        XCTAssertEqual(outcome.iterations, bestRecord.iteration + 3)
        XCTAssertTrue(records.suffix(3).allSatisfy { $0.testError! >= bestRecord.testError! })
        XCTAssertTrue(records.allSatisfy { $0.validationError == nil })
        let summary = try TrainingSummary.read(from: folder)
        XCTAssertEqual(summary.stopReason, .earlyStopping)
        XCTAssertEqual(summary.selectedBy, .test)
        XCTAssertEqual(summary.bestIteration, bestRecord.iteration)
        XCTAssertEqual(try SavedModel.read(from: folder.appendingPathComponent("best")).iteration, bestRecord.iteration)

        // Given on --resume to a run already past it, the stop comes at once: no more steps.
        let late = directory.appendingPathComponent("late")
        var c = try paperStyleConfiguration(patience: nil)
        c.maximumIterations = bestRecord.iteration + 5
        XCTAssertEqual(try TrainingRun.create(configuration: c, folder: late, locations: locations).run().stopReason, .maximumIterations)
        let resumed = try TrainingRun.resume(folder: late, locations: locations,
                                             changes: .init(maximumIterations: 60, paperStylePatience: 3)).run()
        XCTAssertEqual(resumed.stopReason, .earlyStopping)
        XCTAssertEqual(resumed.iterations, bestRecord.iteration + 5)
        XCTAssertEqual(resumed.summary.bestIteration, bestRecord.iteration)
        XCTAssertEqual(try RunFolder(late).readMetrics().count, bestRecord.iteration + 5)
        XCTAssertEqual(try RunFolder(late).readConfiguration(ExperimentConfiguration.self).paperStylePatience, 3)
    }

    func testPaperStyleStopIsRefusedWhereItWouldMislead() throws {
        XCTAssertNoThrow(try paperStyleConfiguration(patience: 3).validate())
        var c = try paperStyleConfiguration(patience: 0)
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--paper-style-stop must be >= 1"), "\($0)") }
        // A run with validation data is early-stopped on it.
        c = try paperStyleConfiguration(patience: 3)
        c.data.validationSplit = 40
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("use --early-stopping"), "\($0)") }
        c = try paperStyleConfiguration(patience: 3)
        c.data.dataset = "faces"
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("use --early-stopping"), "\($0)") }
        c = try paperStyleConfiguration(patience: 3)
        c.earlyStoppingPatience = 3
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("exclude each other"), "\($0)") }
        // It watches the test error: a run without test data is refused before its folder exists.
        c = try paperStyleConfiguration(patience: 3)
        c.data.testInputs = nil
        let folder = directory.appendingPathComponent("no-test")
        XCTAssertThrowsError(try TrainingRun.create(configuration: c, folder: folder, locations: locations)) {
            XCTAssertTrue("\($0)".contains("no test data"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.path))
    }

    /// `--test-once`: the same trajectory and the same choice as a run that looks at its test
    /// set every iteration, but the test error is measured once, at the end, from the best
    /// iteration's parameters; across a resume too.
    func testTestOnceMeasuresTheBestIterationsTestErrorAtTheEnd() throws {
        let seen = try TrainingRun.create(configuration: try configuration(patience: 3), folder: directory.appendingPathComponent("seen"),
                                          locations: locations).run()
        var c = try configuration(patience: 3)
        c.testOnce = true
        let folder = directory.appendingPathComponent("once")
        let once = try TrainingRun.create(configuration: c, folder: folder, locations: locations).run()
        XCTAssertEqual(once.stopReason, .earlyStopping)
        XCTAssertEqual(once.iterations, seen.iterations)
        XCTAssertEqual(once.summary.bestIteration, seen.summary.bestIteration)
        XCTAssertEqual(once.summary.best?.validationError, seen.summary.best?.validationError)
        XCTAssertTrue(try RunFolder(folder).readMetrics().allSatisfy { $0.testError == nil }, "the run never evaluated the test set")
        let e = try XCTUnwrap(once.summary.best?.testError)
        XCTAssertEqual(e, seen.summary.best?.testError, "the same parameters, the same evaluation")
        XCTAssertEqual(once.summary.testMeasuredOnce, true)
        XCTAssertNil(seen.summary.testMeasuredOnce)
        XCTAssertEqual(try TrainingSummary.read(from: folder), once.summary)
        let text = try String(contentsOf: folder.appendingPathComponent("summary.json"), encoding: .utf8)
        XCTAssertTrue(text.contains("\"test_measured_once\" : true"), text)

        // Stopped at the best iteration + 1 (max-iterations: measured), then resumed to the
        // early stop: the best parameters come back from best/ for the final measurement.
        let cut = directory.appendingPathComponent("cut")
        c.maximumIterations = once.summary.bestIteration! + 1
        let first = try TrainingRun.create(configuration: c, folder: cut, locations: locations).run()
        XCTAssertEqual(first.stopReason, .maximumIterations)
        XCTAssertEqual(first.summary.best?.testError, e)
        let resumed = try TrainingRun.resume(folder: cut, locations: locations, maximumIterations: 60).run()
        XCTAssertEqual(resumed.stopReason, .earlyStopping)
        XCTAssertEqual(resumed.summary.best?.testError, e)
        XCTAssertEqual(resumed.summary.testMeasuredOnce, true)

        // best/ lost before the resume: said, and no test error is made up.
        let lost = directory.appendingPathComponent("lost")
        XCTAssertEqual(try TrainingRun.create(configuration: c, folder: lost, locations: locations).run().stopReason, .maximumIterations)
        try FileManager.default.removeItem(at: lost.appendingPathComponent("best"))
        var messages: [String] = []
        let blind = try TrainingRun.resume(folder: lost, locations: locations, maximumIterations: 60, events: {
            if case .message(let m) = $0 { messages.append(m) }
        }).run()
        XCTAssertEqual(blind.stopReason, .earlyStopping)
        XCTAssertTrue(messages.contains { $0.contains("--test-once") && $0.contains("does not hold") }, "\(messages)")
        XCTAssertNil(blind.summary.best?.testError)
        XCTAssertNil(blind.summary.testMeasuredOnce)

        // Interrupted: no measurement yet.
        let stop = StopFlag()
        stop.request()
        let interrupted = try TrainingRun.resume(folder: cut, locations: locations).run(stop: stop)
        XCTAssertEqual(interrupted.stopReason, .interrupted)
        XCTAssertNil(interrupted.summary.best?.testError)
        XCTAssertNil(interrupted.summary.testMeasuredOnce)

        // It needs validation data to choose by.
        c.data.validationSplit = nil
        c.earlyStoppingPatience = nil
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--test-once needs validation data"), "\($0)") }
    }

    func testEarlyStoppingWithoutValidationDataIsRefused() throws {
        var c = try configuration(patience: 3)
        c.data.validationSplit = nil
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("validation"), "\($0)") }
        c.data.validationSplit = 0
        XCTAssertThrowsError(try c.validate())
    }
}
