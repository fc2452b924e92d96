import XCTest
import Foundation
import LinearAlgebra
import NeuralNetworks
import Optimization
import Datasets
import Reporting
@testable import Experiments

final class ExperimentsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-experiments-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Sparse random binary "images" (4x4) written as NPY, a train and a test file.
    func writeBinaryData(rows: Int, seed: UInt64, name: String) throws -> URL {
        var g = SeededGenerator(seed: seed)
        // Two prototypes with 10% of the bits flipped: a structure a small auto-encoder can learn.
        let prototypes: [[Float]] = [(0..<16).map { Float($0 % 2) }, (0..<16).map { Float(($0 / 4) % 2) }]
        var values: [Float] = []
        for _ in 0..<rows {
            let p = prototypes[g.integer(below: 2)]
            values += p.map { g.uniform() < 0.1 ? 1 - $0 : $0 }
        }
        let url = directory.appendingPathComponent(name)
        try NPY.write(Matrix(rows: rows, columns: 16, elements: values), to: url)
        return url
    }

    func tinyConfiguration(maximumIterations: Int) throws -> ExperimentConfiguration {
        let train = try writeBinaryData(rows: 400, seed: 1, name: "train.npy")
        let test = try writeBinaryData(rows: 100, seed: 2, name: "test.npy")
        var hf = HessianFreeConfiguration()
        hf.curvatureBatches = .chunks(count: 2)
        hf.initialLambda = 1
        return ExperimentConfiguration(
            preset: "custom", data: DataSpecification(dataset: "files", trainInputs: train.path, testInputs: test.path),
            architecture: try Preset.autoencoder(encoder: [16, 8, 2], hidden: .logistic, code: .linear, output: .logistic),
            weightCost: 1e-5, hessianFree: hf, maximumIterations: maximumIterations, checkpointInterval: 3)
    }

    var locations: DataLocations { DataLocations(dataDirectory: directory, cacheDirectory: directory.appendingPathComponent("cache")) }

    func testPresetsFollowTable1() {
        let curves = Preset.curves.configuration()
        XCTAssertEqual(curves.architecture.layerSizes, [784, 400, 200, 100, 50, 25, 6, 25, 50, 100, 200, 400, 784])
        XCTAssertEqual(curves.architecture.activations[5], .linear, "code layer is linear")
        XCTAssertEqual(curves.architecture.activations.last, .logistic)
        XCTAssertEqual(curves.hessianFree.curvatureBatches.batchSize(atIteration: 0, caseCount: 20000), 5000)
        let mnist = Preset.mnist.configuration()
        XCTAssertEqual(mnist.architecture.layerSizes, [784, 1000, 500, 250, 30, 250, 500, 1000, 784])
        XCTAssertEqual(mnist.hessianFree.curvatureBatches.batchSize(atIteration: 0, caseCount: 60000), 7500)
        let faces = Preset.faces.configuration()
        XCTAssertEqual(faces.architecture.layerSizes, [625, 2000, 1000, 500, 30, 500, 1000, 2000, 625])
        XCTAssertEqual(faces.architecture.activations.last, .linear, "FACES has linear outputs with squared error")
        XCTAssertEqual(faces.hessianFree.curvatureBatches.batchSize(atIteration: 0, caseCount: 103500), 5175)
        XCTAssertEqual(Preset.mnistL2.configuration().weightCost, 1e-4)
        XCTAssertEqual(Preset.facesL2.configuration().weightCost, 1e-2)
        for p in Preset.allCases {
            let c = p.configuration()
            XCTAssertEqual(c.hessianFree.weightCost, c.weightCost, "preconditioner weight cost follows the objective's")
            XCTAssertEqual(c.hessianFree.initialLambda, 45)
            XCTAssertNoThrow(try c.validate())
        }
    }

    func testTrainingReducesErrorAndWritesTheRunFolder() throws {
        let folder = directory.appendingPathComponent("run")
        let run = try TrainingRun.create(configuration: try tinyConfiguration(maximumIterations: 12), folder: folder, locations: locations)
        let outcome = try run.run()
        XCTAssertEqual(outcome.iterations, 12)
        XCTAssertEqual(outcome.stopReason, "maximum-iterations")
        let records = try RunFolder(folder).readMetrics()
        XCTAssertEqual(records.map(\.iteration), Array(1...12))
        // Predicting 0.5 everywhere costs 16 * 0.25 = 4 per case; the two-prototype data with
        // 10% noise allow about 16 * 0.09 = 1.44.
        XCTAssertLessThan(records.last!.trainError, 2.5)
        XCTAssertLessThan(records.last!.testError!, 2.5)
        XCTAssertLessThan(records.last!.trainLoss, records.first!.trainLoss)
        for file in ["config.json", "metrics.jsonl", "checkpoint/parameters.safetensors", "checkpoint/optimizer_state.json", "reconstructions.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), file)
        }
        let png = try Data(contentsOf: folder.appendingPathComponent("reconstructions.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // A second `create` into the same folder is refused.
        XCTAssertThrowsError(try TrainingRun.create(configuration: try tinyConfiguration(maximumIterations: 1), folder: folder, locations: locations))
    }

    func testResumedRunIsBitIdenticalToAnUninterruptedOne() throws {
        let straight = directory.appendingPathComponent("straight"), resumed = directory.appendingPathComponent("resumed")
        try TrainingRun.create(configuration: try tinyConfiguration(maximumIterations: 10), folder: straight, locations: locations).run()
        // Stop at 5 (checkpoints at 3 and 5), then resume to 10.
        try TrainingRun.create(configuration: try tinyConfiguration(maximumIterations: 5), folder: resumed, locations: locations).run()
        let run = try TrainingRun.resume(folder: resumed, locations: locations, maximumIterations: 10)
        XCTAssertEqual(run.state.iteration, 5)
        try run.run()
        let a = try RunFolder(straight).readMetrics(), b = try RunFolder(resumed).readMetrics()
        XCTAssertEqual(a.count, 10); XCTAssertEqual(b.count, 10)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.trainLoss.bitPattern, y.trainLoss.bitPattern, "iteration \(x.iteration)")
            XCTAssertEqual(x.trainError.bitPattern, y.trainError.bitPattern)
            XCTAssertEqual(x.lambda.bitPattern, y.lambda.bitPattern)
            XCTAssertEqual(x.cgIterations, y.cgIterations)
        }
        let pa = try SafeTensors.read(from: straight.appendingPathComponent("checkpoint/parameters.safetensors"))
        let pb = try SafeTensors.read(from: resumed.appendingPathComponent("checkpoint/parameters.safetensors"))
        XCTAssertEqual(pa.tensors, pb.tensors)
    }

    func testResumeDropsMetricsWrittenAfterTheCheckpoint() throws {
        let folder = directory.appendingPathComponent("crash")
        try TrainingRun.create(configuration: try tinyConfiguration(maximumIterations: 5), folder: folder, locations: locations).run()
        // Simulate a crash after iteration 3's checkpoint: put the checkpoint of iteration 3 back.
        var c = try tinyConfiguration(maximumIterations: 3)
        c.checkpointInterval = 1
        let other = directory.appendingPathComponent("three")
        try TrainingRun.create(configuration: c, folder: other, locations: locations).run()
        try FileManager.default.removeItem(at: folder.appendingPathComponent("checkpoint"))
        try FileManager.default.copyItem(at: other.appendingPathComponent("checkpoint"), to: folder.appendingPathComponent("checkpoint"))
        let run = try TrainingRun.resume(folder: folder, locations: locations)
        XCTAssertEqual(run.state.iteration, 3)
        XCTAssertEqual(try RunFolder(folder).readMetrics().map(\.iteration), [1, 2, 3])
    }

    func testUnreadableRunFoldersGiveClearErrors() throws {
        XCTAssertThrowsError(try TrainingRun.resume(folder: directory.appendingPathComponent("none"), locations: locations)) { e in
            XCTAssertTrue("\(e)".contains("not a run folder"), "\(e)")
        }
        let folder = directory.appendingPathComponent("broken")
        try TrainingRun.create(configuration: try tinyConfiguration(maximumIterations: 3), folder: folder, locations: locations).run()
        try Data("{ not json".utf8).write(to: folder.appendingPathComponent("checkpoint/optimizer_state.json"))
        XCTAssertThrowsError(try TrainingRun.resume(folder: folder, locations: locations)) { e in
            XCTAssertTrue("\(e)".contains("checkpoint"), "\(e)")
        }
        XCTAssertThrowsError(try SavedModel.read(from: directory))
    }

    func testDataThatDoesNotFitTheNetworkIsRejected() throws {
        var c = try tinyConfiguration(maximumIterations: 1)
        c.architecture = try Preset.autoencoder(encoder: [20, 4], hidden: .logistic, code: .linear, output: .logistic)
        XCTAssertThrowsError(try TrainingRun.create(configuration: c, folder: directory.appendingPathComponent("x"), locations: locations)) { e in
            XCTAssertTrue("\(e)".contains("20 units"), "\(e)")
        }
        c = try tinyConfiguration(maximumIterations: 1)
        c.weightCost = -1
        XCTAssertThrowsError(try c.validate())
    }

    func testSavedModelEvaluatesAndReportIsWritten() throws {
        let folder = directory.appendingPathComponent("eval")
        try TrainingRun.create(configuration: try tinyConfiguration(maximumIterations: 4), folder: folder, locations: locations).run()
        let model = try SavedModel.read(from: folder.appendingPathComponent("checkpoint"))
        XCTAssertEqual(model.iteration, 4)
        let test = try NPY.read(directory.appendingPathComponent("test.npy"))
        let m = try model.metrics(inputs: test, targets: nil)
        let last = try RunFolder(folder).readMetrics().last!
        XCTAssertEqual(m.reconstructionError, last.testError!, accuracy: 1e-9)
        let report = directory.appendingPathComponent("report")
        let files = try RunReport.write(runs: [folder], to: report)
        XCTAssertTrue(files.contains { $0.lastPathComponent == "index.html" })
        XCTAssertTrue(FileManager.default.fileExists(atPath: report.appendingPathComponent("reconstructions.png").path))
        let table = try String(contentsOf: report.appendingPathComponent("table.md"), encoding: .utf8)
        XCTAssertTrue(table.contains("FILES"), table)
    }
}
