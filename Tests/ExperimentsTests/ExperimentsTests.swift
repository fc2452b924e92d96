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

    /// An iteration's flops from its passes, by hand for 3-4-2 (forward 40c flops, gradient
    /// 96c, with the squared-gradient diagonal 136c, Gauss-Newton product 112c): one gradient
    /// pass on 10 cases, two products on a batch of 5, three value passes (one on the batch
    /// for rho, two on the full data), and the linearizing forward pass on the batch.
    func testHessianFreeIterationFlopsCountEveryPass() throws {
        let a = try NetworkArchitecture(layerSizes: [3, 4, 2], activations: [.logistic, .linear])
        func flops(_ squares: Bool) -> Double {
            hessianFreeIterationFlops(a, caseCount: 10, batchSize: 5, gradientEvaluations: 1, curvatureProducts: 2,
                                      valueEvaluations: 3, squaredGradient: squares)
        }
        let products: Double = 2 * 112 * 5
        let values: Double = 2 * 40 * 10 + 2 * 40 * 5
        XCTAssertEqual(flops(false), 96 * 10 + products + values)
        XCTAssertEqual(flops(true), 136 * 10 + products + values)
    }

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

    /// Settings added later take their defaults when an older config.json lacks them.
    func testOlderConfigurationsStillDecode() throws {
        let c = Preset.curves.configuration()
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as! [String: Any]
        object.removeValue(forKey: "baselines")
        let decoded = try JSONDecoder().decode(ExperimentConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(decoded, c)
        object.removeValue(forKey: "architecture")
        XCTAssertThrowsError(try JSONDecoder().decode(ExperimentConfiguration.self, from: JSONSerialization.data(withJSONObject: object)))
    }

    /// New CURVES runs record the latest recipe; a run folder from before recipe versions
    /// existed was made with version 1 and must keep loading version-1 data on resume.
    func testCurvesRunsRecordTheirRecipeVersion() throws {
        let c = Preset.curves.configuration()
        XCTAssertEqual(c.data.curvesRecipe, Curves.Recipe.latest.version)
        XCTAssertEqual(Curves.Recipe.latest.version, 2)
        XCTAssertNil(Preset.mnist.configuration().data.curvesRecipe, "only CURVES has a recipe")
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as! [String: Any]
        var data = object["data"] as! [String: Any]
        data.removeValue(forKey: "curvesRecipe")
        object["data"] = data
        let old = try JSONDecoder().decode(ExperimentConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(old.data.curvesRecipe)
        XCTAssertEqual(old.data.curvesRecipeVersion, 1)
        XCTAssertEqual(c.data.curvesRecipeVersion, 2)
        // Tables say when a CURVES result is on the older data.
        XCTAssertEqual(old.data.displayName, "CURVES (recipe 1)")
        XCTAssertEqual(c.data.displayName, "CURVES")
    }

    /// The recorded version decides which images a run loads (and caches).
    func testCurvesRunsLoadTheirRecipesData() throws {
        var spec = DataSpecification(dataset: "curves")
        let v2 = try spec.load(locations: locations)
        spec.curvesRecipe = nil  // a run folder from before recipe versions
        let v1 = try spec.load(locations: locations)
        XCTAssertEqual(v1.train.storage.max(), 1, "version 1's round pen")
        XCTAssertEqual(Double(v2.train.storage.max()!), 0.64, accuracy: 1e-6, "version 2's Gaussian pen")
        let cached = try FileManager.default.contentsOfDirectory(atPath: locations.cacheDirectory.path).sorted()
        XCTAssertEqual(cached, ["curves-v1-seed2006.hfdata", "curves-v2-seed2006.hfdata"])
    }

    func testTrainingReducesErrorAndWritesTheRunFolder() throws {
        let folder = directory.appendingPathComponent("run")
        let run = try TrainingRun.create(configuration: try tinyConfiguration(maximumIterations: 12), folder: folder, locations: locations)
        let outcome = try run.run()
        XCTAssertEqual(outcome.iterations, 12)
        XCTAssertEqual(outcome.stopReason, .maximumIterations)
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
        XCTAssertEqual(run.iteration, 5)
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
        XCTAssertEqual(run.iteration, 3)
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

    /// Relative paths are resolved against the directory a run starts in, with the text as
    /// typed, size and sha256 recorded; a new location is taken only for the same file.
    func testDataPathsResolveAndMoveOnlyToTheSameFile() throws {
        _ = try writeBinaryData(rows: 50, seed: 1, name: "train.npy")
        _ = try writeBinaryData(rows: 20, seed: 2, name: "test.npy")
        let spec = DataSpecification(dataset: "files", trainInputs: "train.npy", testInputs: "./test.npy")
        let resolved = try spec.resolved(against: directory)
        XCTAssertEqual(resolved.trainInputs, directory.appendingPathComponent("train.npy").standardizedFileURL.path)
        XCTAssertEqual(resolved.testInputs, directory.appendingPathComponent("test.npy").standardizedFileURL.path)
        XCTAssertEqual(resolved.files?["trainInputs"]?.asGiven, "train.npy")
        XCTAssertEqual(resolved.files?["trainInputs"]?.bytes, try Data(contentsOf: directory.appendingPathComponent("train.npy")).count)
        XCTAssertEqual(resolved.displayName, "train.npy")
        XCTAssertEqual(DataSpecification(dataset: "mnist").displayName, "MNIST")

        let elsewhere = directory.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: directory.appendingPathComponent("train.npy"), to: elsewhere.appendingPathComponent("copy.npy"))
        let moved = try resolved.relocated(["trainInputs": "copy.npy"], relativeTo: elsewhere)
        XCTAssertEqual(moved.trainInputs, elsewhere.appendingPathComponent("copy.npy").standardizedFileURL.path)
        XCTAssertEqual(moved.testInputs, resolved.testInputs)
        XCTAssertThrowsError(try resolved.relocated(["trainInputs": "test.npy"], relativeTo: directory)) { error in
            XCTAssertTrue("\(error)".contains("--data test.npy is not the file this run was started with"), "\(error)")
        }
        XCTAssertThrowsError(try resolved.relocated(["trainTargets": "train.npy"], relativeTo: directory)) { error in
            XCTAssertTrue("\(error)".contains("started without --targets"), "\(error)")
        }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("test.npy"))
        XCTAssertThrowsError(try resolved.checkFilesExist { "give \($0)" }) { error in
            XCTAssertTrue("\(error)".contains("test.npy: no such file (the run's --test-data file); give --test-data"), "\(error)")
        }
    }

    /// Batches larger than the training set are cut to it, with a note naming the flag;
    /// lambda 0 is refused unless damping is off.
    func testBatchesAreCappedAndLambdaMustBePositive() throws {
        var c = try tinyConfiguration(maximumIterations: 1)
        c.hessianFree.curvatureBatches = .fixed(size: 1000)
        let (capped, notes) = c.cappingBatchSizes(toCases: 400)
        XCTAssertEqual(capped.hessianFree.curvatureBatches, .fixed(size: 400))
        XCTAssertEqual(notes, ["--batch-size 1000 is larger than the 400 training cases; using 400"])
        XCTAssertEqual(c.cappingBatchSizes(toCases: 5000).1, [])
        c.hessianFree.initialLambda = 0
        XCTAssertThrowsError(try c.validate())
        c.hessianFree.adaptiveDamping = false
        XCTAssertNoThrow(try c.validate())
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
        XCTAssertTrue(files.contains { $0.lastPathComponent == "reconstructions.png" }, "\(files)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: report.appendingPathComponent("reconstructions.png").path))
        // The user's data set is named from its training file.
        let table = try String(contentsOf: report.appendingPathComponent("table.md"), encoding: .utf8)
        XCTAssertTrue(table.contains("| eval | train.npy |"), table)
    }
}

final class BaselineTrainingTests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-baselines-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func configuration(_ optimizer: OptimizerKind, iterations: Int) throws -> ExperimentConfiguration {
        var g = SeededGenerator(seed: 5)
        let prototypes: [[Float]] = [(0..<16).map { Float($0 % 2) }, (0..<16).map { Float(($0 / 4) % 2) }]
        var values: [Float] = []
        for _ in 0..<300 { values += prototypes[g.integer(below: 2)].map { g.uniform() < 0.1 ? 1 - $0 : $0 } }
        let train = directory.appendingPathComponent("train.npy")
        try NPY.write(Matrix(rows: 300, columns: 16, elements: values), to: train)
        var c = ExperimentConfiguration(preset: "custom", data: DataSpecification(dataset: "files", trainInputs: train.path),
                                        architecture: try Preset.autoencoder(encoder: [16, 8, 2], hidden: .logistic, code: .linear, output: .logistic),
                                        weightCost: 1e-5, maximumIterations: iterations, evaluationInterval: 5, checkpointInterval: 7)
        c.optimizer = optimizer
        c.baselines.sgd.batchSize = 50; c.baselines.sgd.learningRate = 0.1
        c.baselines.adam.batchSize = 50; c.baselines.adam.learningRate = 0.01
        c.baselines.ncg.casesPerBatch = 100
        return c
    }
    var locations: DataLocations { DataLocations(dataDirectory: directory, cacheDirectory: directory) }

    /// With a log interval, metrics.jsonl keeps every interval-th record and every evaluated
    /// one; a run resumed between them writes the same records, and an HF run, whose every
    /// iteration measures the objective, keeps them all.
    func testLogIntervalKeepsEveryNthAndEveryEvaluatedRecord() throws {
        func logged(_ kind: OptimizerKind, iterations: Int, resumeAt: Int?) throws -> [MetricsRecord] {
            var c = try configuration(kind, iterations: resumeAt ?? iterations)
            c.logInterval = 5; c.evaluationInterval = 7; c.checkpointInterval = 1
            let folder = directory.appendingPathComponent("\(kind)-log-\(resumeAt ?? 0)")
            try TrainingRun.create(configuration: c, folder: folder, locations: locations).run()
            if resumeAt != nil { try TrainingRun.resume(folder: folder, locations: locations, maximumIterations: iterations).run() }
            return try RunFolder(folder).readMetrics()
        }
        let straight = try logged(.adam, iterations: 22, resumeAt: nil)
        XCTAssertEqual(straight.map(\.iteration), [5, 7, 10, 14, 15, 20, 21])
        let resumed = try logged(.adam, iterations: 22, resumeAt: 8)
        XCTAssertEqual(resumed.map(\.iteration), straight.map(\.iteration))
        XCTAssertEqual(resumed.map(\.trainError.bitPattern), straight.map(\.trainError.bitPattern))
        XCTAssertEqual(resumed.map(\.gradientNorm), straight.map(\.gradientNorm))
        XCTAssertEqual(try logged(.hf, iterations: 6, resumeAt: nil).map(\.iteration), Array(1...6))
        var bad = try configuration(.adam, iterations: 1)
        bad.logInterval = 0
        XCTAssertThrowsError(try bad.validate())
    }

    /// Every baseline trains the small auto-encoder through the same loop and records, and a
    /// resumed baseline run follows the uninterrupted one exactly.
    func testBaselinesTrainAndResumeBitIdentically() throws {
        for kind in [OptimizerKind.ncg, .sgd, .adam, .lbfgs] {
            let straight = directory.appendingPathComponent("\(kind)-a"), resumed = directory.appendingPathComponent("\(kind)-b")
            try TrainingRun.create(configuration: try configuration(kind, iterations: 20), folder: straight, locations: locations).run()
            try TrainingRun.create(configuration: try configuration(kind, iterations: 9), folder: resumed, locations: locations).run()
            try TrainingRun.resume(folder: resumed, locations: locations, maximumIterations: 20).run()
            let a = try RunFolder(straight).readMetrics(), b = try RunFolder(resumed).readMetrics()
            XCTAssertEqual(a.count, 20, "\(kind)")
            XCTAssertEqual(a.map(\.trainError.bitPattern), b.map(\.trainError.bitPattern), "\(kind) resumes bit-identically")
            XCTAssertEqual(a.map(\.gradientEvaluations), b.map(\.gradientEvaluations), "\(kind) counts carry over")
            // Counts are cumulative: one or more evaluations per step, never more than the line
            // search's budget per step.
            XCTAssertGreaterThanOrEqual(a.last!.gradientEvaluations, 20, "\(kind)")
            XCTAssertLessThanOrEqual(a.last!.gradientEvaluations, 20 * 25, "\(kind)")
            XCTAssertTrue(a.allSatisfy { $0.gflops.isFinite && $0.gflops < 1000 }, "\(kind): flops counted per step")
            XCTAssertEqual(a.last?.optimizer, kind.rawValue)
            let evaluated = a.filter { $0.trainError.isFinite }
            XCTAssertEqual(evaluated.map(\.iteration), [5, 10, 15, 20], "\(kind): errors every evaluation interval")
            XCTAssertLessThan(evaluated.last!.trainError, evaluated.first!.trainError * 1.0001, "\(kind) does not get worse")
            // train_loss is the full objective (mean loss + weight cost) at the logged parameters.
            let model = try SavedModel.read(from: straight)
            let c = try configuration(kind, iterations: 20)
            let data = try NPY.read(URL(fileURLWithPath: c.data.trainInputs!))
            let objective = try NeuralNetworkObjective(architecture: c.architecture, inputs: data, targets: data, weightCost: c.weightCost)
            XCTAssertEqual(evaluated.last!.trainLoss, objective.value(at: model.network.parameters, cases: .all),
                           accuracy: 1e-6 * abs(evaluated.last!.trainLoss), "\(kind)")
        }
    }

    /// A baseline's checkpoint keeps its vectors as tensors: the JSON part holds none of them
    /// (each is emptied there, the parameters too), `parameters.safetensors` holds each one.
    /// A checkpoint written before the vectors moved (every vector in the JSON, no state
    /// tensors) still resumes to the same run, bit for bit.
    func testBaselineCheckpointsKeepVectorsAsTensorsAndOldOnesStillResume() throws {
        for kind in [OptimizerKind.ncg, .sgd, .adam, .lbfgs] {
            let straight = directory.appendingPathComponent("\(kind)-s"), folder = directory.appendingPathComponent("\(kind)-old")
            try TrainingRun.create(configuration: try configuration(kind, iterations: 14), folder: straight, locations: locations).run()
            let c = try configuration(kind, iterations: 9)
            try TrainingRun.create(configuration: c, folder: folder, locations: locations).run()
            let url = RunFolder(folder).checkpoint
            var checkpoint = try Checkpoint<SavedOptimizerState>.read(from: url)
            let tensors = checkpoint.parameters
            let theta = try TrainingRun.parametersVector(from: tensors, layout: c.architecture.layout, file: url.path)
            func tensor(_ name: String) -> Vector<Float>? { tensors[name].map { Vector($0.floats()) } }
            func full<S: CheckpointVectors>(_ state: S?) throws -> (state: S, names: [String]) {
                var s = try XCTUnwrap(state, "\(kind): no saved state")
                XCTAssertEqual(s.checkpointVectors.map(\.vector.count).max() ?? 0, 0, "\(kind): a vector left in the JSON")
                try s.restoreVectors(parameters: theta, tensor: tensor)
                let names = s.checkpointVectors.map(\.name)
                XCTAssertFalse(names.isEmpty, "\(kind)")
                for (name, v) in s.checkpointVectors { XCTAssertEqual(v.count, theta.count, "\(kind): \(name)") }
                return (s, names)
            }
            var names: [String] = []
            switch kind {
            case .ncg:
                XCTAssertEqual(checkpoint.optimizerState.ncg?.parameters.count, 0)
                (checkpoint.optimizerState.ncg, names) = try full(checkpoint.optimizerState.ncg)
            case .sgd: (checkpoint.optimizerState.sgd, names) = try full(checkpoint.optimizerState.sgd)
            case .adam: (checkpoint.optimizerState.adam, names) = try full(checkpoint.optimizerState.adam)
            case .lbfgs:
                XCTAssertGreaterThan(checkpoint.optimizerState.lbfgs?.steps.count ?? 0, 0, "L-BFGS has stored pairs by step 9")
                (checkpoint.optimizerState.lbfgs, names) = try full(checkpoint.optimizerState.lbfgs)
            case .hf: XCTFail("not a baseline")
            }
            // A new-format checkpoint whose state tensors are gone is refused, naming the tensor.
            var damaged = try Checkpoint<SavedOptimizerState>.read(from: url)
            damaged.parameters = SafeTensorsFile(tensors: tensors.tensors.filter { !names.contains($0.name) }, metadata: tensors.metadata)
            try damaged.write(to: url)
            XCTAssertThrowsError(try TrainingRun.resume(folder: folder, locations: locations, maximumIterations: 14)) { error in
                XCTAssertTrue("\(error)".contains("lacks the tensor \(names[0])"), "\(kind): \(error)")
            }
            // The old format: the vectors in the JSON, no state tensors.
            checkpoint.parameters = SafeTensorsFile(tensors: tensors.tensors.filter { !names.contains($0.name) }, metadata: tensors.metadata)
            try checkpoint.write(to: url)
            try TrainingRun.resume(folder: folder, locations: locations, maximumIterations: 14).run()
            let a = try RunFolder(straight).readMetrics(), b = try RunFolder(folder).readMetrics()
            XCTAssertEqual(a.count, 14, "\(kind)")
            XCTAssertEqual(a.map(\.trainError.bitPattern), b.map(\.trainError.bitPattern), "\(kind): an old checkpoint resumes bit-identically")
            // And the checkpoint it wrote at its end is in the new format again.
            let rewritten = try Checkpoint<SavedOptimizerState>.read(from: url)
            for name in names { XCTAssertNotNil(rewritten.parameters[name], "\(kind): \(name)") }
        }
    }

    /// The mini-batch gradient equals the full-data gradient of an objective made of those cases.
    func testMinibatchGradientEqualsGradientOfTheSubset() throws {
        var g = SeededGenerator(seed: 3)
        let x = Matrix<Float>(rows: 40, columns: 6, elements: (0..<240).map { _ in Float(g.uniform()) })
        let arch = try NetworkArchitecture(layerSizes: [6, 4, 6], activations: [.tanh, .logistic])
        let objective = try NeuralNetworkObjective(architecture: arch, inputs: x, targets: x, weightCost: 1e-3, chunkSize: 7)
        let rows = [3, 17, 5, 39, 0, 22, 8, 11, 30]
        var sub: [Float] = []
        for r in rows { sub += x.storage[(r * 6)..<(r * 6 + 6)] }
        let subset = try NeuralNetworkObjective(architecture: arch, inputs: Matrix(rows: rows.count, columns: 6, elements: sub),
                                                targets: Matrix(rows: rows.count, columns: 6, elements: sub), weightCost: 1e-3)
        let theta = NeuralNetwork<Float>(architecture: arch, initialization: .martens, seed: 2).parameters
        let (value, gradient) = try objective.valueAndGradient(at: theta, cases: .indices(rows))
        let reference = try subset.evaluate(at: theta, squaredGradientDiagonal: false)
        // Float sums in a different chunking: agree to ~1e-6 relative.
        XCTAssertEqual(value, reference.value, accuracy: 1e-6 * abs(reference.value))
        for i in 0..<gradient.count { XCTAssertEqual(gradient[i], reference.gradient[i], accuracy: 1e-5) }
        XCTAssertThrowsError(try objective.valueAndGradient(at: theta, cases: .indices([40])))
    }

    /// RBM pre-training unrolls into the auto-encoder: a pre-trained start reconstructs better
    /// than the sparse random one, and its weights are saved for reuse with --init-from.
    func testPretrainingGivesABetterStartAndIsSaved() throws {
        var c = try configuration(.hf, iterations: 0)
        c.pretraining = PretrainingSpecification(rbm: RBMTrainingConfiguration(epochs: 10), seed: 4)
        let folder = directory.appendingPathComponent("pt")
        let run = try TrainingRun.create(configuration: c, folder: folder, locations: locations)
        let saved = folder.appendingPathComponent(TrainingRun.pretrainedFileName)
        XCTAssertTrue(FileManager.default.fileExists(atPath: saved.path))
        let data = run.dataset.train
        let pretrained = try run.network.metrics(inputs: data, targets: data).reconstructionError
        let random = try NeuralNetwork<Float>(architecture: c.architecture, initialization: .martens, seed: 1).metrics(inputs: data, targets: data).reconstructionError
        XCTAssertLessThan(pretrained, random)
        var d = try configuration(.hf, iterations: 0)
        d.initialParameters = saved.path
        let again = try TrainingRun.create(configuration: d, folder: directory.appendingPathComponent("from"), locations: locations)
        XCTAssertEqual(again.parameters, run.parameters)
        // The pre-training time stays on the clock of a run that reuses the weights.
        var e = try configuration(.hf, iterations: 1)
        e.initialParameters = saved.path
        let reused = try TrainingRun.create(configuration: e, folder: directory.appendingPathComponent("reuse"), locations: locations)
        let first = try XCTUnwrap(try reused.run().lastRecord)
        let pretrainingSeconds = try XCTUnwrap(Double(try SafeTensors.read(from: saved).metadata["pretraining_seconds"] ?? ""))
        XCTAssertGreaterThan(pretrainingSeconds, 0)
        XCTAssertGreaterThanOrEqual(first.seconds, pretrainingSeconds)
        // config.json records that time, so the report still says "PT (reused)" once the
        // weights file is gone (a run folder copied to another machine).
        let reuseFolder = RunFolder(directory.appendingPathComponent("reuse"))
        XCTAssertEqual(try reuseFolder.readConfiguration(ExperimentConfiguration.self).initialParametersPretrainingSeconds, pretrainingSeconds)
        func initColumn(_ run: URL) throws -> String {
            let out = directory.appendingPathComponent("report-\(UUID().uuidString)")
            _ = try RunReport.write(runs: [run], to: out)
            let table = try String(contentsOf: out.appendingPathComponent(RunTable.fileName), encoding: .utf8)
            return try XCTUnwrap(table.split(separator: "\n").dropFirst(2).first?.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.dropFirst(2).first)
        }
        XCTAssertEqual(try initColumn(reuseFolder.url), "PT (reused)")
        // A run from before that record gets it on resume, while the file is where it was.
        var old = try reuseFolder.readConfiguration(ExperimentConfiguration.self)
        old.initialParametersPretrainingSeconds = nil
        try reuseFolder.writeConfiguration(old)
        _ = try TrainingRun.resume(folder: reuseFolder.url, locations: locations)
        XCTAssertEqual(try reuseFolder.readConfiguration(ExperimentConfiguration.self).initialParametersPretrainingSeconds, pretrainingSeconds)
        try FileManager.default.removeItem(at: saved)
        XCTAssertEqual(try initColumn(reuseFolder.url), "PT (reused)")
        old.initialParametersPretrainingSeconds = nil; old.initialParametersPretrainingCPUSeconds = nil
        try reuseFolder.writeConfiguration(old)
        XCTAssertEqual(try initColumn(reuseFolder.url), "PT (reused)", "summary.json records it too")
        try FileManager.default.removeItem(at: reuseFolder.url.appendingPathComponent(TrainingSummary.fileName))
        XCTAssertEqual(try initColumn(reuseFolder.url), "from file")
    }

    /// summary.json keeps the pre-training CPU time of a `--init pretrained` run, so the
    /// report still gives its share of the run's CPU seconds once `pretrained.safetensors`
    /// has left the folder, and a resume after that keeps it.
    func testSummaryKeepsThePretrainingShareAfterTheWeightsLeave() throws {
        var c = try configuration(.hf, iterations: 1)
        c.pretraining = PretrainingSpecification(rbm: RBMTrainingConfiguration(epochs: 2), seed: 4)
        c.data.testInputs = c.data.trainInputs
        c.evaluationInterval = 1
        let folder = directory.appendingPathComponent("pt-share")
        try TrainingRun.create(configuration: c, folder: folder, locations: locations).run()
        let weights = folder.appendingPathComponent(TrainingRun.pretrainedFileName)
        // Stand-in times far from the real ones, so the share read back is the recorded one.
        let file = try SafeTensors.read(from: weights)
        try SafeTensors.write(file.tensors, metadata: ["pretraining_seconds": "4000", "pretraining_cpu_seconds": "2500"], to: weights)
        try TrainingRun.resume(folder: folder, locations: locations, maximumIterations: 2).run()
        XCTAssertEqual(try TrainingSummary.read(from: folder).pretrainingCPUSeconds, 2500)
        func table() throws -> String {
            let out = directory.appendingPathComponent("report-\(UUID().uuidString)")
            _ = try RunReport.write(runs: [folder], to: out)
            return try String(contentsOf: out.appendingPathComponent(PaperComparison.fileName), encoding: .utf8)
        }
        try FileManager.default.removeItem(at: weights)
        XCTAssertTrue(try table().contains(" pre-training)"), "share from summary.json")
        XCTAssertTrue(try table().contains("(2500 pre-training)"))
        try TrainingRun.resume(folder: folder, locations: locations, maximumIterations: 3).run()
        XCTAssertEqual(try TrainingSummary.read(from: folder).pretrainingCPUSeconds, 2500, "kept over a resume without the file")
        XCTAssertTrue(try table().contains("(2500 pre-training)"))
    }

    /// --cpu-budget stops a run once its CPU seconds, pre-training included, reach the
    /// budget, and a resume with a larger budget goes on.
    func testCPUBudgetCountsTheWholeRunWithPretraining() throws {
        let c0 = try configuration(.adam, iterations: 0)
        let theta = NeuralNetwork<Float>(architecture: c0.architecture, initialization: .martens, seed: 3).parameters
        let weights = directory.appendingPathComponent("budget-weights.safetensors")
        try SafeTensors.write(TrainingRun.parameterTensors(theta, layout: c0.architecture.layout),
                              metadata: ["pretraining_seconds": "3100", "pretraining_cpu_seconds": "3000"], to: weights)
        var c = try configuration(.adam, iterations: 6)
        c.initialParameters = weights.path
        c.cpuBudgetSeconds = 2000
        let folder = directory.appendingPathComponent("budget")
        let first = try TrainingRun.create(configuration: c, folder: folder, locations: locations).run()
        XCTAssertEqual(first.stopReason, .timeLimit, "the pre-training alone spent the budget")
        XCTAssertEqual(first.iterations, 0)
        let more = try TrainingRun.resume(folder: folder, locations: locations,
                                          changes: .init(cpuBudgetSeconds: 3000 + 1e6)).run()
        XCTAssertEqual(more.stopReason, .maximumIterations)
        XCTAssertEqual(more.iterations, 6)
        XCTAssertEqual(try RunFolder(folder).readConfiguration(ExperimentConfiguration.self).cpuBudgetSeconds, 3000 + 1e6)
        var bad = c
        bad.cpuBudgetSeconds = 0
        XCTAssertThrowsError(try bad.validate())
    }

    /// A run from pre-trained weights starts its wall clock at their recorded wall-clock
    /// pre-training time and its CPU clock at their recorded CPU time (both counted, as
    /// Figure 2 counts pre-training), and the report gives that CPU time as the pre-training
    /// share of the run's CPU seconds.
    func testReusedWeightsKeepTheirPretrainingWallAndCPUTimes() throws {
        let theta = NeuralNetwork<Float>(architecture: try configuration(.hf, iterations: 0).architecture, initialization: .martens, seed: 3).parameters
        let layout = try configuration(.hf, iterations: 0).architecture.layout
        let weights = directory.appendingPathComponent("weights.safetensors")
        // Wall and CPU times far apart, and both far above what one tiny iteration costs.
        try SafeTensors.write(TrainingRun.parameterTensors(theta, layout: layout),
                              metadata: ["pretraining_seconds": "5000", "pretraining_cpu_seconds": "3000"], to: weights)
        var c = try configuration(.hf, iterations: 1)
        c.initialParameters = weights.path
        c.data.testInputs = c.data.trainInputs   // a test error, so the report has a best iteration
        c.evaluationInterval = 1
        let folder = directory.appendingPathComponent("timed")
        let run = try TrainingRun.create(configuration: c, folder: folder, locations: locations)
        let first = try XCTUnwrap(try run.run().lastRecord)
        XCTAssertEqual(first.seconds, 5000, accuracy: 100)
        XCTAssertEqual(try XCTUnwrap(first.cpuSeconds), 3000, accuracy: 100)
        let saved = try RunFolder(folder).readConfiguration(ExperimentConfiguration.self)
        XCTAssertEqual(saved.initialParametersPretrainingSeconds, 5000)
        XCTAssertEqual(saved.initialParametersPretrainingCPUSeconds, 3000)
        let out = directory.appendingPathComponent("timed-report")
        _ = try RunReport.write(runs: [folder], to: out)
        let table = try String(contentsOf: out.appendingPathComponent(PaperComparison.fileName), encoding: .utf8)
        XCTAssertTrue(table.contains("(3000 pre-training)"), table)
    }
}
